"""Several labels per image: multi-label heads (any number of labels of one column, each
a yes/no) and multi-task heads (one head per column of a labels CSV), all on one frozen
ImageNet backbone.

    from dlkit.tasks.classifier import multitask
    run = multitask.train("photos/", "labels.csv", "tags.keras", weights={"species": 2.0})
    for record in classifier.load("tags.keras").predict(["cat.jpg"]):
        print(record)        # {"input", "species": "cat", "species_score", "tags": [...], "tags_scores"}

The CSV has a header row: the first column names the image (a path relative to the
image folder, or absolute), each other column is a task. A column whose cells hold
several labels separated by ";" (or any cell empty) is multi-label: a sigmoid output
per label, a threshold per label chosen on the validation images (the one with the best
F1). Any other column is single-label: a softmax over its values. The heads read one
shared trainable layer on the backbone's pooled features, computed once (each image plus
augmented views), and train with a loss per head weighted by `weights`; the saved model
takes raw pixels like any dlkit classifier and names each head's labels in a ClassNames
layer.
"""

import csv
import os
from dataclasses import dataclass

import numpy as np

from dlkit.core import files, metrics, plots, training
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.layers import ClassNames
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Run
from dlkit.core.training import ProgressBar, TrainConfig, Trainer
from dlkit.tasks.classifier import twin
from dlkit.tasks.classifier.config import CLASSIC, TrainClassifierConfig, check
from dlkit.tasks.classifier.networks import build_model, default_image_size
from dlkit.tasks.classifier.predict import HeadsClassifier, load
from dlkit.tasks.classifier.training import ImageSet, decode_all, default_lr, view_count, view_features

# Separates the labels of one image in a multi-label cell: commas are CSV's own.
SEPARATOR = ";"
# Units of the trainable layer every head reads (hard parameter sharing): the backbone is
# frozen, so without it the heads would share nothing, and the --task-weights would
# change nothing (Adam is blind to a loss's scale when no weight feels two losses).
SHARED_UNITS = 256
# Thresholds tried per multi-label output on the validation images.
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


@dataclass
class Column:
    name: str
    labels: list[str]  # sorted
    multi: bool  # several labels per image (sigmoid outputs) or one (softmax)
    targets: np.ndarray  # (images,) class index, or (images, labels) 0/1

    def take(self, rows) -> "Column":
        return Column(self.name, self.labels, self.multi, self.targets[rows])


