"""Geolocation of news: the trained model against constant and gazetteer baselines, on
held-out articles and on hand-written world headlines.

    flock /tmp/dlkit-train.lock python tasks/geolocation/recipe.py [--ship] [--models world,today]

Splits ../shared/data/geo_news/articles.jsonl into train (80%) and held-out test (20%)
with a fixed seed, trains geolocators with the dlkit CLI (world knowledge with balanced
corpora, gazetteer headlines and out-of-fold annotated names; today's model without them;
ablations),
evaluates them and the shipped model on the test split and on headlines.jsonl, measures
the baselines, and writes results.json, map.png and the table for README.md. --ship copies
the `world` model to pretrained/geolocator and records it in the manifest, if it beats the
shipped one on both test sets (see `better`).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from recipes import dlkit  # noqa: E402

SHARED = os.environ.get("DLKIT_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
ARTICLES = os.path.join(SHARED, "data", "geo_news", "articles.jsonl")
HEADLINES = os.path.join(HERE, "headlines.jsonl")
SEED = 0

# Today's model before world knowledge: 15 features, rows weighed alike, no generated
# headlines, the whole table of annotated names.
OFF = ["--no-world-knowledge", "--corpus-balance", "0", "--gazetteer-texts", "0", "--seen-folds", "1"]
MODELS = {  # name: extra train-geolocator options (all: self-trained Word2Vec, tf-idf mean)
    "world": [],
    "today": OFF,
    "world-no-headlines": ["--gazetteer-texts", "0"],
    "world-rows-alike": ["--corpus-balance", "0"],
}
SHIPPED = "world"
MEDIAN_KM = 40.0  # the held-out median error a shipped model may not exceed (issue 20)


def split(work: str) -> tuple[str, str]:
    with open(ARTICLES, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    order = np.random.default_rng(SEED).permutation(len(lines))
    test = set(order[: round(0.2 * len(lines))].tolist())
    paths = os.path.join(work, "train.jsonl"), os.path.join(work, "test.jsonl")
    with open(paths[0], "w", encoding="utf-8") as train_file, open(paths[1], "w", encoding="utf-8") as test_file:
        for i, line in enumerate(lines):
            (test_file if i in test else train_file).write(line)
    return paths


def baselines(train: str, tests: dict[str, str]) -> dict:
    """Constant and gazetteer baselines on each test file: {baseline: {test name: metrics}}."""
    from dlkit.tasks.geolocator.data import read_articles
    from dlkit.tasks.geolocator.gazetteer import Gazetteer
    from dlkit.tasks.geolocator.geometry import centroid, geometric_median, metrics

    train_rows, _ = read_articles(train)
    points = [[a.lat, a.lon] for a in train_rows]
    median, centre = geometric_median(points), centroid(points)
    gazetteer = Gazetteer(kinds=("city", "country"))
    results = {"geometric-median": {}, "centroid": {}, "gazetteer": {}}
    for test_name, path in tests.items():
        test_rows, _ = read_articles(path)
        true = np.array([[a.lat, a.lon] for a in test_rows])
        found = [gazetteer.most_mentioned(a.text) for a in test_rows]
        predicted = np.array([point if point else median for point in found])
        results["geometric-median"][test_name] = metrics(np.repeat(median[None], len(true), 0), true)
        results["centroid"][test_name] = metrics(np.repeat(centre[None], len(true), 0), true)
        results["gazetteer"][test_name] = {**metrics(predicted, true), "no_name_found": sum(p is None for p in found)}
    return results


def evaluations(folder: str | None, tests: dict[str, str], map_path: str | None = None) -> dict:
    """{test name: mean_km, median_km, acc_at_161km, count} of a model folder (None: the shipped one)."""
    results = {}
    for test_name, path in tests.items():
        options = (["--model", folder] if folder else []) + (["--map", map_path] if map_path and test_name == "test"
                                                             else [])
        tested = dlkit("evaluate-geolocator", path, *options)
        results[test_name] = {k: tested[k] for k in ("mean_km", "median_km", "acc_at_161km", "count")}
    return results


def better(new: dict, old: dict) -> bool:
    """Better on both test sets, by acc@161km, with the held-out median error within the
    issue's bound (40 km: today's 35.5 km moves by a few km between retrainings)."""
    return (new["test"]["acc_at_161km"] > old["test"]["acc_at_161km"] and new["test"]["median_km"] <= MEDIAN_KM
            and new["headlines"]["acc_at_161km"] > old["headlines"]["acc_at_161km"])


def ship(model: str, metrics: dict) -> None:
    from dlkit.core import modelio

    modelio.ship(model, "geolocator-geo-news", "geolocator", "geolocate", metrics,
                 "flock /tmp/dlkit-train.lock python tasks/geolocation/recipe.py --ship", skip=())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/dlkit-geolocation", help="Where splits and models go.")
    parser.add_argument("--ship", action="store_true",
                        help=f"Copy the {SHIPPED} model to pretrained/ if it beats the shipped one on both test sets.")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"The variants to train, comma-separated (default: all of {', '.join(MODELS)}).")
    parser.add_argument("--reuse", action="store_true",
                        help="Keep models already in --work (evaluate them again, e.g. after a decoding change).")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown or (args.ship and SHIPPED not in names):
        parser.error(f"unknown models {unknown}" if unknown else f"--ship needs {SHIPPED} in --models")
    os.makedirs(args.work, exist_ok=True)
    train, test = split(args.work)
    tests = {"test": test, "headlines": HEADLINES}
    results = {"date": time.strftime("%Y-%m-%d"), "split": {"seed": SEED, "test_share": 0.2},
               "shipped_before": evaluations(None, tests), "models": {}}
    for name in names:
        folder = os.path.join(args.work, name)
        if not (args.reuse and os.path.isdir(folder)):
            trained = dlkit("train-geolocator", train, "-o", folder, "--seed", "1", *MODELS[name])
            with open(os.path.join(args.work, f"{name}.train.json"), "w") as f:
                json.dump(trained, f)
        with open(os.path.join(args.work, f"{name}.train.json")) as f:
            trained = json.load(f)
        map_path = os.path.join(HERE, "map.png") if name == SHIPPED else None
        results["models"][name] = {**evaluations(folder, tests, map_path), "epochs": trained["epochs"],
                                   "train_seconds": trained["seconds"], "options": MODELS[name]}
    results["baselines"] = baselines(train, tests)
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print("| method | held-out median km | mean km | acc@161km | headlines acc@161km | median km |\n"
          "|---|---|---|---|---|---|")
    rows = {"shipped before this run": results["shipped_before"], **results["models"], **results["baselines"]}
    for name, row in rows.items():
        t, h = row["test"], row["headlines"]
        print(f"| {name} | {t['median_km']} | {t['mean_km']} | {t['acc_at_161km']} | {h['acc_at_161km']} | "
              f"{h['median_km']} |")
    if args.ship:
        new = results["models"][SHIPPED]
        if better(new, results["shipped_before"]):
            ship(os.path.join(args.work, SHIPPED), {**new["test"], "headlines": new["headlines"],
                                                    "epochs": new["epochs"], "train_seconds": new["train_seconds"]})
        else:
            sys.exit(f"not shipped: {SHIPPED} is not better than the shipped model on both measures")


if __name__ == "__main__":
    main()
