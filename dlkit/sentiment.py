"""Sentiment analysis: a recurrent network (or a bag of n-grams) over word embeddings.

    from dlkit.sentiment import SentimentConfig, Sentiment, train
    train("sst2/train.tsv", "sentiment/", SentimentConfig(epochs=3))
    for record in Sentiment("sentiment/").analyze(["What a wonderful film"]):
        print(record)   # {"input": ..., "label": "positive", "score": 0.97}

A trained model is a folder: `model.keras` (takes int token ids, ends in ClassNames),
`vocab.json` (dlkit.text.Vocabulary) and `config.json` (labels, how data labels map to
them, maximum length, architecture, tokenizer).
"""

import csv
import io
import json
import os
import random
import re
import shutil
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterable, Iterator

import numpy as np

from dlkit import modelio, output, plots, training
from dlkit.errors import DlkitError, check_choice
from dlkit.inputs import TextItem
from dlkit.runtime import keras, tf
from dlkit.text import Vocabulary, embedding_matrix, load_embeddings, tokenize

ARCHS = ("bilstm", "bigru", "cnn", "ngrams")
CELLS = ("keras", "dlkit-lstm")
POOLINGS = ("last", "max", "attention")
TEXT_COLUMNS = ("text", "sentence", "review", "content", "comment", "tweet", "body", "document")
LABEL_COLUMNS = ("label", "sentiment", "class", "polarity", "target", "category", "rating", "y")
# SST-2, IMDB exports and most GLUE-style files code sentiment as 0/1; users expect words.
BINARY_NAMES = {"0": "negative", "1": "positive"}
# aclImdb's unlabelled reviews sit in train/unsup beside train/pos and train/neg.
UNLABELLED_FOLDERS = frozenset({"unsup"})
TOKENIZER = "dlkit.text.tokenize"


# ---- Configuration ---------------------------------------------------------------------

@dataclass
class SentimentConfig:
    # A bidirectional LSTM reads negation and contrast ("not good", "but") both ways;
    # bigru trains a little faster; cnn (Kim, 2014: n-gram filters, max over time) faster
    # still; ngrams (fastText-style) is much faster, a bit weaker.
    arch: str = "bilstm"
    # keras: the built-in (fast, fused) LSTM; dlkit-lstm: the gate equations written out
    # in DlkitLSTMCell, for teaching and checking; same numbers, slower.
    cell: str = "keras"
    # Tokens kept per text: SST-2 sentences are under 60; long reviews are cut here.
    max_length: int = 50
    # 20k words cover ~98% of SST-2's tokens; rarer words share the <unk> vector.
    vocab_size: int = 20000
    # Words seen once are mostly typos and names; 1 keeps them for small data sets.
    min_count: int = 1
    # Learned embeddings only; a --embeddings file sets its own width.
    embedding_dim: int = 100
    # Word vectors (word2vec binary/text, GloVe text, gensim) to start the embedding from.
    embeddings: str | None = None
    # Frozen vectors generalise to words unseen in training; fine-tuning fits the task.
    freeze_embeddings: bool = False
    # With --embeddings, words the vectors know but the training texts never show (5.6% of
    # GLUE-dev's tokens for SST-2, "warmly", "repulsively", ...) get the file's vector,
    # mapped into the fine-tuned space by a linear fit over the shared words (Kiros et al.,
    # 2015, "vocabulary expansion"), instead of <unk>: up to this many words in all, the
    # file's most frequent first. 0 keeps the training vocabulary only.
    expand_vocabulary: int = 50000
    # gensim's native format is a pickle; read only when the user trusts the file.
    allow_pickle: bool = False
    # Units per direction: 64 is plenty for sentence-level sentiment on a CPU.
    units: int = 64
    # How the recurrent layer's outputs become one vector: "last" (the final state of each
    # direction) or "max" (the largest value of each unit over the text: a strong word
    # anywhere counts as much as one at either end) or "attention" (a learned weighting of
    # the steps: the words that carry the sentiment get most of the weight).
    pooling: str = "last"
    # Stacked recurrent layers: a second one reads phrases the first has composed.
    layers: int = 1
    # Dropout on embeddings and on the sentence vector: the main guard against overfitting.
    dropout: float = 0.4
    # The CNN's filters per width: 3, 4 and 5 words, 100 each, as Kim (2014).
    filters: int = 100
    filter_widths: tuple[int, ...] = (3, 4, 5)
    # Width of the n-gram model's embeddings and its hashed bigram table (fastText style).
    ngram_dim: int = 32
    ngram_buckets: int = 50000
    epochs: int = 4
    batch_size: int = 128
    # Adam's step; None: 2e-3 for the recurrent models, 1e-2 for ngrams, whose averaged
    # embeddings get gradients divided by the text's length.
    learning_rate: float | None = None
    # Share of the training data held out for validation when no --validation file is given.
    validation_split: float = 0.1
    # Which texts are held out: fixed apart from --seed, so that runs with different
    # seeds (and the members of an ensemble) are scored on the same texts.
    split_seed: int = 0
    # Models trained with seeds seed, seed+1, ... whose probabilities are averaged into one
    # model: each errs on different texts, so the average depends less on one seed's
    # luck, for N times the training time and size.
    ensemble: int = 1
    # CSV/TSV/JSON Lines column names; None: detected from the header (see TEXT_COLUMNS).
    text_col: str | None = None
    label_col: str | None = None
    # Names for the sorted data labels ("negative,positive"); None: 0/1 become
    # negative/positive, any other labels are kept as they are.
    label_names: tuple[str, ...] | None = None


