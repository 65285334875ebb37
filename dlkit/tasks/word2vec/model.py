"""Word2Vec with gensim: train word vectors on plain text, query, evaluate and export them.

    run = train(["corpus.txt"], "vectors.bin", Config(epochs=10))
    vectors = load("vectors.bin")
    vectors.analogy(positive=["king", "woman"], negative=["man"])

Training is the shared Word2Vec trainer (dlkit.text.word2vec); vectors are written in
word2vec binary format (never gensim's pickle), which `load` reads back with every other
common format (dlkit.text.vectors). No TensorFlow.
"""

import os

from dlkit.core import files
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import expand_paths
from dlkit.core.task import Predictor, Run
from dlkit.tasks.word2vec.config import TOP, Config
from dlkit.text import word2vec
from dlkit.text.vectors import load_embeddings, save_embeddings

TEXT_EXTENSIONS = frozenset({".txt", ".cor"})


# ---- Training --------------------------------------------------------------------------

def corpus_paths(args: list[str]) -> list[str]:
    """Files named, and the .txt/.cor files of folders; missing ones are an error."""
    paths = expand_paths(args, extensions=TEXT_EXTENSIONS)
    for path in paths:
        if not os.path.isfile(path):
            raise DlkitError(f"corpus file not found: {path}")
    if not paths:
        raise DlkitError(f"no text files in {' '.join(args)}")
    return paths


def train(corpus: list[str], output: str, config: Config | None = None, events: Events = SILENT) -> Run:
    """Vectors trained on `corpus` (text files, folders of them, "-" for names on stdin),
    written to `output` as word2vec binary whatever its extension."""
    files.check_output(output, what="vectors file")
    config = config or Config()
    paths = corpus_paths(list(corpus))
    vectors = word2vec.train(paths, config, events)
    save_embeddings(vectors, output)
    return Run(output, summary={"input": ", ".join(paths), "output": output, "words": len(vectors.key_to_index),
                                "dim": config.dim, "epochs": config.epochs})


# ---- Queries ---------------------------------------------------------------------------

def load(path: str, allow_pickle: bool = False, top: int = TOP) -> "WordVectors":
    """Vectors in any format dlkit.text.vectors reads (gensim's pickle only with
    `allow_pickle`). dlkit ships no vectors of its own, so a path is needed."""
    return WordVectors(load_embeddings(path, allow_pickle=allow_pickle), path, top)


def _neighbours(pairs) -> list[dict]:
    return [{"word": word, "score": round(float(score), 6)} for word, score in pairs]


class WordVectors(Predictor):
    """Loaded word vectors. `predict(words)` answers each word with its nearest words:
    {"input", "word", "score", "top"} (the nearest first), or an error record for a word
    the vectors lack."""

    batch_size = 256

    def __init__(self, vectors, path: str, top: int = TOP):
        self.vectors, self.path, self.top = vectors, path, top

    def predict_batch(self, words: list[str]) -> list:
        results = []
        for word in words:
            try:
                neighbours = self.similar(word.strip())
            except ItemError as e:
                results.append(e)
                continue
            results.append({"word": neighbours[0]["word"], "score": neighbours[0]["score"], "top": neighbours})
        return results

    def _known(self, words: list[str]) -> list[str]:
        """Words as the vectors spell them (lower-cased when only that form is known)."""
        keys = self.vectors.key_to_index
        found, unknown = [], []
        for word in words:
            key = word if word in keys else word.lower()
            (found if key in keys else unknown).append(key if key in keys else word)
        if unknown:
            raise ItemError(f"not in the vocabulary ({len(keys)} words): {', '.join(unknown)}")
        return found

    def similar(self, word: str) -> list[dict]:
        """The `top` nearest words by cosine similarity; ItemError for an unknown word."""
        return _neighbours(self.vectors.most_similar(self._known([word]), topn=self.top))

    def analogy(self, positive: list[str], negative: list[str] = ()) -> list[dict]:
        """Words nearest to sum(positive) - sum(negative) (3CosAdd), the query words excluded."""
        try:
            positive, negative = self._known(list(positive)), self._known(list(negative))
        except ItemError as e:
            raise DlkitError(str(e)) from None
        return _neighbours(self.vectors.most_similar(positive=positive, negative=negative, topn=self.top))

    def export(self, target: str) -> dict:
        """Writes the vectors to `target`: word2vec text (with a header) if it ends in
        .txt, else word2vec binary; returns the record describing it."""
        binary = not target.lower().endswith(".txt")
        save_embeddings(self.vectors, target, binary=binary)
        return {"input": self.path, "output": target, "format": "word2vec-binary" if binary else "word2vec-text",
                "words": len(self.vectors.key_to_index), "dim": self.vectors.vector_size}


def parse_analogy(expression: list[str]) -> tuple[list[str], list[str]]:
    """["king", "-", "man", "+", "woman"] (or the same as one string) -> positive and
    negative words. Operators must stand apart, since words may contain hyphens."""
    tokens = " ".join(expression).split()
    positive, negative, sign = [], [], "+"
    for token in tokens:
        if token in ("+", "-"):
            sign = token
        else:
            (positive if sign == "+" else negative).append(token)
            sign = "+"
    if not positive:
        raise DlkitError(f"no positive word in the analogy {' '.join(tokens)!r} (write e.g. king - man + woman)")
    return positive, negative


# ---- Evaluation ------------------------------------------------------------------------

def default_questions() -> str:
    """Mikolov's questions-words.txt, shipped with gensim."""
    from gensim.test.utils import datapath

    return datapath("questions-words.txt")


def evaluate(data: str | None, model: "str | WordVectors", allow_pickle: bool = False) -> dict:
    """Analogy accuracy of `model` (a path or loaded vectors) on the questions file `data`
    (None: default_questions()): the overall metrics, with one record per section under
    "sections". Questions with a word the vectors lack are skipped (and counted), as in
    Mikolov's evaluation."""
    vectors = model if isinstance(model, WordVectors) else load(model, allow_pickle)
    questions = data or default_questions()
    if not os.path.isfile(questions):
        raise DlkitError(f"questions file not found: {questions}")
    with open(questions, encoding="utf-8", errors="replace") as f:
        asked = sum(1 for line in f if line.strip() and not line.startswith(":"))
    try:
        _, sections = vectors.vectors.evaluate_word_analogies(questions)
    except Exception as e:
        raise DlkitError(f"cannot evaluate with {questions}: {str(e).splitlines()[0][:200]}") from None
    records = []
    for section in sections:
        correct, total = len(section["correct"]), len(section["correct"]) + len(section["incorrect"])
        records.append({"input": section["section"], "accuracy": round(correct / total, 4) if total else None,
                        "correct": correct, "total": total})
    overall = records.pop() if records and records[-1]["input"] == "Total accuracy" else None
    correct, total = (overall["correct"], overall["total"]) if overall else (0, 0)
    return {"input": questions, "accuracy": round(correct / total, 4) if total else 0.0,
            "correct": correct, "total": total, "skipped": asked - total, "sections": records}
