"""Sentiment analysis: a recurrent network (or a bag of n-grams) over word embeddings.

    from dlkit.tasks import sentiment
    run = sentiment.train("sst2/train.tsv", "sentiment/", sentiment.Config(epochs=3))
    for record in sentiment.load("sentiment/").predict(["What a wonderful film"]):
        print(record)   # {"input": ..., "label": "positive", "score": 0.97}

A trained model is a folder: `model.keras` (takes int token ids, ends in ClassNames),
`vocab.json` (dlkit.text.tokens.Vocabulary) and `config.json` (labels, how data labels
map to them, maximum length, architecture, tokenizer, and the Config under "settings").
The layout predates dlkit.core.modelio's folders, and the shipped model has it, so it is
kept; `load` checks every part of it against the others.
"""

import functools
import io
import os
import shutil
from dataclasses import asdict, replace
from typing import Callable, Iterator

import numpy as np

from dlkit.core import files, modelio, plots, training
from dlkit.core.config import load as load_config
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.events import SILENT, Events
from dlkit.core.layers import ClassNames, class_names
from dlkit.core.metrics import classification
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Predictor, Run
from dlkit.core.training_config import TrainConfig
from dlkit.tasks.sentiment import TASK
from dlkit.tasks.sentiment.config import Config, check
from dlkit.tasks.sentiment.data import (Examples, canonical, encode, hold_out, label_map, mixes_numbers_and_words,
                                        read_examples)
from dlkit.tasks.sentiment.layers import AttentionPooling, BigramIds, DlkitLSTMCell, MaskedMax, NotPadding, ZeroMasked
from dlkit.text.tokens import Vocabulary, pad, tokenize
from dlkit.text.vectors import embedding_matrix, load_embeddings

TOKENIZER = "dlkit.text.tokenize"


# ---- Model -----------------------------------------------------------------------------

def build_model(config: Config, vocab_size: int, labels: list[str],
                embedding_dim: int | None = None) -> "keras.Model":
    """Token ids (batch, length) -> class probabilities, named by a ClassNames layer.
    The settings are taken as they are: `train` checks them first (config.check)."""
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
    return keras.Model(ids, ClassNames(labels)(x), name=f"sentiment_{config.arch}")


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


# ---- Training --------------------------------------------------------------------------

