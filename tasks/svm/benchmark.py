"""Feature-extraction throughput of dlkit against bare `model.predict`, in one run.

    python tasks/svm/benchmark.py [IMAGE_DIR] [--images 320] [--rounds 3]

The baseline decodes every image into memory first and times only the Keras model's
`model.predict` on the preprocessed array; dlkit is timed from file paths to feature
vectors with the same network run from its ONNX twin, as extract-features runs it. Rounds alternate and the best of each is kept (the machine is shared and noisy).
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
    args = parser.parse_args()

    import numpy as np

    from dlkit.core import runtime
    from dlkit.core.inputs import expand_paths
    from dlkit.tasks.svm import FeatureExtractor, FeaturesConfig
    from dlkit.vision import backbones
    from dlkit.vision.images import load_image

    runtime.setup("auto")
    paths = expand_paths([args.folder])[: args.images]
    extractor = FeatureExtractor(FeaturesConfig())
    size = extractor.config.size()
    model = backbones.build(extractor.config.backbone, include_top=False, input_size=size, pooling="avg")
    decoded = backbones.get(extractor.config.backbone).preprocess(
        np.stack([load_image(p, size) for p in paths]).astype("float32"))

    def bare() -> None:
        model.predict(decoded, batch_size=extractor.config.batch_size, verbose=0)

    def dlkit() -> None:
        records = list(extractor.predict(paths))
        assert len(records) == len(paths) and all("features" in r for r in records)

    best_bare, best_dlkit = throughput.compare(bare, dlkit, args.rounds)
    print(f"images: {len(paths)}  backbone: {extractor.config.backbone} pooled, {size}px")
    throughput.report(len(paths), best_bare, best_dlkit, "dlkit extract-features")


if __name__ == "__main__":
    main()
