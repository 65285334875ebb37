"""Multi-task and multi-label heads on MNIST: one model with a `digit` head (ten classes)
and a `properties` head (several of even / large / round per digit), against a
single-task digit classifier trained on the same images.

    python tasks/classifier/multitask.py OUT [--per-class 100]

Writes OUT/results.json; every step runs through the CLI.
"""

import argparse
import csv
import json
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DLKIT_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
PROPERTIES = (("even", lambda d: d % 2 == 0), ("large", lambda d: d >= 5), ("round", lambda d: d in (0, 6, 8, 9)))


def dlkit(*args) -> tuple[list[dict], float]:
    start = time.perf_counter()
    done = subprocess.run(["dlkit", *map(str, args), "--json"], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"dlkit {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")], \
        time.perf_counter() - start


def labels_csv(folder: str, target: str, per_class: int | None) -> str:
    """image, digit, properties for the first `per_class` digits of each class folder."""
    rows = []
    for digit in range(10):
        names = sorted(os.listdir(os.path.join(folder, str(digit))))[:per_class]
        rows += [[f"{digit}/{n}", digit, ";".join(p for p, test in PROPERTIES if test(digit))] for n in names]
    with open(target, "w", newline="") as f:
        csv.writer(f).writerows([["image", "digit", "properties"], *rows])
    return target


def class_slice(folder: str, target: str, per_class: int) -> str:
    for digit in range(10):
        os.makedirs(os.path.join(target, str(digit)), exist_ok=True)
        for name in sorted(os.listdir(os.path.join(folder, str(digit))))[:per_class]:
            link = os.path.join(target, str(digit), name)
            if not os.path.exists(link):
                os.symlink(os.path.join(folder, str(digit), name), link)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--per-class", type=int, default=100)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    digits = os.path.join(args.out, "mnist")
    if not os.path.exists(digits):
        dlkit("import-mnist", os.path.join(SHARED, "data", "mnist"), digits)
    train, test = os.path.join(digits, "train"), os.path.join(digits, "test")
    train_csv = labels_csv(train, os.path.join(args.out, "train.csv"), args.per_class)
    test_csv = labels_csv(test, os.path.join(args.out, "test.csv"), None)
    common = ["--no-augment", "--seed", "1"]

    model = os.path.join(args.out, "heads.keras")
    (summary,), seconds = dlkit("train-classifier", train, "--labels", train_csv, "-o", model, *common)
    (scores,), _ = dlkit("evaluate-classifier", test, "--labels", test_csv, "--model", model)
    weighted = os.path.join(args.out, "heads-digit2.keras")
    (summary2,), seconds2 = dlkit("train-classifier", train, "--labels", train_csv, "--task-weights", "digit=2",
                                  "-o", weighted, *common)
    (scores2,), _ = dlkit("evaluate-classifier", test, "--labels", test_csv, "--model", weighted)
    single = os.path.join(args.out, "digit.keras")
    subset = class_slice(train, os.path.join(args.out, "train-folders"), args.per_class)
    single_summary, single_seconds = dlkit("train-classifier", subset, "-o", single, *common)
    single_scores, _ = dlkit("evaluate-classifier", test, "--model", single)
    results = {
        "train_images": summary["train_images"] + summary["val_images"], "test_images": scores["images"],
        "multi_task": {"test": scores["heads"], "validation": summary["heads"], "seconds": round(seconds, 1),
                       "epochs": summary["epochs"]},
        "multi_task_digit_weight_2": {"test": scores2["heads"], "seconds": round(seconds2, 1),
                                      "epochs": summary2["epochs"]},
        "single_task_digit": {"test_accuracy": single_scores[-1]["accuracy"], "seconds": round(single_seconds, 1),
                              "head": single_summary[-1].get("head", "trained")},
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
