"""Labelled news articles (JSON Lines or CSV: a text and its coordinates per row), and
the place names annotated in them. No TensorFlow."""

import csv
import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from dlkit.core.errors import DlkitError
from dlkit.core.events import Events
from dlkit.tasks.geolocator.config import Config


@dataclass
class Article:
    text: str
    lat: float | None = None
    lon: float | None = None
    toponyms: list = field(default_factory=list)
    corpus: str = ""


def _coordinate(value, limit: float) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and -limit <= number <= limit else None


def read_articles(path: str, config: Config | None = None) -> tuple[list[Article], list[str]]:
    """Rows of a JSON Lines or CSV file (by extension) with a text and its coordinates, in
    the fields `config` names; returns the usable articles and a "line N: problem" note
    for each row skipped."""
    config = config or Config()
    if not os.path.isfile(path):
        raise DlkitError(f"data file not found: {path}")
    articles, skipped = [], []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if path.lower().endswith(".csv"):
                rows = ((number + 1, row) for number, row in enumerate(csv.DictReader(f), 1))
            else:
                rows = ((number, line) for number, line in enumerate(f, 1) if line.strip())
            for number, row in rows:
                if isinstance(row, str):
                    try:
                        row = json.loads(row)
                    except ValueError:
                        skipped.append(f"line {number}: not JSON")
                        continue
                if not isinstance(row, dict):
                    skipped.append(f"line {number}: not a JSON object")
                    continue
                text = row.get(config.text_field)
                lat = _coordinate(row.get(config.lat_field), 90)
                lon = _coordinate(row.get(config.lon_field), 180)
                if not isinstance(text, str) or not text.strip():
                    skipped.append(f"line {number}: no text in {config.text_field!r}")
                elif lat is None or lon is None:
                    skipped.append(f"line {number}: missing or out-of-range {config.lat_field!r}/{config.lon_field!r}")
                else:
                    toponyms = row.get(config.toponyms_field)
                    corpus = row.get(config.corpus_field)
                    articles.append(Article(text, lat, lon, toponyms if isinstance(toponyms, list) else [],
                                            str(corpus) if corpus is not None else ""))
    except UnicodeDecodeError as e:
        raise DlkitError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise DlkitError(f"{path}: bad CSV ({e})") from None
    return articles, skipped


def report_skipped(path: str, skipped: list[str], events: Events) -> None:
    if skipped:
        shown = "; ".join(skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
        events.warning(f"{path}: skipped {len(skipped)} rows ({shown})")


def corpus_weights(articles: list[Article], balance: float, fixed: dict[str, float] | None = None) -> np.ndarray:
    """Per-row weights with a mean of 1: a row weighs (rows of its corpus) ** -balance,
    except that the corpora in `fixed` get the given share of the total weight (each row
    of one alike) and the others share the rest."""
    fixed = {name: share for name, share in (fixed or {}).items() if any(a.corpus == name for a in articles)}
    sizes = Counter(a.corpus for a in articles)
    weights = np.array([0.0 if a.corpus in fixed else sizes[a.corpus] ** -balance for a in articles], np.float64)
    rest = 1 - sum(fixed.values())
    if weights.sum() > 0:
        weights *= rest / weights.sum()
    for name, share in fixed.items():
        weights[[a.corpus == name for a in articles]] = share / sizes[name]
    return (weights * (len(weights) / weights.sum())).astype(np.float32) if weights.sum() > 0 else \
        np.ones(len(articles), np.float32)


def seen_toponyms(articles: Iterable[Article], weights: Iterable[float] | None = None) -> dict[str, list[float]]:
    """Annotated name -> its most frequent coordinates in the training data: counted by
    mention, or with `weights` by article, each article adding its weight once to each
    reading it annotates (so that 14 mentions of Paris, Texas in one local paper do not
    outvote Paris, France in the world news)."""
    readings: dict[str, Counter] = defaultdict(Counter)
    articles = list(articles)
    for article, weight in zip(articles, weights if weights is not None else [None] * len(articles)):
        voted = set()
        for toponym in article.toponyms:
            if not isinstance(toponym, dict) or not isinstance(toponym.get("name"), str):
                continue
            lat, lon = _coordinate(toponym.get("lat"), 90), _coordinate(toponym.get("lon"), 180)
            if lat is None or lon is None:
                continue
            reading = toponym["name"].strip(), (round(lat, 4), round(lon, 4))
            if weight is None:
                readings[reading[0]][reading[1]] += 1
            elif reading not in voted:
                voted.add(reading)
                readings[reading[0]][reading[1]] += float(weight)
    return {name: list(counts.most_common(1)[0][0]) for name, counts in sorted(readings.items()) if name}