# ---- Data ------------------------------------------------------------------------------

@dataclass
class Examples:
    texts: list[str]
    labels: list[str]
    source: str


def read_examples(path: str, text_col: str | None = None, label_col: str | None = None,
                  split: str = "train") -> Examples:
    """Labelled texts from a folder per class of .txt files, a CSV/TSV file with a header,
    or JSON Lines. A folder holding `train/` and `test/` (aclImdb) is read at `split`.

    Unreadable lines or files (not UTF-8, empty text, no label) are skipped with a warning.
    """
    if not os.path.exists(path):
        raise DlkitError(f"data not found: {path}")
    if os.path.isdir(path):
        examples = _read_folder(os.path.join(path, split) if os.path.isdir(os.path.join(path, split)) else path)
    elif path.lower().endswith((".jsonl", ".json", ".ndjson")):
        examples = _read_jsonl(path, text_col, label_col)
    else:
        examples = _read_table(path, text_col, label_col)
    if not examples.texts:
        raise DlkitError(f"{path}: no labelled texts found")
    return examples


def _read_folder(root: str) -> Examples:
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
        output.warn(f"{root}: skipped {len(bad)} file(s) that are not UTF-8 (first: {bad[0]})")
    return Examples(texts, labels, root)


def _utf8_lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, text) for each UTF-8 line; other lines are counted and reported."""
    bad = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                bad.append(number)
    if bad:
        output.warn(f"{path}: skipped {len(bad)} line(s) that are not UTF-8 (first: line {bad[0]})")


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


def _read_table(path: str, text_col: str | None, label_col: str | None) -> Examples:
    lines = _utf8_lines(path)
    first = next(lines, None)
    if first is None:
        raise DlkitError(f"{path}: the file is empty")
    header_line = first[1]
    delimiter = "\t" if path.lower().endswith(".tsv") or "\t" in header_line else ","
    header = next(csv.reader([header_line], delimiter=delimiter))
    text_key = _pick_column(header, text_col, TEXT_COLUMNS, "text", path, "--text-col")
    label_key = _pick_column(header, label_col, LABEL_COLUMNS, "label", path, "--label-col")
    # TSV files (SST-2, GLUE) do not quote: a quote mark in a sentence is just a character.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    rows = csv.DictReader((text for _, text in lines), fieldnames=header, delimiter=delimiter, quoting=quoting)
    return _collect(path, ((row.get(text_key), row.get(label_key)) for row in rows))


def _read_jsonl(path: str, text_col: str | None, label_col: str | None) -> Examples:
    records, broken = [], []
    for number, line in _utf8_lines(path):
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
        output.warn(f"{path}: skipped {len(broken)} line(s) that are not JSON objects (first: line {broken[0]})")
    if not records:
        raise DlkitError(f"{path}: no JSON objects found")
    keys = list(dict.fromkeys(k for r in records[:100] for k in r))
    text_key = _pick_column(keys, text_col, TEXT_COLUMNS, "text", path, "--text-col")
    label_key = _pick_column(keys, label_col, LABEL_COLUMNS, "label", path, "--label-col")
    return _collect(path, ((r.get(text_key), r.get(label_key)) for r in records))


def _collect(path: str, pairs: Iterable[tuple]) -> Examples:
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
        output.warn(f"{path}: skipped {skipped} row(s) with an empty text or label")
    return Examples(texts, labels, path)


def _label_order(label: str) -> tuple:
    """Numbers in numeric order (2 before 10), then words alphabetically."""
    number = label.lstrip("-").isdigit()
    return (not number, int(label) if number else 0, label)


def label_map(labels: Iterable[str], names: tuple[str, ...] | None = None) -> dict[str, str]:
    """Data label -> the name the model reports, for the sorted set of data labels."""
    found = sorted(set(labels), key=_label_order)
    if names:
        if len(names) != len(found):
            raise DlkitError(f"--label-names gives {len(names)} names for {len(found)} labels ({', '.join(found)})")
        return dict(zip(found, names))
    if set(found) == set(BINARY_NAMES):
        return dict(BINARY_NAMES)
    return {label: label for label in found}


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


def batch_ids(rows: list[np.ndarray]) -> np.ndarray:
    """Zero-padded to the longest row: short sentences do not pay for long ones."""
    length = max(1, max(len(r) for r in rows))
    batch = np.zeros((len(rows), length), dtype=np.int32)
    for i, row in enumerate(rows):
        batch[i, : len(row)] = row
    return batch


def dataset(rows: list[np.ndarray], targets: np.ndarray, batch_size: int, shuffle: bool,
            seed: int | None = None) -> "tf.data.Dataset":
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    flat = np.concatenate(rows) if rows else np.zeros(0, np.int32)
    ragged = tf.RaggedTensor.from_row_lengths(flat, lengths)
    data = tf.data.Dataset.from_tensor_slices((ragged, targets))
    if shuffle:
        data = data.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    # Padded per batch to its longest text: short sentences do not pay for long ones.
    return data.ragged_batch(batch_size).map(lambda ids, y: (ids.to_tensor(), y)).prefetch(tf.data.AUTOTUNE)


# ---- Model -----------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="dlkit")
class DlkitLSTMCell(keras.layers.Layer):
    """One LSTM step written from the gate equations, for keras.layers.RNN:

        i = σ(x W_i + h U_i + b_i)     input gate: how much new content to write
        f = σ(x W_f + h U_f + b_f)     forget gate: how much of the cell to keep
        g = tanh(x W_g + h U_g + b_g)  candidate content
        o = σ(x W_o + h U_o + b_o)     output gate: how much of the cell to show
        c' = f ⊙ c + i ⊙ g             cell state
        h' = o ⊙ tanh(c')              output and hidden state

    The weights are laid out as keras.layers.LSTM's (kernel, recurrent_kernel, bias, gates
    in the order i, f, g, o), so either layer's weights load into the other.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        units = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * units), initializer="glorot_uniform",
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(units, 4 * units), initializer="orthogonal",
                                                name="recurrent_kernel")
        # Forget-gate bias 1 (Jozefowicz et al. 2015): remember by default early in training.
        self.bias = self.add_weight(shape=(4 * units,), initializer="zeros", name="bias")
        self.bias.assign(np.concatenate([np.zeros(units), np.ones(units), np.zeros(2 * units)]).astype("float32"))

    def call(self, inputs, states, training=False):
        h, c = states
        z = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(h, self.recurrent_kernel) + self.bias
        i, f, g, o = keras.ops.split(z, 4, axis=-1)
        c = keras.ops.sigmoid(f) * c + keras.ops.sigmoid(i) * keras.ops.tanh(g)
        h = keras.ops.sigmoid(o) * keras.ops.tanh(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="dlkit")
