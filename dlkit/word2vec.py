"""Word2Vec with gensim: train word vectors on plain text, query, evaluate and export them.

    from dlkit.word2vec import Word2VecConfig, train, analogy
    vectors = train(["corpus.txt"], Word2VecConfig(epochs=10))
    analogy(vectors, positive=["king", "woman"], negative=["man"])

Texts are tokenized with `dlkit.text.tokenize`, as everywhere in dlkit, so the vectors fit
the other language tasks. Vectors are written in word2vec binary format (never gensim's
pickle), which `dlkit.text.load_embeddings` reads back.
"""

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

from dlkit.errors import DlkitError, ItemError
from dlkit.inputs import expand_paths
from dlkit.modelio import atomic_path
from dlkit.text import load_embeddings, tokenize

TEXT_EXTENSIONS = frozenset({".txt", ".cor"})


# ---- Configuration ---------------------------------------------------------------------

@dataclass
class Word2VecConfig:
    # 100 dimensions: Mikolov et al.'s lower end, enough for corpora of millions of words.
    dim: int = 100
    # Five words either side captures topic as well as syntax (gensim's default).
    window: int = 5
    # Words seen fewer times get poor vectors and only bloat the file (gensim's default).
    min_count: int = 5
    # Five passes suit large corpora; small ones need more (pass --epochs 20 or so).
    epochs: int = 5
    # Skip-gram is slower but better for rare words; CBOW (the default) is fast.
    sg: bool = False
    # Five noise words per positive pair: the paper's advice for large corpora.
    negative: int = 5
    # One worker per core (up to 4): gensim scales well, beyond that returns fall off.
    workers: int = max(1, min(4, os.cpu_count() or 1))
    # Seeds the initial vectors; runs are bit-identical only with workers=1.
    seed: int = 1
    # How many neighbours `similar` and `analogy` report.
    top: int = 10


# ---- Data ------------------------------------------------------------------------------

def corpus_paths(args: list[str]) -> list[str]:
    """Files named, and the .txt/.cor files of folders; missing ones are an error."""
    paths = expand_paths(args, extensions=TEXT_EXTENSIONS)
    for path in paths:
        if not os.path.isfile(path):
            raise DlkitError(f"corpus file not found: {path}")
    if not paths:
        raise DlkitError(f"no text files in {' '.join(args)}")
    return paths


def write_tokenized(paths: list[str], target: str) -> int:
    """Writes `paths` as one tokenized, lower-cased line per input line (the LineSentence
    layout gensim's fast corpus_file training reads); returns the number of tokens."""
    words = 0
    with open(target, "w", encoding="utf-8") as out:
        for path in paths:
            try:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        tokens = tokenize(line)
                        if tokens:
                            out.write(" ".join(tokens) + "\n")
                            words += len(tokens)
            except UnicodeDecodeError as e:
                raise DlkitError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
            except OSError as e:
                raise DlkitError(f"cannot read {path}: {e.strerror}") from None
    return words


# ---- Training --------------------------------------------------------------------------

def _progress_callback(on_epoch: Callable[..., None]):
    from gensim.models.callbacks import CallbackAny2Vec

    class Progress(CallbackAny2Vec):
        """Reports each epoch's words/s: gensim's fast path calls no per-batch hooks."""

        def on_epoch_begin(self, model):
            self.started = time.perf_counter()

        def on_epoch_end(self, model):
            seconds = max(time.perf_counter() - self.started, 1e-9)
            on_epoch(1, words_per_s=int(model.corpus_total_words / seconds))

    return Progress()


