"""Text shared by the language tasks: one tokenizer, word vocabularies, word vectors.

Sentiment, Word2Vec and geo-location tokenize the same way, so vectors trained by one
fit the others. Nothing here imports TensorFlow.
"""

import json
import os
import re
from collections import Counter
from typing import Iterable

import numpy as np

from dlkit.errors import DlkitError

# Words (with inner hyphens and apostrophes split the way GloVe and the Penn Treebank
# do: "don't" -> "do n't", "it's" -> "it 's"), numbers, and single punctuation marks.
_TOKEN = re.compile(r"\w+(?=n't\b)|n't\b|'\w+|\w+(?:-\w+)*|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased tokens; punctuation kept, since "!" and "?" carry meaning."""
    return _TOKEN.findall(text.lower())


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
        from dlkit.modelio import write_json

        write_json(path, {"tokens": self.tokens[2:]})

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        try:
            with open(path, encoding="utf-8") as f:
                return cls(json.load(f)["tokens"])
        except (OSError, ValueError, KeyError) as e:
            raise DlkitError(f"cannot read vocabulary {path}: {e}") from None


# ---- Word vectors ----------------------------------------------------------------------

def embeddings_format(path: str) -> str:
    """"word2vec-binary", "word2vec-text", "glove-text" or "gensim" (a pickle), from the
    file's first bytes."""
    if not os.path.isfile(path):
        raise DlkitError(f"embeddings file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head[:1] == b"\x80":
        return "gensim"
    first, _, rest = head.partition(b"\n")
    if re.fullmatch(rb"\s*\d+\s+\d+\s*", first):
        try:
            second = rest.split(b"\n", 1)[0].decode("utf-8")
        except UnicodeDecodeError:
            return "word2vec-binary"
        dims = int(first.split()[1])
        return "word2vec-text" if len(second.split()) == dims + 1 else "word2vec-binary"
    try:
        fields = first.decode("utf-8").split()
        [float(x) for x in fields[1:]]
    except (UnicodeDecodeError, ValueError):
        raise DlkitError(f"{path}: not a word-vector file (word2vec binary/text, GloVe text or gensim)") from None
    if len(fields) < 2:
        raise DlkitError(f"{path}: not a word-vector file (word2vec binary/text, GloVe text or gensim)")
    return "glove-text"


def load_embeddings(path: str, allow_pickle: bool = False):
    """Word vectors as gensim KeyedVectors, whatever the file's format.

    gensim's own format is a pickle, which can run code when loaded: it is read only
    with `allow_pickle` (a file you trust); dlkit itself writes word2vec binary.
    """
    from gensim.models import KeyedVectors

    kind = embeddings_format(path)
    try:
        if kind == "gensim":
            if not allow_pickle:
                raise DlkitError(
                    f"{path} is a gensim native file, a pickle that can run code when loaded; "
                    f"pass --allow-pickle if you trust it, or export it to word2vec format")
            return KeyedVectors.load(path)
        return KeyedVectors.load_word2vec_format(
            path, binary=kind == "word2vec-binary", no_header=kind == "glove-text")
    except DlkitError:
        raise
    except Exception as e:
        raise DlkitError(f"cannot read word vectors {path} ({kind}): {str(e).splitlines()[0][:200]}") from None


def embedding_matrix(vocabulary: Vocabulary, vectors) -> tuple[np.ndarray, float]:
    """Rows for each vocabulary id from `vectors` (small random rows for words it lacks,
    zeros for padding), and the share of the vocabulary the vectors covered."""
    rng = np.random.default_rng(0)
    scale = float(np.std(vectors.vectors)) or 0.1
    matrix = rng.normal(0, scale, size=(len(vocabulary), vectors.vector_size)).astype(np.float32)
    matrix[0] = 0
    found = 0
    for token, i in vocabulary.ids.items():
        if i > 1 and token in vectors.key_to_index:
            matrix[i] = vectors[token]
            found += 1
    return matrix, found / max(1, len(vocabulary) - 2)