class BigramIds(keras.layers.Layer):
    """Appends a hashed id for each pair of neighbouring tokens to the token ids, so the
    n-gram model still takes plain token ids. A pair touching padding gets id 0."""

    def __init__(self, vocab_size: int, buckets: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.buckets = vocab_size, buckets

    def call(self, ids):
        ids = keras.ops.cast(ids, "int64")
        left, right = ids[:, :-1], ids[:, 1:]
        hashed = self.vocab_size + (left * 1000003 + right) % self.buckets
        bigrams = keras.ops.where((left > 0) & (right > 0), hashed, keras.ops.zeros_like(hashed))
        return keras.ops.cast(keras.ops.concatenate([ids, bigrams], axis=1), "int32")

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        return (input_shape[0], None if length is None else max(0, 2 * length - 1))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets}


@keras.saving.register_keras_serializable(package="dlkit")
class AttentionPooling(keras.layers.Layer):
    """Weighted mean over the steps that are not padding, with weights from a small
    learned scorer (Yang et al., 2016, hierarchical attention networks)."""

    def build(self, input_shape):
        width = input_shape[-1]
        self.project = keras.layers.Dense(width, activation="tanh", name="project")
        self.project.build(input_shape)
        self.score = keras.layers.Dense(1, use_bias=False, name="score")
        self.score.build((*input_shape[:-1], width))

    def call(self, inputs, mask=None):
        scores = self.score(self.project(inputs))[..., 0]
        if mask is not None:
            scores = keras.ops.where(mask, scores, keras.ops.full_like(scores, -1e9))
        weights = keras.ops.softmax(scores, axis=1)
        return keras.ops.sum(inputs * weights[..., None], axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="dlkit")
