"""Feature-extraction throughput of dlkit against bare `model.predict`, in one run.

    python tasks/features-svm/benchmark.py [IMAGE_DIR] [--images 320] [--rounds 3]

The baseline decodes every image into memory first and times only `model.predict` on
the preprocessed array; dlkit is timed from file paths to feature vectors with the same
network. Rounds alternate and the best of each is kept (the machine is shared and noisy).
"""

import argparse
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DLKIT_SHARED", os.path.join(ROOT, "..", "shared"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=os.path.join(SHARED, "data", "cats_and_dogs", "train"))
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import numpy as np

    from dlkit import backbones, runtime
    from dlkit.features_svm import FeatureExtractor, FeaturesConfig
    from dlkit.images import load_image
    from dlkit.inputs import expand_paths

    runtime.setup("auto")
    paths = expand_paths([args.folder])[: args.images]
    extractor = FeatureExtractor(FeaturesConfig())
    size = extractor.config.size()
    decoded = backbones.get(extractor.config.backbone).preprocess(
        np.stack([load_image(p, size) for p in paths]).astype("float32"))

    def bare() -> float:
        start = time.perf_counter()
        extractor.model.predict(decoded, batch_size=extractor.config.batch_size, verbose=0)
        return time.perf_counter() - start

    def dlkit() -> float:
        start = time.perf_counter()
        rows = [vector for _, vector, _ in extractor.extract(paths)]
        elapsed = time.perf_counter() - start
        assert len(rows) == len(paths) and all(r is not None for r in rows)
        return elapsed

    bare(), dlkit()  # warm-up
    times = {"bare": [], "dlkit": []}
    for _ in range(args.rounds):
        times["bare"].append(bare())
        times["dlkit"].append(dlkit())
    best = {k: min(v) for k, v in times.items()}
    n = len(paths)
    print(f"images: {n}  backbone: {extractor.config.backbone} pooled, {size}px")
    print(f"bare model.predict on decoded arrays: {n / best['bare']:.1f} images/s")
    print(f"dlkit extract-features from files:    {n / best['dlkit']:.1f} images/s")
    print(f"ratio dlkit / bare: {best['bare'] / best['dlkit']:.2f}  (target >= 0.85)")


if __name__ == "__main__":
    main()
