"""The settings of a sentiment model: every default with why it is the default; the
options of `dlkit train-sentiment` are made from them. TF-free."""

from dataclasses import dataclass

from dlkit.core.config import setting, validate
from dlkit.core.errors import DlkitError

ARCHS = ("bilstm", "bigru", "cnn", "ngrams")
CELLS = ("keras", "dlkit-lstm")
POOLINGS = ("last", "max", "attention")


@dataclass
class Config:
    # A bidirectional LSTM reads negation and contrast ("not good", "but") both ways;
    # bigru trains a little faster; cnn (Kim, 2014: n-gram filters, max over time) faster
    # still; ngrams (fastText-style) is much faster, a bit weaker.
    arch: str = setting("bilstm", "bilstm/bigru over word embeddings, cnn: filters over word windows, or ngrams: "
                        "a fast fastText-style bag of words and bigrams.", choices=ARCHS)
    # keras: the built-in (fast, fused) LSTM; dlkit-lstm: the gate equations written out
    # in DlkitLSTMCell, for teaching and checking; same numbers, slower.
    cell: str = setting("keras", "dlkit-lstm: the LSTM written out from its gate equations (slower, same results).",
                        choices=CELLS)
    # Tokens kept per text: SST-2 sentences are under 60; long reviews are cut here.
    max_length: int = setting(50, "Tokens kept per text; longer texts are truncated.", min=1)
    # 20k words cover ~98% of SST-2's tokens; rarer words share the <unk> vector.
    vocab_size: int = setting(20000, min=3)
    # Words seen once are mostly typos and names; 1 keeps them for small data sets.
    min_count: int = setting(1, "Ignore words seen fewer times in training.", min=1)
    # Learned embeddings only; a --embeddings file sets its own width.
    embedding_dim: int = setting(100, "Width of learned embeddings (--embeddings sets its own).", min=1)
    # Word vectors (word2vec binary/text, GloVe text, gensim) to start the embedding from.
    embeddings: str | None = setting(None, "Pretrained word vectors to start from (word2vec binary/text, "
                                     "GloVe text, gensim).", path="file")
    # Frozen vectors generalise to words unseen in training; fine-tuning fits the task.
    freeze_embeddings: bool = setting(False, "Keep --embeddings fixed, or train them with the rest.",
                                      flags=("--freeze-embeddings/--fine-tune-embeddings",))
    # With --embeddings, words the vectors know but the training texts never show (5.6% of
    # GLUE-dev's tokens for SST-2, "warmly", "repulsively", ...) get the file's vector,
    # mapped into the fine-tuned space by a linear fit over the shared words (Kiros et al.,
    # 2015, "vocabulary expansion"), instead of <unk>: up to this many words in all, the
    # file's most frequent first. 0 keeps the training vocabulary only.
    expand_vocabulary: int = setting(50000, "With --embeddings: grow the vocabulary to this many words from the "
                                     "vectors file, so that words never seen in training keep a (linearly mapped) "
                                     "vector instead of <unk>; 0: off.", min=0)
    # gensim's native format is a pickle; read only when the user trusts the file.
    allow_pickle: bool = setting(False, "Read a gensim native --embeddings file (a pickle: trusted files only).",
                                 flags=("--allow-pickle",))
    # Units per direction: 64 is plenty for sentence-level sentiment on a CPU.
    units: int = setting(64, "Recurrent units per direction.", min=1)
    # How the recurrent layer's outputs become one vector: "last" (the final state of each
    # direction) or "max" (the largest value of each unit over the text: a strong word
    # anywhere counts as much as one at either end) or "attention" (a learned weighting of
    # the steps: the words that carry the sentiment get most of the weight).
    pooling: str = setting("last", "last: final state of each direction; max: each unit's maximum over the text; "
                           "attention: a learned weighted mean of the steps.", choices=POOLINGS)
    # Stacked recurrent layers: a second one reads phrases the first has composed.
    layers: int = setting(1, "Stacked bidirectional recurrent layers.", min=1)
    # Dropout on embeddings and on the sentence vector: the main guard against overfitting.
    dropout: float = setting(0.4, min=0, max=0.95)
    # The CNN's filters per width: 3, 4 and 5 words, 100 each, as Kim (2014).
    filters: int = setting(100, min=1, cli=False)
    filter_widths: tuple[int, ...] = setting((3, 4, 5), cli=False)
    # Width of the n-gram model's embeddings and its hashed bigram table (fastText style).
    ngram_dim: int = setting(32, min=1, cli=False)
    ngram_buckets: int = setting(50000, min=1, cli=False)
    epochs: int = setting(4, min=1)
    batch_size: int = setting(128, min=1, flags=("-b", "--batch-size"))
    # Adam's step; None: 2e-3 for the recurrent models, 1e-2 for ngrams, whose averaged
    # embeddings get gradients divided by the text's length.
    learning_rate: float | None = setting(None, "Adam's learning rate [default: 0.002; 0.01 for ngrams].",
                                          min=0, min_open=True)
    # Share of the training data held out for validation when no --validation file is given.
    validation_split: float = setting(0.1, min=0, max=0.5, min_open=True, cli=False)
    # Which texts are held out: fixed apart from --seed, so that runs with different
    # seeds (and the members of an ensemble) are scored on the same texts.
    split_seed: int = setting(0, cli=False)
    # Models trained with seeds seed, seed+1, ... whose probabilities are averaged into one
    # model: each errs on different texts, so the average depends less on one seed's
    # luck, for N times the training time and size.
    ensemble: int = setting(1, "Train this many models (seeds --seed, --seed+1, ...) and average their "
                            "probabilities.", min=1)
    # CSV/TSV/JSON Lines column names; None: detected from the header (see TEXT_COLUMNS).
    text_col: str | None = setting(None, "CSV/TSV/JSON Lines column with the texts "
                                   "[default: detected: text, sentence, review, ...].",
                                   flags=("--text-field",), aliases=("--text-col",))
    label_col: str | None = setting(None, "CSV/TSV/JSON Lines column with the labels "
                                    "[default: detected: label, sentiment, class, ...].",
                                    flags=("--label-field",), aliases=("--label-col",))
    # Names for the sorted data labels ("negative,positive"); None: 0/1 become
    # negative/positive, any other labels are kept as they are.
    label_names: tuple[str, ...] | None = setting(None, "Names for the sorted data labels, comma-separated, e.g. "
                                                  "negative,positive [default: 0/1 become negative/positive, "
                                                  "other labels are kept].")