class NotPadding(keras.layers.Layer):
    """True where a token id is a word, False where it is padding (id 0)."""

    def call(self, ids):
        return keras.ops.not_equal(ids, 0)


@keras.saving.register_keras_serializable(package="dlkit")
class ZeroMasked(keras.layers.Layer):
    """Sets the padded steps to zero."""

    def call(self, inputs, mask):
        return inputs * keras.ops.cast(mask, inputs.dtype)[..., None]


@keras.saving.register_keras_serializable(package="dlkit")
class MaskedMax(keras.layers.Layer):
    """Max over time of the steps that are not padding (padded steps hold zeros, which
    would otherwise beat every negative activation)."""

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = keras.ops.where(mask[..., None], inputs, keras.ops.full_like(inputs, -1e9))
        return keras.ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def build_model(config: SentimentConfig, vocab_size: int, labels: list[str],
                embedding_dim: int | None = None) -> "keras.Model":
    """Token ids (batch, length) -> class probabilities, named by a ClassNames layer."""
    check_choice("architecture", config.arch, ARCHS)
    check_choice("cell", config.cell, CELLS)
    check_choice("pooling", config.pooling, POOLINGS)
    if config.cell == "dlkit-lstm" and config.arch != "bilstm":
        raise DlkitError(f"--cell dlkit-lstm is an LSTM cell; it needs --arch bilstm, not {config.arch}")
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    if config.arch == "ngrams":
        x = BigramIds(vocab_size, config.ngram_buckets)(ids)
        x = keras.layers.Embedding(vocab_size + config.ngram_buckets, config.ngram_dim, mask_zero=True,
                                   name="embedding")(x)
        x = keras.layers.GlobalAveragePooling1D()(x)
    elif config.arch == "cnn":
        embedded = keras.layers.Embedding(vocab_size, embedding_dim or config.embedding_dim,
                                          trainable=not (config.embeddings and config.freeze_embeddings),
                                          name="embedding")(ids)
        mask = NotPadding()(ids)
        # Padding is zeroed, so a filter overlapping the text's end sees silence, and
        # left out of the max, so a text scores the same however far it is padded.
        x = keras.layers.Dropout(config.dropout)(ZeroMasked()(embedded, mask))
        x = keras.layers.Concatenate()([
            MaskedMax()(keras.layers.Conv1D(config.filters, width, padding="same", activation="relu",
                                            name=f"filters_{width}")(x), mask=mask)
            for width in config.filter_widths])
    else:
        x = keras.layers.Embedding(vocab_size, embedding_dim or config.embedding_dim, mask_zero=True,
                                   trainable=not (config.embeddings and config.freeze_embeddings),
                                   name="embedding")(ids)
        x = keras.layers.Dropout(config.dropout)(x)
        for layer in range(config.layers):
            sequences = config.pooling != "last" or layer < config.layers - 1
            if config.arch == "bigru":
                recurrent = keras.layers.GRU(config.units, return_sequences=sequences)
            elif config.cell == "dlkit-lstm":
                recurrent = keras.layers.RNN(DlkitLSTMCell(config.units), return_sequences=sequences)
            else:
                recurrent = keras.layers.LSTM(config.units, return_sequences=sequences)
            x = keras.layers.Bidirectional(recurrent)(x)
        if config.pooling == "max":
            x = MaskedMax()(x)
        elif config.pooling == "attention":
            x = AttentionPooling()(x)
    x = keras.layers.Dropout(config.dropout)(x)
    x = keras.layers.Dense(len(labels), activation="softmax", dtype="float32")(x)
    return keras.Model(ids, modelio.ClassNames(labels)(x), name=f"sentiment_{config.arch}")


