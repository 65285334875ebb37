"""Word vectors in every common format, read safely (gensim's pickle only when asked),
and written in word2vec's own formats (never a pickle).

Nothing here imports TensorFlow; gensim is imported by the functions that need it, and
`read_word2vec_binary` (what inference reads a model's vectors with) needs only numpy.
"""

import os
import re

import numpy as np

from dlkit.core.errors import DlkitError
from dlkit.core.files import atomic_path
from dlkit.text.tokens import Vocabulary


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


class Vectors:
    """Word vectors without gensim: the part of its KeyedVectors that inference uses.
    `vectors` (words, vector_size) float32 rows in `index_to_key` order, `key_to_index`,
    and vectors[word] (a row) or vectors[[words]] (their rows stacked)."""

    def __init__(self, words: list[str], vectors: np.ndarray):
        self.index_to_key, self.vectors = words, vectors
        self.key_to_index = {word: i for i, word in enumerate(words)}
        self.vector_size = int(vectors.shape[1])

    def __len__(self) -> int:
        return len(self.index_to_key)

    def __getitem__(self, words: "str | list[str]") -> np.ndarray:
        if isinstance(words, str):
            return self.vectors[self.key_to_index[words]]
        return self.vectors[[self.key_to_index[word] for word in words]]


def read_word2vec_binary(path: str) -> Vectors:
    """word2vec's binary format (what save_embeddings writes), read as gensim reads it: a
    "count dim" line, then for each word its UTF-8 bytes, a space and dim native float32
    values; a newline before a word (the C tool's) is dropped, and a word seen twice keeps
    its first vector. One line naming the file for anything else."""
    kind = embeddings_format(path)
    if kind != "word2vec-binary":
        raise DlkitError(f"{path}: expected word2vec binary vectors, not {kind}")
    with open(path, "rb") as f:
        data = f.read()
    end = data.find(b"\n")
    count, dim = (int(v) for v in data[:end].split())
    start, width = end + 1, 4 * dim
    words, offsets, seen = [], [], set()
    for _ in range(count):
        space = data.find(b" ", start)
        if space < 0 or len(data) - (space + 1) < width:
            raise DlkitError(f"cannot read word vectors {path}: it ends after {len(words)} of its {count} words")
        try:
            word = data[start:space].decode("utf-8").lstrip("\n")
        except UnicodeDecodeError:
            raise DlkitError(f"cannot read word vectors {path}: word {len(words) + 1} is not UTF-8") from None
        if word not in seen:
            seen.add(word)
            words.append(word)
            offsets.append(space + 1)
        start = space + 1 + width
    rows = [np.frombuffer(data, np.float32, dim, offset) for offset in offsets]
    return Vectors(words, np.stack(rows) if rows else np.zeros((0, dim), np.float32))


def save_embeddings(vectors, path: str, binary: bool = True) -> None:
    """word2vec binary (or text with a header), written atomically: formats every tool
    reads and that cannot run code when loaded."""
    with atomic_path(path) as tmp:
        vectors.save_word2vec_format(tmp, binary=binary)


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
