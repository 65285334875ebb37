"""Geolocation of news: the trained model against constant and gazetteer baselines, on
held-out articles and on hand-written world headlines.

    flock /tmp/dlkit-train.lock python tasks/geolocation/recipe.py [--dev] [--ship] [--models world,today]

Splits ../shared/data/geo_news/articles.jsonl into train (80%) and held-out test (20%)
with a fixed seed, trains geolocators with the dlkit CLI (world knowledge with balanced
corpora, gazetteer headlines and out-of-fold annotated names; today's model without them;
ablations), each with `--deterministic` and each of --seeds,
evaluates them and the shipped model on the test split and on headlines.jsonl, measures
the baselines, and writes results.json, map.png and the table for README.md. --ship copies
the `world` model of the first seed to pretrained/geolocator and records it in the
manifest, if every seed's `world` model meets the targets (see `good`).

--dev is where settings are chosen: it splits the training articles again (88% to train,
12% development, a fixed seed), trains there and evaluates on the development articles
and dev_headlines.jsonl (hand-written, other places than headlines.jsonl), writing
results-dev.json; the test files are not read.
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
DEV_HEADLINES = os.path.join(HERE, "dev_headlines.jsonl")
SEED = 0
DEV_SEED, DEV_SHARE = 100, 0.12

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
HEADLINES_ACC = 0.95  # the share of headlines it must place within 161 km


def split(source: str, work: str, names: tuple[str, str], share: float, seed: int) -> tuple[str, str]:
    """`source`'s rows in two files in `work`: the rest, and a `share` drawn with `seed`."""
    with open(source, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    order = np.random.default_rng(seed).permutation(len(lines))
    held = set(order[: round(share * len(lines))].tolist())
    paths = os.path.join(work, names[0]), os.path.join(work, names[1])
    with open(paths[0], "w", encoding="utf-8") as kept, open(paths[1], "w", encoding="utf-8") as out:
        for i, line in enumerate(lines):
            (out if i in held else kept).write(line)
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


def good(result: dict) -> bool:
    """Both targets of issue 20: the held-out median error at most 40 km (the model
    before: 35.5 km, moving by a few km between retrainings) and 95% of the headlines
    within 161 km."""
    return result["test"]["median_km"] <= MEDIAN_KM and result["headlines"]["acc_at_161km"] >= HEADLINES_ACC


def ship(model: str, metrics: dict) -> None:
    from dlkit.core import modelio

    modelio.ship(model, "geolocator-geo-news", "geolocator", "geolocate", metrics,
                 "flock /tmp/dlkit-train.lock python tasks/geolocation/recipe.py --ship", skip=())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/dlkit-geolocation", help="Where splits and models go.")
    parser.add_argument("--dev", action="store_true",
                        help="Train on 88%% of the training split, evaluate on the rest and dev_headlines.jsonl.")
    parser.add_argument("--ship", action="store_true",
                        help=f"Copy the {SHIPPED} model of the first seed to pretrained/ if every seed meets the "
                             f"targets.")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"The variants to train, comma-separated (default: all of {', '.join(MODELS)}).")
    parser.add_argument("--seeds", default="1,2,3", help="Training seeds, comma-separated (default: 1,2,3).")
    parser.add_argument("--reuse", action="store_true",
                        help="Keep models already in --work (evaluate them again, e.g. after a decoding change).")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    seeds = [s for s in args.seeds.split(",") if s]
    unknown = [n for n in names if n not in MODELS]
    if unknown or (args.ship and SHIPPED not in names) or (args.ship and args.dev):
        parser.error(f"unknown models {unknown}" if unknown else "--ship needs the test split, not --dev"
                     if args.dev else f"--ship needs {SHIPPED} in --models")
    os.makedirs(args.work, exist_ok=True)
    train, test = split(ARTICLES, args.work, ("train.jsonl", "test.jsonl"), 0.2, SEED)
    tests = {"test": test, "headlines": HEADLINES}
    work = args.work
    if args.dev:
        work = os.path.join(args.work, "dev")
        os.makedirs(work, exist_ok=True)
        train, dev = split(train, work, ("train.jsonl", "dev.jsonl"), DEV_SHARE, DEV_SEED)
        tests = {"dev": dev, "dev_headlines": DEV_HEADLINES}
    results = {"date": time.strftime("%Y-%m-%d"), "split": {"seed": SEED, "test_share": 0.2},
               "models": {}}
    if args.dev:
        results["split"].update(dev_seed=DEV_SEED, dev_share=DEV_SHARE)
    else:
        results["shipped_before"] = evaluations(None, tests)
    for name in names:
        for seed in seeds:
            run = f"{name}-s{seed}"
            folder = os.path.join(work, run)
            if not (args.reuse and os.path.isdir(folder)):
                trained = dlkit("train-geolocator", train, "-o", folder, "--seed", seed, "--deterministic",
                                *MODELS[name])
                with open(os.path.join(work, f"{run}.train.json"), "w") as f:
                    json.dump(trained, f)
            with open(os.path.join(work, f"{run}.train.json")) as f:
                trained = json.load(f)
            map_path = os.path.join(HERE, "map.png") if name == SHIPPED and seed == seeds[0] and not args.dev \
                else None
            results["models"][run] = {**evaluations(folder, tests, map_path), "epochs": trained["epochs"],
                                      "train_seconds": trained["seconds"], "options": MODELS[name]}
    results["baselines"] = baselines(train, tests)
    with open(os.path.join(HERE, "results-dev.json" if args.dev else "results.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print("| method | held-out median km | mean km | acc@161km | headlines acc@161km | median km |\n"
          "|---|---|---|---|---|---|")
    rows = {**({"shipped before this run": results["shipped_before"]} if not args.dev else {}),
            **results["models"], **results["baselines"]}
    for name, row in rows.items():
        t, h = (row[test_name] for test_name in tests)
        print(f"| {name} | {t['median_km']} | {t['mean_km']} | {t['acc_at_161km']} | {h['acc_at_161km']} | "
              f"{h['median_km']} |")
    if args.ship:
        runs = {seed: results["models"][f"{SHIPPED}-s{seed}"] for seed in seeds}
        failed = [seed for seed, run in runs.items() if not good(run)]
        if failed:
            sys.exit(f"not shipped: {SHIPPED} misses the targets with seeds {', '.join(failed)}")
        new = runs[seeds[0]]
        ship(os.path.join(work, f"{SHIPPED}-s{seeds[0]}"), {**new["test"], "headlines": new["headlines"],
                                                            "epochs": new["epochs"],
                                                            "train_seconds": new["train_seconds"]})


if __name__ == "__main__":
    main()