def train(data: str, output: str, config: Config | None = None, train_config: TrainConfig | None = None,
          events: Events = SILENT, validation: str | None = None, callbacks: list | None = None) -> Run:
    """Trains on `data` (held-out validation texts: the file `validation`, else a share of
    `data`), writes the model folder `output`; the summary holds the last-epoch metrics,
    the validation accuracy and macro-F1 of the best epoch, and the time."""
    files.check_output(output, folder=True, what="model folder")
    config = check(config or Config())
    train_config = train_config or TrainConfig()
    if config.ensemble > 1:
        return _train_ensemble(data, output, config, train_config, events, validation, callbacks)
    examples = read_examples(data, config.text_col, config.label_col, events=events)
    if validation:
        held_out = read_examples(validation, config.text_col, config.label_col, events=events)
    else:
        examples, held_out = hold_out(examples, config.validation_split, config.split_seed)
    mapping = label_map(examples.labels, config.label_names)
    labels = list(dict.fromkeys(mapping.values()))
    if len(labels) < 2:
        raise DlkitError(f"{data}: needs at least two labels, found only {labels[0]!r}")
    if mixes_numbers_and_words(mapping):
        events.warning(f"{data}: the labels mix numbers and words ({', '.join(list(mapping)[:8])}); training "
                       f"{len(labels)} classes (is the label column the right one? see --label-field)")
    unknown = sorted(set(held_out.labels) - set(mapping))
    if unknown:
        raise DlkitError(f"{validation or data}: validation labels not in the training data: {', '.join(unknown)}")

    tokens = [tokenize(t)[: config.max_length] for t in examples.texts]
    vocabulary = Vocabulary.build(tokens, min_count=config.min_count, max_size=config.vocab_size)
    matrix = None
    if config.embeddings and config.arch == "ngrams":
        events.warning("--embeddings is not used by --arch ngrams (its embeddings cover word pairs too)")
    elif config.embeddings:
        vectors = load_embeddings(config.embeddings, allow_pickle=config.allow_pickle)
        matrix, coverage = embedding_matrix(vocabulary, vectors)
        events.message(f"{config.embeddings}: vectors for {coverage:.0%} of the {len(vocabulary) - 2} words")

    index = {name: i for i, name in enumerate(labels)}
    train_ids = [vocabulary.encode(t) for t in tokens]
    keep = [i for i, row in enumerate(train_ids) if len(row)]
    train_y = np.array([index[mapping[examples.labels[i]]] for i in keep], dtype=np.int32)
    train_rows = [train_ids[i] for i in keep]
    val_rows = encode(held_out.texts, vocabulary, config.max_length)
    val_y = np.array([index[mapping[label]] for label in held_out.labels], dtype=np.int32)
    events.message(f"{len(train_rows)} training and {len(val_rows)} validation texts, labels {', '.join(labels)}, "
                   f"{len(vocabulary)} words")

    trainer = training.Trainer(train_config, output=output, events=events)
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
    progress = training.ProgressBar(config.epochs, training.steps_in(train_data), "training sentiment", events)
    history = trainer.fit(model, train_data, val_data, config.epochs, callbacks=[progress, *(callbacks or [])],
                          monitor="val_accuracy", mode="max")

    if matrix is not None and config.expand_vocabulary > len(vocabulary):
        vocabulary, model = expand_vocabulary(model, vocabulary, vectors, config.expand_vocabulary,
                                              lambda size: build_model(config, size, labels, embedding_dim))
        events.message(f"vocabulary expanded to {len(vocabulary)} words from {config.embeddings}")
        val_rows = encode(held_out.texts, vocabulary, config.max_length)
    predicted = predict_ids(model, val_rows, config.batch_size).argmax(axis=1)
    metrics = scores(val_y, predicted, labels)
    if trainer.is_chief:
        settings = {**asdict(config), "label_names": list(config.label_names) if config.label_names else None}
        save(output, model, vocabulary, {
            "labels": labels, "label_map": mapping, "max_length": config.max_length, "arch": config.arch,
            "cell": config.cell, "tokenizer": TOKENIZER, "lowercase": True, "settings": settings,
            "validation": {k: metrics[k] for k in ("accuracy", "macro_f1")},
        }, history)
    trainer.finish()
    return Run(output, history, training.summary(history, model=output, best_val_accuracy=metrics["accuracy"],
                                                 best_val_macro_f1=metrics["macro_f1"], labels=labels))


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


def _train_ensemble(data: str, output: str, config: Config, train_config: TrainConfig, events: Events,
                    validation: str | None, callbacks: list | None) -> Run:
    """Trains the members one after another into <output>.members/ (a member already
    there is kept, so an interrupted ensemble resumes), then averages them."""
    lock = files.OutputLock(output)  # the members' folder is this run's alone
    try:
        members_dir = output.rstrip("/") + ".members"
        first_seed = train_config.seed if train_config.seed is not None else 0
        folders, seconds = [], 0.0
        for k in range(config.ensemble):
            folder = os.path.join(members_dir, f"seed-{first_seed + k}")
            if os.path.exists(os.path.join(folder, "model.keras")):
                events.message(f"{folder}: trained before, kept")
            else:
                events.message(f"ensemble member {k + 1} of {config.ensemble} (seed {first_seed + k})")
                run = train(data, folder, replace(config, ensemble=1), replace(train_config, seed=first_seed + k),
                            events, validation, callbacks)
                seconds += run.summary.get("seconds", 0.0)
            folders.append(folder)
        average(folders, output)
        if validation:
            metrics = evaluate(validation, output, config.text_col, config.label_col, events=events)
        else:
            examples = read_examples(data, config.text_col, config.label_col, events=events)
            metrics = _score_examples(load(output), hold_out(examples, config.validation_split, config.split_seed)[1])
        shutil.rmtree(members_dir, ignore_errors=True)
    finally:
        lock.release()
    return Run(output, summary={"model": output, "members": config.ensemble, "seconds": round(seconds, 1),
                                "best_val_accuracy": metrics["accuracy"], "best_val_macro_f1": metrics["macro_f1"],
                                "labels": metrics["labels"]})


