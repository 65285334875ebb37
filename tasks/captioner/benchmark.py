"""What the ONNX twin buys `dlkit caption`: captions per second of the shipped captioner
for Flickr8k photos read from their files (decoding, the CNN, beam search: what
`dlkit caption` does) on its ONNX twin (what the command runs, without TensorFlow)
against the same predictor on Keras, in one process, for greedy decoding and beam 3.
Rounds alternate and the best of each is kept (shared, noisy machine), so the ratios are
the figures to read.

    python tasks/captioner/benchmark.py [--photos 50] [--rounds 3]
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
    parser.add_argument("--images", default=os.path.join(SHARED, "data", "flickr8k", "Images"))
    parser.add_argument("--model", default=None, help="captioner folder [default: the shipped one]")
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from dlkit.tasks.captioner.predict import load

    photos = [os.path.join(args.images, name) for name in sorted(os.listdir(args.images))[: args.photos]]
    print(f"{len(photos)} Flickr8k photos, batches of 32")
    onnx, keras = load(args.model), load(args.model, runtime="keras")
    for beam in (1, 3):
        onnx.beam_size = keras.beam_size = beam
        on_keras, on_onnx = compare(lambda: list(keras.predict(photos)), lambda: list(onnx.predict(photos)),
                                    args.rounds)
        print(f"beam {beam}: Keras {len(photos) / on_keras:.1f} captions/s, "
              f"ONNX twin {len(photos) / on_onnx:.1f} captions/s, ratio {on_keras / on_onnx:.2f}x")


if __name__ == "__main__":
    main()
