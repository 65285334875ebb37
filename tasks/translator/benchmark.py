"""How much batching buys `dlkit translate`: sentences per second of the shipped
translator decoding held-out test sentences in batches (as `dlkit translate -` does)
against one sentence at a time (as a loop over a single-sentence API would), for greedy
decoding and beam 4. Rounds alternate and the best of each is kept (shared, noisy
machine), so the ratios are the figures to read.

    python tasks/translator/benchmark.py [--sentences 256] [--rounds 2]
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
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from dlkit.core import runtime
    from dlkit.tasks.translator import Config, load, read_pairs, references, split_pairs

    runtime.setup("auto")
    translator = load(args.model)
    config = Config()
    test = split_pairs(read_pairs(args.data), config.val_fraction, config.test_fraction)[2]
    sentences = references(test)[0][: args.sentences]

    print(f"{len(sentences)} held-out sentences, batches of {translator.config.batch_size}")
    for beam in (1, 4):
        single, batched = compare(lambda: [translator.translate([s], beam) for s in sentences],
                                  lambda: translator.translate(sentences, beam), args.rounds)
        print(f"beam {beam}: one at a time {len(sentences) / single:.1f} sentences/s, "
              f"batched {len(sentences) / batched:.1f} sentences/s, ratio {single / batched:.1f}x")


if __name__ == "__main__":
    main()
