"""Sentiment that travels: trains on SST-2 plus the other domains of
../shared/data/sentiment_more, chooses settings by leave-one-source-out accuracy, and
with --ship ships the chosen setting trained on every source.

    python tasks/sentiment/domains.py --baseline --loso --ship   # all of it, with bigru-glove (~75 min here)
    python tasks/sentiment/domains.py --baseline                 # today's shipped model on every source
    python tasks/sentiment/domains.py --loso --settings bigru-glove,cnn-glove

Sources besides SST-2: customer reviews (CR), news opinion phrases (MPQA), and VADER's
human-rated tweets, Amazon review snippets and New York Times editorial snippets, labelled
positive above +MARGIN and negative below -MARGIN (the texts between are left out). Each
source is split 90/10 (seed 0): the 10% joins SST-2 dev.tsv for early stopping when the
source is trained on. Leave-one-source-out: for each source, train on SST-2 train and the
other four sources, and score the held-out source, all of its rows. GLUE dev
(test_is_glue_dev.tsv) is scored as it is. Results go to tasks/sentiment/results-domains.json.
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, ROOT)  # this checkout's dlkit, which the shipping steps import
from recipes import dlkit  # noqa: E402

SHARED = os.environ.get("DLKIT_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
SST2 = os.path.join(SHARED, "data", "sst2")
MORE = os.path.join(SHARED, "data", "sentiment_more")
GLOVE = os.path.join(SHARED, "data", "glove", "glove.6B.50d.50k.bin")
GLUE_DEV = os.path.join(SST2, "test_is_glue_dev.tsv")
# VADER's ratings are the mean of 10 raters on -4..4 (0 neutral). A mean within half a
# step of 0 is a neutral or mixed text on which the raters split, and its sign is a coin
# toss; 0.5 leaves those out and keeps 80% of the tweets and Amazon snippets and 54% of the
# NYT snippets (1 would keep 27% of those, only the strongest opinions).
MARGIN = 0.5
SOURCES = ("cr", "mpqa", "vader-tweets", "vader-amazon", "vader-nyt")
VADER = {"vader-tweets": "vader_tweets.tsv", "vader-amazon": "vader_amazonReviewSnippets.tsv",
         "vader-nyt": "vader_nytEditorialSnippets.tsv"}
COMMON = ["--max-length", "50", "--vocab-size", "20000", "-b", "128", "--seed", "1", "--patience", "2"]
GLOVE_TUNED = ["--embeddings", GLOVE, "--fine-tune-embeddings"]
SETTINGS = {  # name: train-sentiment options beyond COMMON
    "bilstm-glove": ["--arch", "bilstm", "--pooling", "last", "--epochs", "4", *GLOVE_TUNED],
    "bigru-glove": ["--arch", "bigru", "--pooling", "last", "--epochs", "4", *GLOVE_TUNED],
    "cnn-glove": ["--arch", "cnn", "--epochs", "4", "--dropout", "0.5", *GLOVE_TUNED],
    # bigru-glove with each added source's classes balanced (below) and 8 epochs: on SST-2
    # alone the same BiGRU scored 0.844 on GLUE dev after 4 epochs and 0.860 after 8, and
    # the mixed validation accuracy was still rising at the 4th epoch.
    "bigru-glove-balanced": ["--arch", "bigru", "--pooling", "last", "--epochs", "8", *GLOVE_TUNED],
    # the same with SST-2's phrases twice: they are what GLUE dev's sentences resemble
    "bigru-glove-sst2x2": ["--arch", "bigru", "--pooling", "last", "--epochs", "8", *GLOVE_TUNED],
    # balanced, with more capacity: attention pooling (0.851 on GLUE dev from SST-2 alone),
    # or 128 units a direction
    "bilstm-glove-attention-balanced": ["--arch", "bilstm", "--pooling", "attention", "--epochs", "8",
                                        *GLOVE_TUNED],
    "bigru128-glove-balanced": ["--arch", "bigru", "--pooling", "last", "--units", "128", "--epochs", "8",
                                *GLOVE_TUNED],
}
# Two stages: a setting above trained on the mix, then fine-tuned on SST-2 alone
# (train-sentiment --init-from), validated on SST-2 dev: the mix teaches the other
# domains' words and turns of phrase, the second stage brings back what GLUE dev's
# sentences (SST-2's kind) lose in the mix (0.831 against 0.844-0.860 from SST-2 alone).
# A quarter of the first stage's rate, so that the second stage adjusts rather than
# relearns; early stopping on SST-2 dev picks how far.
THEN_SST2 = {"bigru-glove-then-sst2": "bigru-glove", "bigru-glove-balanced-then-sst2": "bigru-glove-balanced"}
THEN_SST2_OPTIONS = ["--epochs", "3", "--learning-rate", "0.0005", "--seed", "1", "--patience", "1"]
# Settings whose added sources are balanced by drawing their smaller class again (seeded)
# until it is as large as the other: MPQA is 69% negative and the kept tweets 68% positive,
# and without it the model trained without tweets called 41% of positive tweets negative.
# SST-2 is left as it is (56% positive), so its phrases keep their weight.
BALANCED = {"bigru-glove-balanced", "bigru-glove-sst2x2", "bilstm-glove-attention-balanced",
            "bigru128-glove-balanced"}
# Settings that train on SST-2's training phrases twice over.
SST2_TWICE = {"bigru-glove-sst2x2"}
SHIPPED = "sentiment-sst2"
# A model replaces the shipped one only when its leave-one-source-out mean is at least half
# a point higher: the mean's standard error over the five sources' 23,500 texts is about
# 0.3 points, so a smaller gain cannot be told from chance, and every shipped weight file
# stays in the repository's history.
MIN_GAIN = 0.005


def source_rows(source: str) -> list[tuple[str, int]]:
    """(text, 0/1) pairs of one source of sentiment_more."""
    if source in VADER:
        rows = []
        with open(os.path.join(MORE, VADER[source]), encoding="utf-8", newline="") as f:
            for line in f:
                _, rating, text = line.rstrip("\r\n").split("\t", 2)
                if abs(float(rating)) > MARGIN:
                    rows.append((text.strip(), int(float(rating) > 0)))
        return rows
    stem = {"cr": "custrev", "mpqa": "mpqa"}[source]
    return [(line.strip(), label) for label, ext in ((1, "pos"), (0, "neg"))
            for line in open(os.path.join(MORE, f"{stem}.{ext}"), encoding="utf-8", errors="replace")
            if line.strip()]


def write_jsonl(path: str, rows) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for text, label in rows:
            f.write(json.dumps({"text": text, "label": str(label)}) + "\n")
    return path


def sst2_rows(name: str) -> list[tuple[str, int]]:
    with open(os.path.join(SST2, name), encoding="utf-8") as f:
        next(f)
        return [(text, int(label)) for text, label in (line.rstrip("\n").rsplit("\t", 1) for line in f)]


def prepare(work: str) -> dict:
    """{source: {"all", "train", "valid": rows}} for every source (SST-2: train and dev.tsv)."""
    data = {"sst2": {"train": sst2_rows("train.tsv"), "valid": sst2_rows("dev.tsv")}}
    for source in SOURCES:
        rows = source_rows(source)
        held = set(np.random.default_rng(0).permutation(len(rows))[: len(rows) // 10].tolist())
        data[source] = {"all": rows, "train": [r for i, r in enumerate(rows) if i not in held],
                        "valid": [r for i, r in enumerate(rows) if i in held]}
        write_jsonl(os.path.join(work, f"{source}.jsonl"), rows)
    return data


def balanced(rows: list[tuple[str, int]], seed: int = 0) -> list[tuple[str, int]]:
    """`rows` with the smaller class drawn again at random until both are as large."""
    by_label = [[r for r in rows if r[1] == label] for label in (0, 1)]
    small, large = sorted(by_label, key=len)
    extra = np.random.default_rng(seed).choice(len(small), len(large) - len(small), replace=True)
    return rows + [small[i] for i in extra]


def train(data: dict, sources: list[str], setting: str, folder: str, work: str, reuse: bool = False) -> dict:
    """Trains `setting` on `sources` into `folder` (with `reuse`, a model trained there
    before is kept); returns the training summary ({} for a kept model that has none:
    the leave-one-source-out models of the first rounds)."""
    summary_path = folder + ".train.json"
    if reuse and os.path.exists(os.path.join(folder, "model.keras")):
        if not os.path.exists(summary_path):
            return {}
        with open(summary_path) as f:
            return json.load(f)
    if setting in THEN_SST2:
        base = folder.replace(setting, THEN_SST2[setting], 1)
        first = train(data, sources, THEN_SST2[setting], base, work, reuse)
        second = dlkit("train-sentiment", os.path.join(SST2, "train.tsv"), "--validation",
                       os.path.join(SST2, "dev.tsv"), "--init-from", base, "-o", folder, *THEN_SST2_OPTIONS)
        summary = {**second, "seconds": round(first.get("seconds", 0) + second["seconds"], 1),
                   "epochs": [first.get("epochs"), second.get("epochs")]}
    else:
        summary = _train_one(data, sources, setting, folder, work)
    with open(summary_path, "w") as f:
        json.dump(summary, f)
    return summary


def _train_one(data: dict, sources: list[str], setting: str, folder: str, work: str) -> dict:
    tag = os.path.basename(folder)
    rows = [r for s in sources
            for r in (balanced(data[s]["train"]) if setting in BALANCED and s != "sst2" else data[s]["train"])]
    if setting in SST2_TWICE and "sst2" in sources:
        rows += data["sst2"]["train"]
    fit = write_jsonl(os.path.join(work, f"{tag}.train.jsonl"), rows)
    valid = write_jsonl(os.path.join(work, f"{tag}.valid.jsonl"), [r for s in sources for r in data[s]["valid"]])
    return dlkit("train-sentiment", fit, "--validation", valid, "-o", folder, *COMMON, *SETTINGS[setting])


def accuracy(test: str, folder: str | None) -> float:
    return dlkit("evaluate-sentiment", test, *(["--model", folder] if folder else []))["accuracy"]


def scores(folder: str | None, work: str, sources=SOURCES) -> dict:
    """{source: accuracy} on every row of each source, and GLUE dev."""
    result = {s: accuracy(os.path.join(work, f"{s}.jsonl"), folder) for s in sources}
    result["glue_dev"] = accuracy(GLUE_DEV, folder)
    return result


def save(key: str, value) -> None:
    path = os.path.join(HERE, "results-domains.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    results.update({key: value, "margin": MARGIN})
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")


def ship(folder: str, work: str, loso: dict, floor: float) -> None:
    """int8 copy of `folder` (as the SST-2 recipe ships), scored, copied to pretrained/
    unless its GLUE dev accuracy falls below `floor`."""
    from dlkit.core import modelio
    from dlkit.tasks.sentiment.model import write_twin

    dlkit("quantize", folder, "-o", folder + "-int8")
    checked = write_twin(folder + "-int8")
    glue = dlkit("evaluate-sentiment", GLUE_DEV, "--model", folder + "-int8")
    if glue["accuracy"] < floor:
        sys.exit(f"not shipped: the int8 copy scores {glue['accuracy']:.4f} on GLUE dev, under {floor:.4f}")
    metrics = {"glue_dev_accuracy": glue["accuracy"], "glue_dev_macro_f1": glue["macro_f1"],
               "leave_one_source_out": loso, "vader_margin": MARGIN, "twin": checked}
    modelio.ship(folder + "-int8", SHIPPED, SHIPPED, "sentiment", metrics,
                 f"python tasks/sentiment/domains.py --ship --settings {os.path.basename(folder)[:-4]}")


def shipped_figures() -> dict:
    """The shipped model's leave-one-source-out mean and GLUE dev accuracy: its manifest's,
    or, for a model shipped before this recipe (the manifest has no such figures), the
    ones --baseline measured."""
    from dlkit.core import modelio

    metrics = next(m["metrics"] for m in modelio.manifest() if m["name"] == SHIPPED)
    if "leave_one_source_out" in metrics:
        return {"mean": metrics["leave_one_source_out"]["mean"], "glue_dev": metrics["glue_dev_accuracy"]}
    before = json.load(open(os.path.join(HERE, "results-domains.json")))["shipped_before"]
    return {"mean": float(np.mean([before[s] for s in SOURCES])), "glue_dev": before["glue_dev"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/dlkit-sentiment-domains")
    parser.add_argument("--baseline", action="store_true", help="Score the shipped model on every source.")
    parser.add_argument("--loso", action="store_true", help="Leave-one-source-out for each of --settings.")
    parser.add_argument("--ship", action="store_true", help="Train the first of --settings on every source "
                        "and ship it (int8) if its leave-one-source-out mean beats the shipped model's by "
                        "MIN_GAIN.")
    parser.add_argument("--reuse", action="store_true", help="Keep models already trained in --work.")
    parser.add_argument("--train-only", action="store_true", help="With --ship: train, do not score or ship.")
    parser.add_argument("--settings", default="bigru-glove",
                        help=f"Comma-separated, of {', '.join([*SETTINGS, *THEN_SST2])}.")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    data = prepare(args.work)
    settings = args.settings.split(",")
    if args.baseline:
        save("shipped_before", scores(None, args.work))
    for setting in settings if args.loso else ():
        held_out = {}
        for source in SOURCES:
            folder = os.path.join(args.work, f"{setting}-without-{source}")
            train(data, ["sst2", *(s for s in SOURCES if s != source)], setting, folder, args.work, args.reuse)
            held_out[source] = accuracy(os.path.join(args.work, f"{source}.jsonl"), folder)
            print(json.dumps({"setting": setting, "held_out": source, "accuracy": held_out[source]}), flush=True)
        held_out["mean"] = round(float(np.mean([held_out[s] for s in SOURCES])), 6)
        save(f"loso-{setting}", held_out)
    if args.ship:
        setting = settings[0]
        folder = os.path.join(args.work, f"{setting}-all")
        if not args.train_only:
            loso = json.load(open(os.path.join(HERE, "results-domains.json")))[f"loso-{setting}"]
            shipped = shipped_figures()
            # Issue #30: ship only a model that travels better than the one shipped now
            # (judged before training the one that would ship), and keep SST-2 (the issue's
            # target there is 0.85; the copy that ships may at least not fall below today's).
            if loso["mean"] < shipped["mean"] + MIN_GAIN:
                sys.exit(f"not shipped: leave-one-source-out {loso['mean']:.3f} against the shipped "
                         f"{shipped['mean']:.3f} (at least {MIN_GAIN:.3f} more needed)")
        summary = train(data, ["sst2", *SOURCES], setting, folder, args.work, args.reuse)
        if args.train_only:
            return
        final = {**scores(folder, args.work), "epochs": summary.get("epochs"), "train_seconds": summary["seconds"]}
        save(f"all-{setting}", final)
        ship(folder, args.work, loso, floor=shipped["glue_dev"])


if __name__ == "__main__":
    main()