@dataclass
class TrainData:
    # A separate labelled file measures transfer better than a share of DATA; None: hold
    # out Config.validation_split of DATA.
    validation: str | None = setting(None, "Labelled data for validation and early stopping "
                                     "[default: 10% of DATA held out].", path="any")
    # Fine-tuning: a model trained on many domains, then a few epochs on the one that
    # matters; or a shipped model on one's own reviews. Its vocabulary and labels are kept.
    init_from: str | None = setting(None, "Start from this sentiment model's weights, vocabulary, labels and "
                                    "network (fine-tuning); 'shipped': the shipped model.", path="model")


# The settings a model's weights and vocabulary fix: --init-from takes them from the
# model it starts from (how long a text may be is not one of them).
ARCHITECTURE = ("arch", "cell", "vocab_size", "min_count", "embedding_dim", "embeddings", "freeze_embeddings",
                "expand_vocabulary", "units", "pooling", "layers", "filters", "filter_widths", "ngram_dim",
                "ngram_buckets")


@dataclass
class PredictConfig:
    # Texts are short: 256 a batch keeps the model busy and a pipe's answers prompt.
    batch_size: int = setting(256, "Texts per batch; with -, results for each batch are written as it "
                              "completes.", min=1, flags=("-b", "--batch-size"))


@dataclass
class EvaluateConfig:
    batch_size: int = setting(256, "Texts per batch.", min=1, flags=("-b", "--batch-size"))
    # The matrix is printed on stderr anyway; a picture only when asked.
    plot: str | None = setting(None, "Also draw the confusion matrix to this PNG.", output=(".png",))


def check(config: Config) -> Config:
    """The field checks (dlkit.core.config.validate) and the one combination that cannot
    work, before any data is read."""
    validate(config)
    if config.cell == "dlkit-lstm" and config.arch != "bilstm":
        raise DlkitError(f"--cell dlkit-lstm is an LSTM cell; it needs --arch bilstm, not {config.arch}")
    return config
