"""Word vectors in every common format, read safely (gensim's pickle only when asked),
and written in word2vec's own formats (never a pickle).

Nothing here imports TensorFlow.
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
