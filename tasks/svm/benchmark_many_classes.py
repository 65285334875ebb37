"""train-svm's fit (C search included) on many classes, against single fixed-C fits, in one run.

    python tasks/svm/benchmark_many_classes.py [--classes 10 50 100 150] [--train 20]

The classes are real photos grouped by what their captions say: ../shared has no
100-class photo set, so each Flickr8k image is labelled by a caption word that at
least 2 of its 5 captions use. Words are taken from the rarest up (rare words are the
specific ones: "sled", "guitar", "hockey"), each word keeping the first 30 unclaimed
images that most captions give it (20 train, 10 test); common words that every photo
has ("man", "dog", colours, "standing") are not classes. This gives 157 classes of 30
photos. They overlap (a "frisbee" photo may show a "beach") so accuracy is far from
1.0: a harder problem for an SVM solver than clean classes.

MobileNetV2 pooled features (224 px) are extracted once and cached (--cache). For each
class count the benchmark times `dlkit.tasks.svm.fit` with its defaults (the C search,
then the final fit on all the training images) and a single LinearSVC fit at each C
from 1e-5 to 1e-3 (LinearSVC; larger C were worse on every class count and slower), and
prints fit times, the ratio to the C = 1e-3 fit and held-out accuracies.
"""

import argparse
import collections
import csv
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DLKIT_SHARED", os.path.join(ROOT, "..", "shared"))

# Words every other photo has, or that say nothing visual: not classes.
COMMON = set("""a an the and or of in on at to is are was were be with its it his her their there this that these
those for from by as into onto over under near next while who which one two three four five several some other
another each very up down out off through around behind front top side back across along against large small big
little young old white black red blue green yellow brown orange pink purple grey gray dark light colorful colored
long short has have had wearing wears wear does doing something someone sits sitting stands standing looks looking
man men woman women person people boy boys girl girls child children kid kids dog dogs lady guy group crowd""".split())
PER_CLASS = 30


def caption_classes(captions: str, per_class: int = PER_CLASS) -> dict[str, list[str]]:
    """{word: image names}: see the module's docstring."""
    words = collections.defaultdict(collections.Counter)  # image: {word: captions using it}
    with open(captions, newline="") as f:
        for row in csv.DictReader(f):
            words[row["image"]].update({w for w in re.findall(r"[a-z]+", row["caption"].lower())
                                        if len(w) >= 3 and w not in COMMON})
    frequency = collections.Counter(w for counts in words.values() for w in counts)
    taken, classes = set(), {}
    for word in sorted(frequency, key=lambda w: (frequency[w], w)):
        if frequency[word] < per_class:
            continue
        pool = sorted((image for image, counts in words.items() if image not in taken and counts[word] >= 2),
                      key=lambda image: (-words[image][word], image))
        if len(pool) >= per_class:
            classes[word] = pool[:per_class]
            taken.update(pool[:per_class])
    return classes


def features(cache: str):
    """(features, labels, is_train) of every grouped photo, extracted once."""
    import numpy as np

    if os.path.exists(cache):
        with np.load(cache) as saved:
            return saved["features"], saved["labels"], saved["train"]
    from dlkit.core import runtime
    from dlkit.tasks.svm import FeatureExtractor, FeaturesConfig

    runtime.setup("auto")
    flickr = os.path.join(SHARED, "data", "flickr8k")
    classes = caption_classes(os.path.join(flickr, "captions.txt"))
    paths = [os.path.join(flickr, "Images", image) for images in classes.values() for image in images]
    labels = np.array([word for word, images in classes.items() for _ in images])
    train = np.array([i < 20 for images in classes.values() for i in range(len(images))])
    records = list(FeatureExtractor(FeaturesConfig()).predict(paths))
    assert all("features" in r for r in records), [r for r in records if "error" in r][:3]
    vectors = np.stack([r["features"] for r in records]).astype("float32")
    with open(cache + ".tmp", "wb") as f:
        np.savez(f, features=vectors, labels=labels, train=train)
    os.replace(cache + ".tmp", cache)
    return vectors, labels, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[10, 50, 100, 150])
    parser.add_argument("--single-c", type=float, nargs="+", default=[1e-5, 3e-5, 1e-4, 3e-4, 1e-3],
                        help="The fixed C values fitted alone; the first 1e-3 one is the time baseline.")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "dlkit-many-classes.npz"))
    args = parser.parse_args()

    import numpy as np

    from dlkit.tasks.svm import Features, SVMConfig, fit
    from dlkit.tasks.svm.model import _svm

    vectors, labels, train = features(args.cache)
    order = list(dict.fromkeys(labels))  # the grouping's order: rarest word first
    config = SVMConfig()
    print(f"{len(order)} caption classes, {train.sum()} train / {(~train).sum()} test photos, "
          f"{vectors.shape[1]} MobileNetV2 features; {os.cpu_count()} CPUs")
    for k in args.classes:
        keep = np.isin(labels, order[:k])
        x, y = vectors[keep & train], labels[keep & train]
        x_test, y_test = vectors[keep & ~train], labels[keep & ~train]
        start = time.perf_counter()
        model = fit(Features(x, [""] * len(y), y.tolist(), {"backbone": "mobilenet_v2"}), config)
        searched = time.perf_counter() - start
        accuracy = float((model.pipeline.predict(x_test) == y_test).mean())
        single = {}
        for C in args.single_c:
            start = time.perf_counter()
            pipeline = _svm(config, C).fit(x, y)
            single[C] = (time.perf_counter() - start, float((pipeline.predict(x_test) == y_test).mean()))
        base_c = 1e-3 if 1e-3 in single else args.single_c[0]
        best_c = max(single, key=lambda c: single[c][1])
        searched_c = ", ".join(f"{c} {v:.3f}" for c, v in model.metrics["cv_accuracy_by_C"].items())
        print(f"{k:4d} classes x 20: train-svm fit {searched:6.1f} s (CV accuracy by C: {searched_c}"
              f" -> C={model.metrics['C']:g}), test accuracy {accuracy:.3f} | single C={base_c:g} fit "
              f"{single[base_c][0]:5.1f} s, ratio {searched / single[base_c][0]:.2f} | best single C={best_c:g}: "
              f"test accuracy {single[best_c][1]:.3f} | " +
              ", ".join(f"C={c:g} {t:.1f}s {a:.3f}" for c, (t, a) in single.items()), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