# ---- Training --------------------------------------------------------------------------

def _split(examples: Examples, share: float, seed: int | None) -> tuple[Examples, Examples]:
    order = list(range(len(examples.texts)))
    random.Random(seed if seed is not None else 0).shuffle(order)
    cut = max(1, int(len(order) * share))

    def pick(indices: list[int]) -> Examples:
        return Examples([examples.texts[i] for i in indices], [examples.labels[i] for i in indices], examples.source)

    return pick(order[cut:]), pick(order[:cut])


def train(data: str, output_dir: str, config: SentimentConfig | None = None,
          train_config: "training.TrainConfig | None" = None, validation: str | None = None,
          callbacks: list | None = None) -> dict:
    """Trains on `data`, writes the model folder `output_dir`; returns the summary record
    (last-epoch metrics, validation accuracy and macro-F1 of the best epoch, time)."""
    config = config or SentimentConfig()
    train_config = train_config or training.TrainConfig()
    if config.epochs < 1:
        raise DlkitError("--epochs must be at least 1")
    if config.ensemble > 1:
        return _train_ensemble(data, output_dir, config, train_config, validation, callbacks)
    examples = read_examples(data, config.text_col, config.label_col)
    if validation:
        held_out = read_examples(validation, config.text_col, config.label_col)
    else:
        examples, held_out = _split(examples, config.validation_split, config.split_seed)
    mapping = label_map(examples.labels, config.label_names)
    labels = list(dict.fromkeys(mapping.values()))
    if len(labels) < 2:
        raise DlkitError(f"{data}: needs at least two labels, found only {labels[0]!r}")
    unknown = sorted(set(held_out.labels) - set(mapping))
    if unknown:
        raise DlkitError(f"{validation or data}: validation labels not in the training data: {', '.join(unknown)}")

    tokens = [tokenize(t)[: config.max_length] for t in examples.texts]
    vocabulary = Vocabulary.build(tokens, min_count=config.min_count, max_size=config.vocab_size)
    matrix = None
    if config.embeddings and config.arch == "ngrams":
        output.warn("--embeddings is not used by --arch ngrams (its embeddings cover word pairs too)")
    elif config.embeddings:
        vectors = load_embeddings(config.embeddings, allow_pickle=config.allow_pickle)
        matrix, coverage = embedding_matrix(vocabulary, vectors)
        output.info(f"{config.embeddings}: vectors for {coverage:.0%} of the {len(vocabulary) - 2} words")

    index = {name: i for i, name in enumerate(labels)}
    train_ids = [vocabulary.encode(t) for t in tokens]
    keep = [i for i, row in enumerate(train_ids) if len(row)]
    train_y = np.array([index[mapping[examples.labels[i]]] for i in keep], dtype=np.int32)
    train_rows = [train_ids[i] for i in keep]
    val_rows = encode(held_out.texts, vocabulary, config.max_length)
    val_y = np.array([index[mapping[label]] for label in held_out.labels], dtype=np.int32)
    output.info(f"{len(train_rows)} training and {len(val_rows)} validation texts, labels {', '.join(labels)}, "
                f"{len(vocabulary)} words")

    trainer = training.Trainer(train_config, output=output_dir)
    batch = config.batch_size * trainer.replicas
    train_data = trainer.distribute(dataset(train_rows, train_y, batch, shuffle=True, seed=train_config.seed))
    val_data = trainer.distribute(dataset(val_rows, val_y, batch, shuffle=False))
    embedding_dim = matrix.shape[1] if matrix is not None else None
    with trainer.scope():
        model = build_model(config, len(vocabulary), labels, embedding_dim)
        if matrix is not None:
            model.get_layer("embedding").set_weights([matrix])
        rate = config.learning_rate or (1e-2 if config.arch == "ngrams" else 2e-3)
        model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy",
                      metrics=["accuracy"], **trainer.compile_options())
    progress = training.ProgressBar(config.epochs, training.steps_in(train_data), "training sentiment")
    history = trainer.fit(model, train_data, val_data, config.epochs, callbacks=[progress, *(callbacks or [])],
                          monitor="val_accuracy", mode="max")

    def build(size: int) -> "keras.Model":
        return build_model(config, size, labels, embedding_dim)

    if matrix is not None and config.expand_vocabulary > len(vocabulary):
        vocabulary, model = expand_vocabulary(model, vocabulary, vectors, config.expand_vocabulary, build)
        output.info(f"vocabulary expanded to {len(vocabulary)} words from {config.embeddings}")
        val_rows = encode(held_out.texts, vocabulary, config.max_length)
    predicted = predict_ids(model, val_rows, config.batch_size).argmax(axis=1)
    metrics = scores(val_y, predicted, labels)
    if trainer.is_chief:
        settings = {**asdict(config), "label_names": list(config.label_names) if config.label_names else None}
        save(output_dir, model, vocabulary, {
            "labels": labels, "label_map": mapping, "max_length": config.max_length, "arch": config.arch,
            "cell": config.cell, "tokenizer": TOKENIZER, "lowercase": True, "settings": settings,
            "validation": {k: metrics[k] for k in ("accuracy", "macro_f1")},
        }, history, build=lambda: build(len(vocabulary)))
    trainer.finish()
    return training.summary(history, model=output_dir, best_val_accuracy=metrics["accuracy"],
                            best_val_macro_f1=metrics["macro_f1"], labels=labels)