def average(folders: list[str], output: str) -> None:
    """One model folder whose model averages the probabilities of the models in
    `folders` (trained on the same data and settings, so with the same vocabulary)."""
    vocabularies = {files.sha256(os.path.join(f, "vocab.json")) for f in folders}
    if len(vocabularies) > 1:
        raise DlkitError("the models to average have different vocabularies; train them on the same data "
                         "with the same --vocab-size, --min-count and --max-length")
    members = [load(f) for f in folders]
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    outputs = []
    for k, member in enumerate(members):
        # A copy under a unique name: the same architecture repeats its layer names.
        clone = keras.Model(member.model.inputs[0], member.model.outputs[0], name=f"member_{k}")
        outputs.append(clone(ids))
    model = keras.Model(ids, ClassNames(members[0].labels)(keras.layers.Average()(outputs)),
                        name=f"sentiment_ensemble_{len(members)}")
    copied = {name: functools.partial(shutil.copy, os.path.join(folders[0], name))
              for name in ("vocab.json", "training.png") if os.path.exists(os.path.join(folders[0], name))}
    modelio.write_folder(output, model, {**members[0].settings, "ensemble": len(members)}, copied)


def save(folder: str, model: "keras.Model", vocabulary: Vocabulary, settings: dict, history: dict) -> None:
    """The model folder of a trained model, with its training curves."""
    written = {"vocab.json": vocabulary.save}
    if history.get("loss"):
        written["training.png"] = functools.partial(plots.training_curves, history, title="sentiment")
    modelio.write_folder(folder, model, settings, written)


def predict_ids(model: "keras.Model", rows: list[np.ndarray], batch_size: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, int(model.output_shape[-1])), np.float32)
    parts = [model(pad(rows[i: i + batch_size]), training=False) for i in range(0, len(rows), batch_size)]
    return np.concatenate([np.asarray(p) for p in parts])


def scores(truth: np.ndarray, predicted: np.ndarray, labels: list[str], plot: str | None = None,
           title: str = "") -> dict:
    """dlkit.core.metrics.classification's record of label ids (indices into `labels`)."""
    return classification([labels[i] for i in truth], [labels[i] for i in predicted], labels, plot, title)


# ---- Inference -------------------------------------------------------------------------

def load(path: str | None = None, batch_size: int = 256) -> "Sentiment":
    """A model folder written by `train` (None: the shipped SST-2 model), after checking
    that its parts fit together: one line naming the file and field otherwise."""
    folder = path or modelio.pretrained_path(TASK.name)
    _, saved = modelio.read_folder(folder, "sentiment model", "train-sentiment",
                                   files=("config.json", "model.keras", "vocab.json"))
    source = os.path.join(folder, "config.json")
    labels = saved.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise DlkitError(f"{source}: labels must be a list of label names, not {labels!r}")
    mapping = saved.get("label_map") or {label: label for label in labels}
    if not isinstance(mapping, dict) or not set(mapping.values()) <= set(labels):
        raise DlkitError(f"{source}: label_map must map data labels to the labels {', '.join(labels)}")
    if "max_length" not in saved:
        raise DlkitError(f"{source}: no max_length")
    values = saved.get("settings", {})
    if not isinstance(values, dict):
        raise DlkitError(f"{source}: settings must be a JSON object, not {type(values).__name__}")
    # The top-level entries are what inference uses; "settings" records the rest of the Config.
    config = load_config(Config, {**values, **{k: saved[k] for k in ("max_length", "arch", "cell") if k in saved}},
                         source)
    vocabulary = Vocabulary.load(os.path.join(folder, "vocab.json"))
    model = modelio.load_model(os.path.join(folder, "model.keras"))
    outputs = int(model.output_shape[-1])
    if outputs != len(labels):
        raise DlkitError(f"{source}: labels names {len(labels)} labels, but model.keras gives {outputs} outputs")
    named = class_names(model)  # the labels the model itself was saved with
    if named is not None and named != labels:
        raise DlkitError(f"{source}: labels {', '.join(labels)} differ from model.keras' own ({', '.join(named)})")
    ids = _token_ids(model)
    if ids is not None and len(vocabulary) > ids:
        raise DlkitError(f"{os.path.join(folder, 'vocab.json')}: {len(vocabulary)} words, but model.keras embeds "
                         f"only {ids} token ids (a vocabulary from another model?)")
    return Sentiment(model, vocabulary, labels, config.max_length, mapping, saved, folder, batch_size)


def _layers(model: "keras.Model") -> Iterator["keras.layers.Layer"]:
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):  # an ensemble's members
            yield from _layers(layer)


def _token_ids(model: "keras.Model") -> int | None:
    """How many token ids the model's embeddings take (the fewest, in an ensemble; an
    n-gram model's embedding also holds its bigram buckets, after the words)."""
    sizes = [layer.vocab_size if isinstance(layer, BigramIds) else layer.input_dim for layer in _layers(model)
             if isinstance(layer, (BigramIds, keras.layers.Embedding))]
    return min(sizes) if sizes else None


