"""Geolocation of news: the trained model against constant and gazetteer baselines.

    flock /tmp/dlkit-train.lock python tasks/geolocation/recipe.py [--ship]

Splits ../shared/data/geo_news/articles.jsonl into train (80%) and held-out test (20%)
with a fixed seed, trains geolocators with the dlkit CLI (self-trained Word2Vec and GloVe
vectors, tf-idf and mean pooling), evaluates them on the test split, measures the
baselines, and writes results.json, map.png and the table for README.md. --ship copies the
self-trained tf-idf model to pretrained/geolocator and records it in the manifest.
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
GLOVE = os.path.join(SHARED, "data", "glove", "glove.6B.50d.50k.bin")
SEED = 0

MODELS = {  # name: extra train-geolocator options
    "word2vec-tfidf": [],
    "word2vec-mean": ["--pooling", "mean"],
    "glove-tfidf": ["--embeddings", GLOVE],
    "glove-mean": ["--embeddings", GLOVE, "--pooling", "mean"],
}


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


def baselines(train: str, test: str) -> dict:
    from dlkit.tasks.geolocator.data import read_articles
    from dlkit.tasks.geolocator.gazetteer import Gazetteer
    from dlkit.tasks.geolocator.geometry import centroid, geometric_median, metrics

    train_rows, _ = read_articles(train)
    test_rows, _ = read_articles(test)
    true = np.array([[a.lat, a.lon] for a in test_rows])
    points = [[a.lat, a.lon] for a in train_rows]
    median = geometric_median(points)
    gazetteer = Gazetteer(kinds=("city", "country"))
    found = [gazetteer.most_mentioned(a.text) for a in test_rows]
    predicted = np.array([point if point else median for point in found])
    return {
        "geometric-median": metrics(np.repeat(median[None], len(true), 0), true),
        "centroid": metrics(np.repeat(centroid(points)[None], len(true), 0), true),
        "gazetteer": {**metrics(predicted, true), "no_name_found": sum(p is None for p in found)},
    }


def ship(model: str, metrics: dict) -> None:
    from dlkit.core import modelio

    modelio.ship(model, "geolocator-geo-news", "geolocator", "geolocate", metrics,
                 "flock /tmp/dlkit-train.lock python tasks/geolocation/recipe.py --ship", skip=())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/dlkit-geolocation", help="Where splits and models go.")
    parser.add_argument("--ship", action="store_true", help="Copy the word2vec-tfidf model to pretrained/.")
    parser.add_argument("--reuse", action="store_true",
                        help="Keep models already in --work (evaluate them again, e.g. after a decoding change).")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    train, test = split(args.work)
    results = {"date": time.strftime("%Y-%m-%d"), "split": {"seed": SEED, "test_share": 0.2}, "models": {}}
    for name, options in MODELS.items():
        folder = os.path.join(args.work, name)
        if not (args.reuse and os.path.isdir(folder)):
            trained = dlkit("train-geolocator", train, "-o", folder, "--seed", "1", *options)
            with open(os.path.join(args.work, f"{name}.train.json"), "w") as f:
                json.dump(trained, f)
        with open(os.path.join(args.work, f"{name}.train.json")) as f:
            trained = json.load(f)
        evaluation = ["--map", os.path.join(HERE, "map.png")] if name == "word2vec-tfidf" else []
        tested = dlkit("evaluate-geolocator", test, "--model", folder, *evaluation)
        results["models"][name] = {**{k: tested[k] for k in ("mean_km", "median_km", "acc_at_161km", "count")},
                                   "epochs": trained["epochs"], "train_seconds": trained["seconds"]}
    results["baselines"] = baselines(train, test)
    with open(os.path.join(HERE, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print("| method | median km | mean km | acc@161km |\n|---|---|---|---|")
    for name, row in {**results["models"], **results["baselines"]}.items():
        print(f"| {name} | {row['median_km']} | {row['mean_km']} | {row['acc_at_161km']} |")
    if args.ship:
        ship(os.path.join(args.work, "word2vec-tfidf"), results["models"]["word2vec-tfidf"])


if __name__ == "__main__":
    main()