def expand_vocabulary(model: "keras.Model", vocabulary: Vocabulary, vectors, limit: int,
                      build: Callable[[int], "keras.Model"]) -> tuple[Vocabulary, "keras.Model"]:
    """The vocabulary grown to the first `limit` words of `vectors`, and the model with an
    embedding row for each new word: its pretrained vector through the least-squares
    linear map (with bias) that takes the pretrained vectors of the trained words to their
    fine-tuned rows. Existing rows are unchanged, so known texts score as before."""
    new = [w for w in vectors.index_to_key[:limit] if w not in vocabulary.ids][: max(0, limit - len(vocabulary))]
    shared = [w for w in vocabulary.tokens[2:] if w in vectors.key_to_index]
    if not new or not shared:
        return vocabulary, model

    def with_bias(words: list[str]) -> np.ndarray:
        return np.hstack([np.stack([vectors[w] for w in words]), np.ones((len(words), 1), np.float32)])

    trained = model.get_layer("embedding").get_weights()[0]
    mapping = np.linalg.lstsq(with_bias(shared), trained[[vocabulary.ids[w] for w in shared]], rcond=None)[0]
    rows = np.vstack([trained, with_bias(new) @ mapping]).astype(trained.dtype)
    grown = Vocabulary(vocabulary.tokens[2:] + new)
    expanded = build(len(grown))
    for old, layer in zip(model.layers, expanded.layers):  # the same builder: the same layers in order
        layer.set_weights([rows] if layer.name == "embedding" else old.get_weights())
    return grown, expanded


def _train_ensemble(data: str, output_dir: str, config: SentimentConfig, train_config: "training.TrainConfig",
                    validation: str | None, callbacks: list | None) -> dict:
    """Trains the members one after another into <output_dir>.members/ (a member already
    there is kept, so an interrupted ensemble resumes), then averages them."""
    members_dir = output_dir.rstrip("/") + ".members"
    first_seed = train_config.seed if train_config.seed is not None else 0
    folders, seconds = [], 0.0
    for k in range(config.ensemble):
        folder = os.path.join(members_dir, f"seed-{first_seed + k}")
        if os.path.exists(os.path.join(folder, "model.keras")):
            output.info(f"{folder}: trained before, kept")
        else:
            output.info(f"ensemble member {k + 1} of {config.ensemble} (seed {first_seed + k})")
            summary = train(data, folder, replace(config, ensemble=1), replace(train_config, seed=first_seed + k),
                            validation, callbacks)
            seconds += summary.get("seconds", 0.0)
        folders.append(folder)
    average(folders, output_dir)
    if validation:
        metrics = evaluate(validation, output_dir, config.text_col, config.label_col)
    else:
        held_out = _split(read_examples(data, config.text_col, config.label_col), config.validation_split,
                          config.split_seed)[1]
        metrics = _score_examples(Sentiment(output_dir), held_out)
    shutil.rmtree(members_dir, ignore_errors=True)
    return {"model": output_dir, "members": config.ensemble, "seconds": round(seconds, 1),
            "best_val_accuracy": metrics["accuracy"], "best_val_macro_f1": metrics["macro_f1"],
            "labels": metrics["labels"]}


