"""What the ONNX twin buys `dlkit translate`: sentences per second of the shipped
translator decoding held-out test sentences in batches (as `dlkit translate -` does) on
its ONNX twin (what the command runs, without TensorFlow) against the same predictor on
Keras, in one process, for greedy decoding and beam 4. With --against FOLDER (or
"shipped"), two translators' twins instead: a new model against the shipped one. Rounds
alternate and the best of each is kept (shared, noisy machine), so the ratios are the
figures to read.

    python tasks/translator/benchmark.py [--sentences 256] [--rounds 3]
    python tasks/translator/benchmark.py --model runs/transformer/en-fr-int8 --against shipped
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
SHARED = os.environ.get("DLKIT_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))

from throughput import compare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(SHARED, "data", "anki", "fra.txt"))
    parser.add_argument("--model", default=None, help="translator folder [default: the shipped one]")
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", default=None, help='another translator folder, or "shipped"')
    args = parser.parse_args()

    from dlkit.tasks.translator import Config, read_pairs, references, split_pairs
    from dlkit.tasks.translator.predict import load

    onnx = load(args.model)
    if args.against:
        baseline = load(None if args.against == "shipped" else args.against)
    else:
        baseline = load(args.model, runtime="keras")
    config = Config()
    test = split_pairs(read_pairs(args.data), config.val_fraction, config.test_fraction)[2]
    sentences = references(test)[0][: args.sentences]

    print(f"{len(sentences)} held-out sentences, batches of {onnx.batch_size}")
    for beam in (1, 4):
        on_baseline, on_onnx = compare(lambda: baseline.translate(sentences, beam),
                                       lambda: onnx.translate(sentences, beam), args.rounds)
        name = f"{args.against} twin" if args.against else "Keras"
        print(f"beam {beam}: {name} {len(sentences) / on_baseline:.1f} sentences/s, "
              f"ONNX twin {len(sentences) / on_onnx:.1f} sentences/s, ratio {on_baseline / on_onnx:.2f}x")


if __name__ == "__main__":
    main()