class Sentiment(Predictor):
    """A loaded sentiment model (see `load`). `predict(texts)` gives one record per text:
    {"input", "label", "score"}, or "empty text" for a text without a word."""

    def __init__(self, model: "keras.Model", vocabulary: Vocabulary, labels: list[str], max_length: int,
                 mapping: dict[str, str], settings: dict, path: str, batch_size: int = 256):
        self.model, self.vocabulary, self.labels, self.max_length = model, vocabulary, labels, max_length
        # label_map: data label -> label name; settings: config.json as saved
        self.label_map, self.settings, self.path, self.batch_size = mapping, settings, path, batch_size

        @tf.function(reduce_retracing=True)
        def predict(ids):
            return self.model(ids, training=False)

        self._predict = predict

    def probabilities(self, texts: list[str]) -> np.ndarray:
        rows = encode(texts, self.vocabulary, self.max_length)
        parts = [self._predict(pad(rows[i: i + self.batch_size])).numpy()
                 for i in range(0, len(rows), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels)), np.float32)

    def predict_batch(self, texts: list[str]) -> list:
        has_words = [bool(tokenize(text)) for text in texts]
        rows = iter(self.probabilities([text for text, words in zip(texts, has_words) if words]))
        results = []
        for words in has_words:
            if not words:
                results.append(ItemError("empty text"))
                continue
            row = next(rows)
            best = int(row.argmax())
            results.append({"label": self.labels[best], "score": round(float(row[best]), 6)})
        return results


# ---- Evaluation ------------------------------------------------------------------------

def evaluate(data: str, model: "str | Sentiment | None" = None, text_col: str | None = None,
             label_col: str | None = None, batch_size: int = 256, plot: str | None = None,
             events: Events = SILENT) -> dict:
    """A model's scores (a folder, None: the shipped one, or a loaded Sentiment) on
    labelled data (any layout read_examples reads; aclImdb: test/): "data", "model" and
    dlkit.core.metrics.classification's record (examples: the texts with a word,
    accuracy, macro_f1, per_class, confusion_matrix with rows the true label, labels: the
    model's); `plot`: also draw the matrix there ("confusion_plot")."""
    if plot:
        files.check_output(plot, what="plot")
    sentiment = model if isinstance(model, Sentiment) else load(model, batch_size)
    examples = read_examples(data, text_col, label_col, split="test", events=events)
    record = {"data": data, **_score_examples(sentiment, examples, plot, title=os.path.basename(data))}
    events.message(confusion_text(record))  # the whole matrix, which a table cell cannot show
    return record


def _score_examples(sentiment: Sentiment, examples: Examples, plot: str | None = None, title: str = "") -> dict:
    index = {name: i for i, name in enumerate(sentiment.labels)}
    mapping = sentiment.label_map
    named = [mapping.get(label) or mapping.get(canonical(label), label) for label in examples.labels]
    unknown = sorted(set(named) - set(index))
    if unknown:
        raise DlkitError(f"{examples.source}: labels the model does not know: {', '.join(unknown[:10])} "
                         f"(it knows {', '.join(sentiment.labels)})")
    keep = [i for i, text in enumerate(examples.texts) if tokenize(text)]
    truth = np.array([index[named[i]] for i in keep], dtype=np.int32)
    predicted = sentiment.probabilities([examples.texts[i] for i in keep]).argmax(axis=1)
    return {"model": sentiment.path, **scores(truth, predicted, sentiment.labels, plot, title)}


def confusion_text(matrix: "list[list[int]] | dict", labels: list[str] | None = None) -> str:
    """The confusion matrix as aligned text (rows: true label, columns: predicted): of a
    matrix and its labels, or of an evaluation record (its "confusion_matrix" and
    "labels")."""
    if isinstance(matrix, dict):
        matrix, labels = matrix["confusion_matrix"], matrix["labels"]
    width = max(8, *(len(label) + 1 for label in labels), *(len(str(v)) + 1 for row in matrix for v in row))
    buffer = io.StringIO()
    buffer.write("true \\ predicted".ljust(18) + "".join(label.rjust(width) for label in labels) + "\n")
    for label, row in zip(labels, matrix):
        buffer.write(label.ljust(18) + "".join(str(v).rjust(width) for v in row) + "\n")
    return buffer.getvalue().rstrip("\n")
