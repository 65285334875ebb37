"""Words shared by the language tasks: one tokenizer, word vocabularies, padding.

Sentiment, captioning, Word2Vec and geo-location tokenize the same way, so vectors
trained by one fit the others. Nothing here imports TensorFlow.
"""

import re
from collections import Counter
from typing import Iterable

import numpy as np

from dlkit.core.errors import DlkitError
from dlkit.core.files import read_json, write_json

# Words (with inner hyphens and apostrophes split the way GloVe and the Penn Treebank
# do: "don't" -> "do n't", "it's" -> "it 's"), numbers, and single punctuation marks.
_TOKEN = re.compile(r"\w+(?=n't\b)|n't\b|'\w+|\w+(?:-\w+)*|[^\w\s]", re.UNICODE)


def tokenize(text: str, lower: bool = True) -> list[str]:
    """Lower-cased tokens (or as written); punctuation kept, since "!" and "?" carry meaning."""
    return _TOKEN.findall(text.lower() if lower else text)


class Vocabulary:
    """Token <-> id. Id 0 pads, id 1 stands for any unknown token."""

    PAD, UNK = "<pad>", "<unk>"

    def __init__(self, tokens: list[str]):
        self.tokens = [self.PAD, self.UNK] + [t for t in tokens if t not in (self.PAD, self.UNK)]
        self.ids = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, texts: Iterable[list[str]], min_count: int = 1, max_size: int | None = None) -> "Vocabulary":
        """From tokenized texts: the most frequent tokens seen at least `min_count` times
        (ties broken alphabetically, so the same data always gives the same ids)."""
        counts = Counter(token for tokens in texts for token in tokens)
        ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls(ranked[: max_size - 2] if max_size else ranked)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str], length: int | None = None) -> np.ndarray:
        """Ids, cut or zero-padded to `length` when given."""
        ids = [self.ids.get(t, 1) for t in tokens]
        if length is not None:
            ids = ids[:length] + [0] * max(0, length - len(ids))
        return np.asarray(ids, dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids if i != 0]

    def save(self, path: str) -> None:
        write_json(path, {"tokens": self.tokens[2:]})

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        """A vocabulary saved by `save`; one line naming the file for anything else (a
        hand-edited or foreign file must not become wrong ids)."""
        saved = read_json(path, "vocabulary")
        if not isinstance(saved, dict):
            raise DlkitError(f'{path}: expected a JSON object with a "tokens" list, not a {type(saved).__name__}')
        tokens = saved.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise DlkitError(f'{path}: "tokens" must be a list of strings')
        return cls(tokens)


def pad(rows: list, length: int | None = None) -> np.ndarray:
    """Token-id rows as one int32 array, zero-padded (id 0 pads everywhere in dlkit) to
    `length`, or to the longest row (at least 1) so short texts do not pay for long ones;
    longer rows are cut."""
    if length is None:
        length = max(1, max((len(r) for r in rows), default=1))
    out = np.zeros((len(rows), length), np.int32)
    for i, row in enumerate(rows):
        row = row[:length]
        out[i, : len(row)] = row
    return out


# Written here rather than taken from NLTK or spaCy: their sentence models are data
# downloads (no good offline) and a heavy import on the light path; translation inputs
# need only the usual boundaries, and a missed one costs little (the sentence is longer).
_ABBREVIATIONS = frozenset("mr mrs ms dr prof st jr sr vs etc e.g i.e no fig inc ltd co mt gen col lt sgt".split())
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ¿¡])")


def split_sentences(text: str) -> list[str]:
    """`text`'s sentences, in order: it is cut after ., !, ? or … (and any closing quote
    or bracket) where whitespace and a capital, a digit or an opening quote follow, but
    not after a known abbreviation ("Mr. Smith") or a single initial ("J. Smith")."""
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        before = text[start: match.start()].split()
        last = before[-1].rstrip(".").lower() if before else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        sentences.append(text[start: match.start()].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]
