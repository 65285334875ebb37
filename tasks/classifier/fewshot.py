"""Few-shot transfer: train-classifier (defaults, and --epochs 3) against train-svm on the
same MobileNetV2 backbone, with 10, 20 and 50 training images per class.

    python tasks/classifier/fewshot.py OUT [--sizes 10 20 50] [--sets cats_dogs digits] [--test 100]

Data sets (real images from ../shared): cats_dogs (cats_and_dogs: train/ for training,
the first --test images per class of validation/ held out) and digits (MNIST as 10
classes of PNGs via `dlkit import-mnist`, train/ for training, the first --test per
class of test/ held out: images far from ImageNet's photos). Each run goes through the
CLI; held-out accuracy comes from evaluate-classifier / the SVM's --test accuracy, time
is the command's wall time (image decoding and feature extraction included). One JSON
line per run is printed and appended to OUT/results.jsonl.
"""

import argparse
import json
import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("DLKIT_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))


def subset(source: str, target: str, per_class: int, skip: int = 0) -> str:
    """Class folders of symlinks to `per_class` images of each class of `source`."""
    for name in sorted(os.listdir(source)):
        os.makedirs(os.path.join(target, name), exist_ok=True)
        for file in sorted(os.listdir(os.path.join(source, name)))[skip:skip + per_class]:
            link = os.path.join(target, name, file)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(os.path.join(source, name, file)), link)
    return target


def dlkit(*args) -> tuple[list[dict], float]:
    start = time.perf_counter()
    done = subprocess.run(["dlkit", *map(str, args), "--json"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"dlkit {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--sets", nargs="+", default=["cats_dogs", "digits"])
    parser.add_argument("--test", type=int, default=100, help="Held-out images per class.")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    sources = {"cats_dogs": (os.path.join(SHARED, "data", "cats_and_dogs", "train"),
                             os.path.join(SHARED, "data", "cats_and_dogs", "validation"))}
    if "digits" in args.sets:
        digits = os.path.join(args.out, "mnist")
        if not os.path.exists(digits):
            dlkit("import-mnist", os.path.join(SHARED, "data", "mnist"), digits)
        sources["digits"] = (os.path.join(digits, "train"), os.path.join(digits, "test"))
    for name in args.sets:
        train_source, test_source = sources[name]
        test = subset(test_source, os.path.join(args.out, name, "test"), args.test)
        for size in args.sizes:
            train = subset(train_source, os.path.join(args.out, name, f"train{size}"), size)
            base = os.path.join(args.out, name, f"{size}")
            runs = {"train-classifier": [], "train-classifier --epochs 3": ["--epochs", "3"]}
            for label, extra in runs.items():
                model = f"{base}-{'e3' if extra else 'default'}.keras"
                records, seconds = dlkit("train-classifier", train, "-o", model, "--seed", "1", *extra)
                summary = records[-1]
                metrics, _ = dlkit("evaluate-classifier", test, "--model", model)
                report(args.out, name, size, label, metrics[-1]["accuracy"], seconds,
                       {k: summary.get(k) for k in ("epochs", "feature_views", "head", "probe_C", "probe_views", "probe_score",
                                                    "cv_accuracy", "val_images", "final_val_accuracy", "seconds")})
            records, seconds = dlkit("train-svm", train, "--test", test, "-o", f"{base}-svm")
            report(args.out, name, size, "train-svm", records[-1]["test_accuracy"], seconds,
                   {"C": records[-1]["C"], "cv_accuracy": records[-1]["cv_accuracy"]})


def report(out: str, data: str, size: int, method: str, accuracy: float, seconds: float, extra: dict) -> None:
    record = {"data": data, "per_class": size, "method": method, "test_accuracy": accuracy,
              "wall_seconds": round(seconds, 1), **extra}
    print(json.dumps(record), flush=True)
    with open(os.path.join(out, "results.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
