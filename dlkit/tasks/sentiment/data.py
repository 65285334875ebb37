"""Labelled texts for sentiment models, from every layout dlkit reads: a folder of .txt
files per class (aclImdb), CSV/TSV with a header, JSON Lines. No TensorFlow.

Unreadable lines or files are skipped and reported through `events`.
"""

import csv
import json
import math
import os
import random
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.text.tokens import Vocabulary, tokenize

TEXT_COLUMNS = ("text", "sentence", "review", "content", "comment", "tweet", "body", "document")
LABEL_COLUMNS = ("label", "sentiment", "class", "polarity", "target", "category", "rating", "y")
# SST-2, IMDB exports and most GLUE-style files code sentiment as 0/1; users expect words.
BINARY_NAMES = {"0": "negative", "1": "positive"}
# aclImdb's unlabelled reviews sit in train/unsup beside train/pos and train/neg.
UNLABELLED_FOLDERS = frozenset({"unsup"})


@dataclass
class Examples:
    texts: list[str]
    labels: list[str]
    source: str


def read_examples(path: str, text_col: str | None = None, label_col: str | None = None,
                  split: str = "train", events: Events = SILENT) -> Examples:
    """Labelled texts from a folder per class of .txt files, a CSV/TSV file with a header,
    or JSON Lines. A folder holding `train/` and `test/` (aclImdb) is read at `split`.

    Unreadable lines or files (not UTF-8, empty text, no label) are skipped with a warning
    to `events`.
    """
    if not os.path.exists(path):
        raise DlkitError(f"data not found: {path}")
    if os.path.isdir(path):
        examples = _read_folder(os.path.join(path, split) if os.path.isdir(os.path.join(path, split)) else path, events)
    elif path.lower().endswith((".jsonl", ".json", ".ndjson")):
        examples = _read_jsonl(path, text_col, label_col, events)
    else:
        examples = _read_table(path, text_col, label_col, events)
    if not examples.texts:
        raise DlkitError(f"{path}: no labelled texts found")
    return examples


def _read_folder(root: str, events: Events) -> Examples:
    texts, labels, bad = [], [], []
    classes = sorted(
        d for d in os.listdir(root)
        if d not in UNLABELLED_FOLDERS and not d.startswith(".") and os.path.isdir(os.path.join(root, d))
        and any(f.endswith(".txt") for f in os.listdir(os.path.join(root, d)))
    )
    if not classes:
        raise DlkitError(f"{root}: expected one folder of .txt files per class (like aclImdb's pos/ and neg/)")
    for label in classes:
        folder = os.path.join(root, label)
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".txt"):
                continue
            with open(os.path.join(folder, name), "rb") as f:
                raw = f.read()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(os.path.join(label, name))
                continue
            text = re.sub(r"<br\s*/?>", " ", text).strip()  # aclImdb keeps HTML line breaks
            if text:
                texts.append(text)
                labels.append(label)
    if bad:
        events.warning(f"{root}: skipped {len(bad)} file(s) that are not UTF-8 (first: {bad[0]})")
    return Examples(texts, labels, root)


def _utf8_lines(path: str, events: Events) -> Iterator[tuple[int, str]]:
    """(line number, text) for each UTF-8 line; other lines are counted and reported."""
    bad = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                bad.append(number)
    if bad:
        events.warning(f"{path}: skipped {len(bad)} line(s) that are not UTF-8 (first: line {bad[0]})")


def _pick_column(columns: list[str], given: str | None, known: tuple[str, ...], kind: str, path: str,
                 option: str) -> str:
    if given is not None:
        if given not in columns:
            raise DlkitError(f"{path}: no column {given!r} (columns: {', '.join(columns)})")
        return given
    lowered = {c.strip().lower(): c for c in columns}
    for name in known:
        if name in lowered:
            return lowered[name]
    raise DlkitError(f"{path}: cannot tell which column holds the {kind} (columns: {', '.join(columns)}); "
                     f"pass {option}")


def _read_table(path: str, text_col: str | None, label_col: str | None, events: Events) -> Examples:
    lines = _utf8_lines(path, events)
    first = next(lines, None)
    if first is None:
        raise DlkitError(f"{path}: the file is empty")
    header_line = first[1]
    delimiter = "\t" if path.lower().endswith(".tsv") or "\t" in header_line else ","
    header = next(csv.reader([header_line], delimiter=delimiter))
    text_key = _pick_column(header, text_col, TEXT_COLUMNS, "text", path, "--text-field")
    label_key = _pick_column(header, label_col, LABEL_COLUMNS, "label", path, "--label-field")
    # TSV files (SST-2, GLUE) do not quote: a quote mark in a sentence is just a character.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    rows = csv.DictReader((text for _, text in lines), fieldnames=header, delimiter=delimiter, quoting=quoting)
    return _collect(path, ((row.get(text_key), row.get(label_key)) for row in rows), events)


