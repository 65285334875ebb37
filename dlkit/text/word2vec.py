"""Word2Vec training with gensim, for every task that needs word vectors of its own.

    vectors = train(["corpus.txt"], Word2VecConfig(epochs=10))
    save_embeddings(vectors, "vectors.bin")          # dlkit.text.vectors

Texts are tokenized with `dlkit.text.tokens.tokenize`, as everywhere in dlkit, so the
vectors fit the other language tasks. gensim is imported on first use; nothing here
imports TensorFlow.
"""

import os
import tempfile
import time
from dataclasses import dataclass

from dlkit.core.config import setting
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.text.tokens import tokenize


@dataclass
class Word2VecConfig:
    # 100 dimensions: Mikolov et al.'s lower end, enough for corpora of millions of words.
    dim: int = setting(100, "Vector size.", min=1)
    # Five words either side captures topic as well as syntax (gensim's default).
    window: int = setting(5, "Context words on each side.", min=1)
    # Words seen fewer times get poor vectors and only bloat the file (gensim's default).
    min_count: int = setting(5, "Ignore words seen fewer times.", min=1)
    # Five passes suit large corpora; small ones need more (pass --epochs 20 or so).
    epochs: int = setting(5, min=1)
    # Skip-gram is slower but better for rare words; CBOW (the default) is fast.
    sg: bool = setting(False, "Skip-gram or CBOW.", flags=("--sg/--cbow",))
    # Five noise words per positive pair: the paper's advice for large corpora.
    negative: int = setting(5, "Negative samples per word.", min=0)
    # One worker per core (up to 4): gensim scales well, beyond that returns fall off.
    workers: int = setting(max(1, min(4, os.cpu_count() or 1)), "Training threads (1 for bit-identical reruns).",
                           min=1)
    # Seeds the initial vectors; runs are bit-identical only with workers=1.
    seed: int = setting(1)


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


def _progress_callback(advance):
    from gensim.models.callbacks import CallbackAny2Vec

    class Progress(CallbackAny2Vec):
        """Reports each epoch's words/s: gensim's fast path calls no per-batch hooks."""

        def on_epoch_begin(self, model):
            self.started = time.perf_counter()

        def on_epoch_end(self, model):
            seconds = max(time.perf_counter() - self.started, 1e-9)
            advance(1, words_per_s=int(model.corpus_total_words / seconds))

    return Progress()


def train(paths: list[str], config: Word2VecConfig | None = None, events: Events = SILENT):
    """Word vectors (gensim KeyedVectors) trained on text files, one sentence or document a
    line; each epoch advances a "word2vec" progress of `events`."""
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
        with events.progress(config.epochs, "word2vec") as advance:
            model.train(corpus_file=corpus, total_words=model.corpus_total_words, epochs=config.epochs,
                        callbacks=[_progress_callback(advance)])
    return model.wv