def read_labels(path: str, image_dir: str) -> tuple[list[str], list[Column]]:
    """(image paths, one Column per task) from the labels CSV (see the module's docstring)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise DlkitError(f"{path}: cannot read the labels CSV ({e})") from None
    if len(rows) < 2 or len(rows[0]) < 2:
        raise DlkitError(f"{path}: expected a header (image, then one column per task) and a row per image")
    header, rows = [h.strip() for h in rows[0]], rows[1:]
    if len(set(header[1:])) != len(header) - 1 or not all(header[1:]):
        raise DlkitError(f"{path}: the task columns need distinct, non-empty names (got {', '.join(header[1:])})")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DlkitError(f"{path}, line {number}: {len(row)} cells, the header has {len(header)}")
    paths = [row[0] if os.path.isabs(row[0]) else os.path.join(image_dir, row[0]) for row in rows]
    columns = []
    for i, name in enumerate(header[1:], start=1):
        cells = [row[i].strip() for row in rows]
        multi = any(SEPARATOR in c or not c for c in cells)
        if multi:
            sets = [{label.strip() for label in c.split(SEPARATOR) if label.strip()} for c in cells]
            labels = sorted(set().union(*sets))
            targets = np.array([[label in s for label in labels] for s in sets], np.float32)
        else:
            labels = sorted(set(cells))
            targets = np.array([labels.index(c) for c in cells], np.int32)
        if len(labels) < 2 and not multi:
            raise DlkitError(f"{path}: column {name!r} has one value ({labels[0]!r}): nothing to learn")
        columns.append(Column(name, labels, multi, targets))
    return paths, columns


def parse_weights(text: str | None, columns: list[Column]) -> dict[str, float]:
    """--task-weights "species=2,tags=0.5" -> {column: weight}; unnamed columns weigh 1."""
    weights = {c.name: 1.0 for c in columns}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, _, value = part.partition("=")
        if name.strip() not in weights:
            raise DlkitError(f"--task-weights: no column {name.strip()!r} (the columns: {', '.join(weights)})")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise DlkitError(f"--task-weights: {part!r} is not COLUMN=NUMBER") from None
        if not weights[name.strip()] >= 0:
            raise DlkitError(f"--task-weights: {part!r}: a weight is 0 or more")
    return weights


def train(image_dir: str, labels: str, output: str, config: TrainClassifierConfig | None = None,
          train_config: TrainConfig | None = None, weights: str | dict | None = None,
          events: Events = SILENT) -> Run:
    """Trains one head per column of `labels` on a frozen ImageNet backbone and saves the
    model to `output` (.keras), its ONNX twin and its training curves (<output>.curves.png:
    the total loss and each head's loss and score, training and validation) beside it; the
    Run's summary has each head's validation scores."""
    files.check_output(output, suffixes=(".keras",), what="model")
    config = check(config or TrainClassifierConfig())
    if config.arch in CLASSIC or config.fine_tune_epochs:
        raise DlkitError("--labels trains heads on a frozen ImageNet backbone: choose a backbone --arch and no "
                         "--fine-tune-epochs (multi-task fine-tuning and classic CNNs are not supported)")
    train_config = train_config or TrainConfig()
    paths, columns = read_labels(labels, image_dir)
    loss_weights = weights if isinstance(weights, dict) else parse_weights(weights, columns)
    size = config.image_size or default_image_size(config.arch)
    images, kept = decode_all(paths, size, events)
    if not len(kept):
        raise DlkitError(f"{labels}: none of its images could be read")
    columns = [c.take(kept) for c in columns]
    rng = np.random.default_rng(0 if train_config.seed is None else train_config.seed)
    order = rng.permutation(len(kept))
    n_val = int(round(len(order) * config.val_split))
    if n_val == 0 or n_val == len(order):
        raise DlkitError(f"{labels}: {len(order)} usable images: too few to hold {config.val_split:.0%} out")
    val_rows, train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    events.message(f"{len(train_rows)} training and {len(val_rows)} validation images; heads: "
                   + ", ".join(f"{c.name} ({len(c.labels)} {'labels, multi-label' if c.multi else 'classes'})"
                               for c in columns))

    trainer = Trainer(train_config, output, events)
    with trainer.scope():
        # The single-task network gives the backbone and pooling; its head is replaced.
        base = build_model(config, ["a", "b"], size, grey=False)
        extractor = keras.Model(base.input, base.get_layer("logits").input, name="frozen_features")
    views = view_count(config, len(train_rows))
    as_set = lambda rows: ImageSet(images[rows], np.zeros(len(rows), np.int32), [])  # noqa: E731 (labels unused)
    x, val_x, feature_seconds = view_features(extractor, as_set(train_rows), as_set(val_rows), views,
                                              config.batch_size, train_config.seed, events)
    repeat = 1 + views
    targets = {c.name: np.concatenate([c.targets[train_rows]] * repeat) for c in columns}
    val_targets = {c.name: c.targets[val_rows] for c in columns}

    with trainer.scope():
        features = keras.Input((x.shape[1],), name="features")
        shared = keras.layers.Dense(SHARED_UNITS, activation="relu", name="shared")(
            keras.layers.Dropout(config.dropout)(features))
        dropped = keras.layers.Dropout(config.dropout)(shared)
        heads = {c.name: _head(c, config)(dropped) for c in columns}
        model = keras.Model(features, heads, name="heads")
        model.compile(keras.optimizers.Adam(config.lr or default_lr("adam")),
                      loss={c.name: "binary_crossentropy" if c.multi else "sparse_categorical_crossentropy"
                            for c in columns},
                      loss_weights=loss_weights,
                      metrics={c.name: ["binary_accuracy" if c.multi else "accuracy"] for c in columns},
                      **trainer.compile_options())
    train_ds = tf.data.Dataset.from_tensor_slices((x, targets)).shuffle(
        len(x), seed=train_config.seed, reshuffle_each_iteration=True).batch(config.batch_size)
    val_ds = tf.data.Dataset.from_tensor_slices((val_x, val_targets)).batch(config.batch_size)
    steps = training.steps_in(train_ds) or 1
    history = trainer.fit(model, trainer.distribute(train_ds), trainer.distribute(val_ds), config.epochs,
                          callbacks=[ProgressBar(config.epochs, steps, "training the heads", events=events)])
    history["seconds"] += feature_seconds

    predicted = model.predict(val_x, verbose=0)
    scores, thresholds = {}, {}
    for c in columns:
        probabilities = np.asarray(predicted[c.name])
        if c.multi:
            thresholds[c.name] = best_thresholds(probabilities, val_targets[c.name])
            scores[c.name] = multi_label_scores(probabilities >= thresholds[c.name], val_targets[c.name])
        else:
            scores[c.name] = {"accuracy": round(float((probabilities.argmax(-1) == val_targets[c.name]).mean()), 6)}
    full = _assemble(extractor, model, columns, thresholds)
    trainer.save(full, output)
    curves = os.path.splitext(output)[0] + ".curves.png"
    if trainer.is_chief:
        twin.write_beside(output, events)
        plots.training_curves(history, curves, title=f"{config.arch} heads on "
                                                      f"{os.path.basename(os.path.abspath(labels))}")
    trainer.finish()
    summary = {"input": image_dir, "labels": labels, **training.summary(
        history, model=output, curves=curves, arch=config.arch, train_images=len(train_rows), val_images=len(val_rows),
        feature_views=repeat, task_weights=loss_weights,
        heads={c.name: {"kind": "multi-label" if c.multi else "single-label", "labels": c.labels, **scores[c.name]}
               for c in columns})}
    return Run(output, history, summary)


def _head(column: Column, config: TrainClassifierConfig) -> "keras.layers.Layer":
    reg = keras.regularizers.L2(config.l2) if config.l2 else None
    return keras.layers.Dense(len(column.labels), activation="sigmoid" if column.multi else "softmax",
                              kernel_regularizer=reg, dtype="float32", name=column.name)


def best_thresholds(probabilities: np.ndarray, targets: np.ndarray) -> list[float]:
    """Per label, the threshold with the best F1 on these images; 0.5 for a label
    without positives here (nothing to choose it on)."""
    chosen = []
    for j in range(targets.shape[1]):
        positives = targets[:, j] > 0
        if not positives.any():
            chosen.append(0.5)
            continue
        f1 = [_f1(probabilities[:, j] >= t, positives) for t in THRESHOLDS]
        chosen.append(float(THRESHOLDS[int(np.argmax(f1))]))
    return chosen


def _f1(predicted: np.ndarray, actual: np.ndarray) -> float:
    true_positives = float((predicted & actual).sum())
    return 2 * true_positives / max(1.0, float(predicted.sum() + actual.sum()))


def multi_label_scores(predicted: np.ndarray, targets: np.ndarray) -> dict:
    """Micro-averaged F1, per-label-averaged (macro) F1, and the share of images whose
    whole label set is right."""
    actual = targets > 0
    per_label = [_f1(predicted[:, j], actual[:, j]) for j in range(actual.shape[1]) if actual[:, j].any()]
    return {"micro_f1": round(_f1(predicted.ravel(), actual.ravel()), 6),
            "macro_f1": round(float(np.mean(per_label)) if per_label else 0.0, 6),
            "exact_match": round(float((predicted == actual).all(axis=1).mean()), 6)}


def _assemble(extractor, heads_model, columns: list[Column], thresholds: dict) -> "keras.Model":
    """Pixels in, each head's probabilities out (named by its column), each through a
    ClassNames layer naming its labels (and thresholds), so the file labels photos alone."""
    trained = heads_model.get_layer("shared")
    shared = keras.layers.Dense(SHARED_UNITS, activation="relu", name="shared")
    features = shared(extractor.output)
    shared.set_weights(trained.get_weights())
    outputs = {}
    for c in columns:
        dense = heads_model.get_layer(c.name)
        copy = keras.layers.Dense(len(c.labels), activation=dense.activation, dtype="float32",
                                  name=f"{c.name}_probabilities")
        probabilities = copy(features)
        copy.set_weights(dense.get_weights())
        outputs[c.name] = ClassNames(c.labels, c.multi, thresholds.get(c.name), name=c.name)(probabilities)
    return keras.Model(extractor.input, outputs, name="dlkit_heads")


# ---- Predicting and evaluating ---------------------------------------------------------

def evaluate(image_dir: str, labels: str, model: "str | HeadsClassifier", events: Events = SILENT) -> dict:
    """Each head's scores on the images of a labels CSV (columns named like the heads),
    under "heads": for a single-label head, dlkit.core.metrics.classification's record
    (examples, accuracy, macro_f1, per_class, confusion_matrix, labels: the head's);
    micro_f1, macro_f1 and exact_match for a multi-label one."""
    predictor = model if isinstance(model, HeadsClassifier) else load(model)
    if not isinstance(predictor, HeadsClassifier):
        raise DlkitError(f"{model}: --labels scores a model trained with --labels; this one has one output")
    paths, columns = read_labels(labels, image_dir)
    by_name = {c.name: c for c in columns}
    missing = [h["name"] for h in predictor.heads if h["name"] not in by_name]
    if missing:
        raise DlkitError(f"{labels}: no column for the model's head(s) {', '.join(missing)}")
    records = []
    with events.progress(len(paths), "classifying") as advance:
        for record in predictor.predict(paths):
            records.append(record)
            advance()
    good = [i for i, r in enumerate(records) if "error" not in r]
    if not good:
        raise DlkitError(f"{labels}: none of the images could be read")
    scores = {}
    for head in predictor.heads:
        name, names = head["name"], head["names"]
        column = by_name[name]
        if column.multi:
            index = {label: j for j, label in enumerate(names)}
            actual = np.zeros((len(good), len(names)), bool)
            predicted = np.zeros_like(actual)
            for row, i in enumerate(good):
                for j, label in enumerate(column.labels):
                    if column.targets[i, j] and label in index:
                        actual[row, index[label]] = True
                for label in records[i][name]:
                    predicted[row, index[label]] = True
            scores[name] = multi_label_scores(predicted, actual)
        else:
            scores[name] = metrics.classification([column.labels[column.targets[i]] for i in good],
                                                  [records[i][name] for i in good], names)
    return {"input": image_dir, "labels": labels, "model": predictor.source, "images": len(good),
            "heads": scores}
