"""Sentiment analysis: a recurrent network (or a bag of n-grams) over word embeddings.

    from dlkit.tasks import sentiment
    run = sentiment.train("sst2/train.tsv", "sentiment/", sentiment.Config(epochs=3))
    for record in sentiment.load("sentiment/").predict(["What a wonderful film"]):
        print(record)   # {"input": ..., "label": "positive", "score": 0.97}

A trained model is a folder: `model.keras` (takes int token ids, ends in ClassNames),
its ONNX twin `model.onnx` (what inference runs: predict.py), `vocab.json`
(dlkit.text.tokens.Vocabulary) and `config.json` (labels, how data labels map to them,
maximum length, architecture, tokenizer, and the Config under "settings"). The layout
predates dlkit.core.modelio's folders, and the shipped model has it, so it is kept;
`predict.load` checks every part of it against the others.
"""

import functools
import os
import shutil
from dataclasses import asdict, replace
from typing import Callable

import numpy as np

from dlkit.core import files, modelio, plots, training, twins
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.layers import ClassNames
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Run
from dlkit.core.training_config import TrainConfig
from dlkit.tasks.sentiment import TASK, twin
from dlkit.tasks.sentiment.config import ARCHITECTURE, Config, check
from dlkit.tasks.sentiment.data import (encode, hold_out, label_map, mixes_numbers_and_words, read_examples,
                                        split_compounds)
from dlkit.tasks.sentiment.layers import AttentionPooling, BigramIds, DlkitLSTMCell, MaskedMax, NotPadding, ZeroMasked
from dlkit.tasks.sentiment.predict import evaluate, load, score_examples, scores
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
          events: Events = SILENT, validation: str | None = None, callbacks: list | None = None,
          init_from: str | None = None) -> Run:
    """Trains on `data` (held-out validation texts: the file `validation`, else a share of
    `data`), writes the model folder `output`; the summary holds the last-epoch metrics,
    the validation accuracy and macro-F1 of the best epoch, and the time. With
    `init_from` (a model folder) it goes on from that model: its weights, vocabulary,
    labels and network."""
    files.check_output(output, folder=True, what="model folder")
    config = check(config or Config())
    train_config = train_config or TrainConfig()
    init_from = init_from and modelio.start_folder(init_from, TASK.name)
    start = load(init_from, runtime="keras") if init_from else None
    if start:
        if config.ensemble > 1:
            raise DlkitError("--ensemble trains new models from scratch; it cannot go on from --init-from")
        config = replace(config, **{name: getattr(start.config, name) for name in ARCHITECTURE})
        events.message(f"starting from {init_from}: its {config.arch} network, {len(start.vocabulary)} words and "
                       f"labels {', '.join(start.labels)}")
    if config.ensemble > 1:
        return _train_ensemble(data, output, config, train_config, events, validation, callbacks)
    examples = read_examples(data, config.text_col, config.label_col, events=events)
    if validation:
        held_out = read_examples(validation, config.text_col, config.label_col, events=events)
    else:
        examples, held_out = hold_out(examples, config.validation_split, config.split_seed)
    mapping = label_map(examples.labels, config.label_names)
    labels = start.labels if start else list(dict.fromkeys(mapping.values()))
    foreign = [label for label in dict.fromkeys(mapping.values()) if label not in labels]
    if foreign:
        raise DlkitError(f"{data}: labels {', '.join(foreign)} are not {init_from}'s ({', '.join(labels)}); "
                         f"name them with --label-names")
    if start:
        mapping = {**start.label_map, **mapping}  # the data labels it knew, it still reads
    if len(labels) < 2:
        raise DlkitError(f"{data}: needs at least two labels, found only {labels[0]!r}")
    if mixes_numbers_and_words(mapping):
        events.warning(f"{data}: the labels mix numbers and words ({', '.join(list(mapping)[:8])}); training "
                       f"{len(labels)} classes (is the label column the right one? see --label-field)")
    unknown = sorted(set(held_out.labels) - set(mapping))
    if unknown:
        raise DlkitError(f"{validation or data}: validation labels not in the training data: {', '.join(unknown)}")

    tokens = [tokenize(t)[: config.max_length] for t in examples.texts]
    matrix = None
    if start:
        # The model's words (its vocabulary expansion included), read as it reads them.
        vocabulary = start.vocabulary
        tokens = [split_compounds(t, vocabulary) for t in tokens]
    else:
        vocabulary = Vocabulary.build(tokens, min_count=config.min_count, max_size=config.vocab_size)
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
        # Read again here, not taken from `start`: a distribution strategy places only the
        # variables made inside its scope.
        model = modelio.load_model(os.path.join(init_from, "model.keras")) if start else \
            build_model(config, len(vocabulary), labels, embedding_dim)
        if start and modelio.quantized(model):
            # An int8 copy (the shipped model) trains in float32: Keras keeps int8 weights
            # frozen, and only the recurrent layer and the biases would learn.
            trained = build_model(config, len(vocabulary), labels, model.get_layer("embedding").output_dim)
            modelio.copy_weights(model, trained, init_from, events)
            model = trained
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
            "validation": {k: metrics[k] for k in ("accuracy", "macro_f1")}, "init_from": init_from,
        }, history)
        write_twin(output)
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
        write_twin(output)
        ensemble = load(output, runtime="keras")
        if validation:
            metrics = evaluate(validation, ensemble, config.text_col, config.label_col, events=events)
        else:
            examples = read_examples(data, config.text_col, config.label_col, events=events)
            metrics = score_examples(ensemble, hold_out(examples, config.validation_split, config.split_seed)[1])
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
    _, settings = modelio.read_folder(folders[0], "sentiment model", "train-sentiment")
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    outputs = []
    for k, folder in enumerate(folders):
        member = modelio.load_model(os.path.join(folder, "model.keras"))
        # A copy under a unique name: the same architecture repeats its layer names.
        clone = keras.Model(member.inputs[0], member.outputs[0], name=f"member_{k}")
        outputs.append(clone(ids))
    model = keras.Model(ids, ClassNames(settings["labels"])(keras.layers.Average()(outputs)),
                        name=f"sentiment_ensemble_{len(folders)}")
    copied = {name: functools.partial(shutil.copy, os.path.join(folders[0], name))
              for name in ("vocab.json", "training.png") if os.path.exists(os.path.join(folders[0], name))}
    modelio.write_folder(output, TASK.name, model, {**settings, "ensemble": len(folders)}, copied)


def write_twin(folder: str) -> dict:
    """Writes the ONNX twin of the model folder's model.keras beside it (model.onnx),
    checked against Keras; returns the check's {"max_difference", "tolerance"}."""
    source = os.path.join(folder, "model.keras")
    return twin.write(source, twins.twin_paths(source))


def save(folder: str, model: "keras.Model", vocabulary: Vocabulary, settings: dict, history: dict) -> None:
    """The model folder of a trained model, with its training curves."""
    written = {"vocab.json": vocabulary.save}
    if history.get("loss"):
        written["training.png"] = functools.partial(plots.training_curves, history, title="sentiment")
    modelio.write_folder(folder, TASK.name, model, settings, written)


def predict_ids(model: "keras.Model", rows: list[np.ndarray], batch_size: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, int(model.output_shape[-1])), np.float32)
    parts = [model(pad(rows[i: i + batch_size]), training=False) for i in range(0, len(rows), batch_size)]
    return np.concatenate([np.asarray(p) for p in parts])
