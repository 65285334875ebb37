"""Throughput of `dlkit classify` against bare `model.predict`, measured in one run.

    python tasks/classifier/benchmark.py [IMAGE_DIR] [--images 320] [--rounds 3]

The baseline decodes every image into memory first and times only the Keras model's
`model.predict(preprocessed array)`; dlkit is timed from file paths to label records,
with the same network run from its ONNX twin, as `dlkit classify` runs it. Rounds alternate
between the two and the best of each is kept, because this machine is shared and noisy.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DLKIT_SHARED", os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, os.path.join(ROOT, "tasks"))

import throughput  # noqa: E402  (tasks/throughput.py, shared by the benchmarks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=os.path.join(SHARED, "data", "cats_and_dogs", "train"))
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import numpy as np

    from dlkit.core import runtime
    from dlkit.core.inputs import expand_paths
    from dlkit.tasks import classifier
    from dlkit.vision import backbones
    from dlkit.vision.images import load_image

    runtime.setup("auto")
    paths = expand_paths([args.folder])[: args.images]
    if len(paths) < args.images:
        sys.exit(f"{args.folder}: only {len(paths)} images, wanted {args.images}")
    config = classifier.ClassifyConfig(batch_size=args.batch_size)
    predictor = classifier.load(None, config)
    model, size = backbones.build(config.backbone), predictor.input_size
    backbone = backbones.get(config.backbone)
    decoded = backbone.preprocess(np.stack([load_image(p, size) for p in paths]).astype("float32"))

    def bare() -> None:
        model.predict(decoded, batch_size=args.batch_size, verbose=0)

    def dlkit() -> None:
        records = list(predictor.predict(paths))
        assert len(records) == len(paths) and not any("error" in r for r in records)

    best_bare, best_dlkit = throughput.compare(bare, dlkit, args.rounds)
    print(f"images: {len(paths)}  batch size: {args.batch_size}  device: {runtime.devices()[-1]['type']}")
    throughput.report(len(paths), best_bare, best_dlkit, "dlkit classify")


if __name__ == "__main__":
    main()