def average(folders: list[str], output_dir: str) -> None:
    """One model folder whose model averages the probabilities of the models in
    `folders` (trained on the same data and settings, so with the same vocabulary)."""
    vocabularies = {modelio.sha256(os.path.join(f, "vocab.json")) for f in folders}
    if len(vocabularies) > 1:
        raise DlkitError("the models to average have different vocabularies; train them on the same data "
                         "with the same --vocab-size, --min-count and --max-length")
    members = [Sentiment(f).model for f in folders]
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    outputs = []
    for k, member in enumerate(members):
        # A copy under a unique name: the same architecture repeats its layer names.
        clone = keras.Model(member.inputs[0], member.outputs[0], name=f"member_{k}")
        outputs.append(clone(ids))
    with open(os.path.join(folders[0], "config.json"), encoding="utf-8") as f:
        settings = json.load(f)
    labels = settings["labels"]
    model = keras.Model(ids, modelio.ClassNames(labels)(keras.layers.Average()(outputs)),
                        name=f"sentiment_ensemble_{len(members)}")
    with modelio.atomic_path(output_dir) as tmp:
        os.makedirs(tmp)
        model.save(os.path.join(tmp, "model.keras"))
        for name in ("vocab.json", "training.png"):
            if os.path.exists(os.path.join(folders[0], name)):
                shutil.copy(os.path.join(folders[0], name), os.path.join(tmp, name))
        modelio.write_json(os.path.join(tmp, "config.json"), {**settings, "ensemble": len(members)})


def save(folder: str, model: "keras.Model", vocabulary: Vocabulary, settings: dict, history: dict,
         build: Callable[[], "keras.Model"]) -> None:
    """The model folder, written atomically. The model is copied into a fresh, uncompiled
    one so that the optimizer's state (twice the weights) is not shipped."""
    clean = build()
    clean.set_weights(model.get_weights())
    with modelio.atomic_path(folder) as tmp:
        os.makedirs(tmp)
        clean.save(os.path.join(tmp, "model.keras"))
        vocabulary.save(os.path.join(tmp, "vocab.json"))
        modelio.write_json(os.path.join(tmp, "config.json"), settings)
        if history.get("loss"):
            plots.training_curves(history, os.path.join(tmp, "training.png"), title="sentiment")


def predict_ids(model: "keras.Model", rows: list[np.ndarray], batch_size: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, int(model.output_shape[-1])), np.float32)
    parts = [model(batch_ids(rows[i: i + batch_size]), training=False) for i in range(0, len(rows), batch_size)]
    return np.concatenate([np.asarray(p) for p in parts])