def _read_jsonl(path: str, text_col: str | None, label_col: str | None, events: Events) -> Examples:
    records, broken = [], []
    for number, line in _utf8_lines(path, events):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        else:
            broken.append(number)
    if broken:
        events.warning(f"{path}: skipped {len(broken)} line(s) that are not JSON objects (first: line {broken[0]})")
    if not records:
        raise DlkitError(f"{path}: no JSON objects found")
    keys = list(dict.fromkeys(k for r in records[:100] for k in r))
    text_key = _pick_column(keys, text_col, TEXT_COLUMNS, "text", path, "--text-field")
    label_key = _pick_column(keys, label_col, LABEL_COLUMNS, "label", path, "--label-field")
    return _collect(path, ((r.get(text_key), r.get(label_key)) for r in records), events)


def _collect(path: str, pairs: Iterable[tuple], events: Events) -> Examples:
    texts, labels, skipped = [], [], 0
    for text, label in pairs:
        text = "" if text is None else str(text).strip()
        label = "" if label is None else str(label).strip()
        if not text or not label:
            skipped += 1
            continue
        texts.append(text)
        labels.append(label)
    if skipped:
        events.warning(f"{path}: skipped {skipped} row(s) with an empty text or label")
    return Examples(texts, labels, path)


# A label written as a number: "1", "-1", "1.0", "+1", "2e3".
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def number(label: str) -> float | None:
    """The label's value if it is written as a (finite) number, else None."""
    value = float(label) if _NUMBER.fullmatch(label) else None
    return value if value is not None and math.isfinite(value) else None


def canonical(label: str) -> str:
    """One spelling per numeric label ("1.0" and "+1" are the label "1"); words as they are."""
    value = number(label)
    if value is None:
        return label
    return str(int(value)) if value.is_integer() else repr(value)


def _label_order(label: str) -> tuple:
    """Numbers in numeric order (2 before 10), then words alphabetically."""
    value = number(label)
    return (value is None, value or 0, label)


def label_map(labels: Iterable[str], names: tuple[str, ...] | None = None) -> dict[str, str]:
    """Data label -> the name the model reports, for the sorted set of data labels; the
    spellings of one number ("1", "1.0") are one label."""
    spellings = sorted(set(labels), key=_label_order)
    found = list(dict.fromkeys(canonical(label) for label in spellings))
    if names:
        if len(names) != len(found):
            raise DlkitError(f"--label-names gives {len(names)} names for {len(found)} labels ({', '.join(found)})")
        named = dict(zip(found, names))
    elif set(found) == set(BINARY_NAMES):
        named = BINARY_NAMES
    else:
        named = {label: label for label in found}
    return {label: named[canonical(label)] for label in spellings}


def mixes_numbers_and_words(labels: Iterable[str]) -> bool:
    """Whether some labels are numbers and others words: a wrong column, or a mistake."""
    return len({number(label) is None for label in labels}) == 2


def encode(texts: Iterable[str], vocabulary: Vocabulary, max_length: int) -> list[np.ndarray]:
    return [vocabulary.encode(split_compounds(tokenize(t), vocabulary)[:max_length]) for t in texts]


def split_compounds(tokens: list[str], vocabulary: Vocabulary) -> list[str]:
    """An unknown hyphenated compound ("bone-crushing", "less-than-objective": a third of
    GLUE-dev's words that neither SST-2 nor GloVe know) is read as its parts."""
    split = []
    for token in tokens:
        if "-" in token and token not in vocabulary.ids:
            split.extend(part for part in token.split("-") if part)
        else:
            split.append(token)
    return split


def hold_out(examples: Examples, share: float, seed: int | None) -> tuple[Examples, Examples]:
    """(the rest, a random `share` of the examples): the validation texts when no
    validation file is given; the same `seed` always holds out the same texts."""
    order = list(range(len(examples.texts)))
    random.Random(seed if seed is not None else 0).shuffle(order)
    cut = max(1, int(len(order) * share))

    def pick(indices: list[int]) -> Examples:
        return Examples([examples.texts[i] for i in indices], [examples.labels[i] for i in indices], examples.source)

    return pick(order[cut:]), pick(order[:cut])