def train(paths: list[str], config: Word2VecConfig | None = None,
          on_epoch: Callable[..., None] | None = None):
    """Word vectors (gensim KeyedVectors) trained on text files, one sentence or document a
    line. `on_epoch(1, words_per_s=...)` is called after each epoch."""
    from gensim.models import Word2Vec

    config = config or Word2VecConfig()
    with tempfile.TemporaryDirectory(prefix="dlkit-w2v-") as folder:
        corpus = os.path.join(folder, "corpus.txt")
        if write_tokenized(paths, corpus) == 0:
            raise DlkitError(f"no words in {', '.join(paths)}")
        model = Word2Vec(vector_size=config.dim, window=config.window, min_count=config.min_count,
                         sg=int(config.sg), negative=config.negative, workers=config.workers,
                         seed=config.seed)
        model.build_vocab(corpus_file=corpus)
        if not model.wv.key_to_index:
            raise DlkitError(f"no word occurs {config.min_count} times (--min-count) in {', '.join(paths)}")
        callbacks = [_progress_callback(on_epoch)] if on_epoch else []
        model.train(corpus_file=corpus, total_words=model.corpus_total_words, epochs=config.epochs,
                    callbacks=callbacks)
    return model.wv


def save(vectors, path: str, binary: bool = True) -> None:
    """word2vec binary (or text with a header), written atomically."""
    with atomic_path(path) as tmp:
        vectors.save_word2vec_format(tmp, binary=binary)


def load(path: str, allow_pickle: bool = False):
    return load_embeddings(path, allow_pickle=allow_pickle)


# ---- Queries ---------------------------------------------------------------------------

def _known(vectors, words: list[str]) -> list[str]:
    """Words as the vectors spell them (lower-cased when only that form is known)."""
    found, unknown = [], []
    for word in words:
        key = word if word in vectors.key_to_index else word.lower()
        (found if key in vectors.key_to_index else unknown).append(key if key in vectors.key_to_index else word)
    if unknown:
        raise ItemError(f"not in the vocabulary ({len(vectors.key_to_index)} words): {', '.join(unknown)}")
    return found


def _neighbours(pairs) -> list[dict]:
    return [{"word": word, "score": round(float(score), 6)} for word, score in pairs]


def similar(vectors, word: str, top: int = 10) -> list[dict]:
    """The `top` nearest words by cosine similarity; ItemError for an unknown word."""
    return _neighbours(vectors.most_similar(_known(vectors, [word]), topn=top))


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


def analogy(vectors, positive: list[str], negative: list[str] = (), top: int = 10) -> list[dict]:
    """Words nearest to sum(positive) - sum(negative) (3CosAdd), the query words excluded."""
    try:
        positive, negative = _known(vectors, list(positive)), _known(vectors, list(negative))
    except ItemError as e:
        raise DlkitError(str(e)) from None
    return _neighbours(vectors.most_similar(positive=positive, negative=list(negative), topn=top))


def default_questions() -> str:
    """Mikolov's questions-words.txt, shipped with gensim."""
    from gensim.test.utils import datapath

    return datapath("questions-words.txt")


def evaluate(vectors, questions: str | None = None) -> tuple[list[dict], dict]:
    """Analogy accuracy per section and overall. Questions with a word the vectors lack
    are skipped (and counted), as in Mikolov's evaluation."""
    questions = questions or default_questions()
    if not os.path.isfile(questions):
        raise DlkitError(f"questions file not found: {questions}")
    with open(questions, encoding="utf-8", errors="replace") as f:
        asked = sum(1 for line in f if line.strip() and not line.startswith(":"))
    try:
        _, sections = vectors.evaluate_word_analogies(questions)
    except Exception as e:
        raise DlkitError(f"cannot evaluate with {questions}: {str(e).splitlines()[0][:200]}") from None
    records = []
    for section in sections:
        correct, total = len(section["correct"]), len(section["correct"]) + len(section["incorrect"])
        records.append({"input": section["section"], "accuracy": round(correct / total, 4) if total else None,
                        "correct": correct, "total": total})
    overall = records.pop() if records and records[-1]["input"] == "Total accuracy" else None
    correct, total = (overall["correct"], overall["total"]) if overall else (0, 0)
    metrics = {"input": questions, "accuracy": round(correct / total, 4) if total else 0.0,
               "correct": correct, "total": total, "skipped": asked - total}
    return records, metrics