def scores(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    from sklearn.metrics import confusion_matrix, f1_score

    classes = list(range(len(labels)))
    return {
        "accuracy": round(float(np.mean(truth == predicted)) if len(truth) else 0.0, 6),
        "macro_f1": round(float(f1_score(truth, predicted, labels=classes, average="macro", zero_division=0)), 6),
        "confusion_matrix": confusion_matrix(truth, predicted, labels=classes).tolist(),
    }


# ---- Inference -------------------------------------------------------------------------

class Sentiment:
    """Loads a model folder once; `analyze` streams any number of texts through it."""

    def __init__(self, model: str | None = None, batch_size: int = 256):
        self.path = model or modelio.pretrained_path("sentiment")
        self.batch_size = batch_size
        if not os.path.isdir(self.path):
            raise DlkitError(f"{self.path}: a sentiment model is a folder (model.keras, vocab.json, config.json) "
                             f"written by dlkit train-sentiment")
        config_path = os.path.join(self.path, "config.json")
        try:
            with open(config_path, encoding="utf-8") as f:
                self.settings = json.load(f)
            self.labels = list(self.settings["labels"])
            self.max_length = int(self.settings["max_length"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DlkitError(f"cannot read {config_path}: {e}") from None
        self.vocabulary = Vocabulary.load(os.path.join(self.path, "vocab.json"))
        self.model = modelio.load_model(os.path.join(self.path, "model.keras"))
        if int(self.model.output_shape[-1]) != len(self.labels):
            raise DlkitError(f"{self.path}: the model has {self.model.output_shape[-1]} outputs but "
                             f"config.json names {len(self.labels)} labels")

        @tf.function(reduce_retracing=True)
        def predict(ids):
            return self.model(ids, training=False)

        self._predict = predict

    def probabilities(self, texts: list[str]) -> np.ndarray:
        rows = encode(texts, self.vocabulary, self.max_length)
        parts = [self._predict(batch_ids(rows[i: i + self.batch_size])).numpy()
                 for i in range(0, len(rows), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels)), np.float32)

    def analyze(self, items: Iterable["TextItem | str"], on_batch: Callable[[int], None] | None = None
                ) -> Iterator[dict]:
        """One record per item, in order, {"input", "label", "score"} or {"input", "error"};
        items are taken `batch_size` at a time, so records flow before the input ends."""
        batch: list[TextItem] = []
        for item in items:
            batch.append(TextItem(item, item) if isinstance(item, str) else item)
            if len(batch) == self.batch_size:
                yield from self._analyze_batch(batch)
                if on_batch:
                    on_batch(len(batch))
                batch = []
        if batch:
            yield from self._analyze_batch(batch)
            if on_batch:
                on_batch(len(batch))

    def _analyze_batch(self, batch: list[TextItem]) -> Iterator[dict]:
        good = [item for item in batch if item.error is None and tokenize(item.text)]
        rows = iter(self.probabilities([item.text for item in good]))
        for item in batch:
            if item.error is not None:
                yield {"input": item.input, "error": item.error}
            elif not tokenize(item.text):
                yield {"input": item.input, "error": "empty text"}
            else:
                row = next(rows)
                best = int(row.argmax())
                yield {"input": item.input, "label": self.labels[best], "score": round(float(row[best]), 6)}


# ---- Evaluation ------------------------------------------------------------------------

def evaluate(data: str, model: str | None = None, text_col: str | None = None, label_col: str | None = None,
             batch_size: int = 256) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows: true, columns: predicted) of a
    model folder on labelled data (any layout read_examples reads; aclImdb: test/)."""
    sentiment = Sentiment(model, batch_size)
    examples = read_examples(data, text_col, label_col, split="test")
    return {"data": data, **_score_examples(sentiment, examples)}


def _score_examples(sentiment: Sentiment, examples: Examples) -> dict:
    mapping = sentiment.settings.get("label_map") or {label: label for label in sentiment.labels}
    index = {name: i for i, name in enumerate(sentiment.labels)}
    named = [mapping.get(label, label) for label in examples.labels]
    unknown = sorted(set(named) - set(index))
    if unknown:
        raise DlkitError(f"{examples.source}: labels the model does not know: {', '.join(unknown[:10])} "
                         f"(it knows {', '.join(sentiment.labels)})")
    keep = [i for i, text in enumerate(examples.texts) if tokenize(text)]
    truth = np.array([index[named[i]] for i in keep], dtype=np.int32)
    predicted = sentiment.probabilities([examples.texts[i] for i in keep]).argmax(axis=1)
    return {"model": sentiment.path, "examples": len(keep), **scores(truth, predicted, sentiment.labels),
            "labels": sentiment.labels}


def confusion_text(matrix: list[list[int]], labels: list[str]) -> str:
    """The confusion matrix as aligned text (rows: true label, columns: predicted)."""
    width = max(8, *(len(label) + 1 for label in labels), *(len(str(v)) + 1 for row in matrix for v in row))
    buffer = io.StringIO()
    buffer.write("true \\ predicted".ljust(18) + "".join(label.rjust(width) for label in labels) + "\n")
    for label, row in zip(labels, matrix):
        buffer.write(label.ljust(18) + "".join(str(v).rjust(width) for v in row) + "\n")
    return buffer.getvalue().rstrip("\n")
