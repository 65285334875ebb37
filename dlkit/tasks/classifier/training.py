"""Training an image classifier on class folders, and evaluating it.

DATA_DIR holds one sub-folder per class (dlkit.vision.folders). The networks (an
ImageNet backbone under a new head, or a classic CNN from scratch) are built by
.networks; the saved .keras model takes raw RGB pixels and ends in layers.ClassNames,
so `dlkit classify --model` (classify.load) just works.

    from dlkit.tasks.classifier import TrainClassifierConfig, train
    run = train("photos/", "pets.keras", TrainClassifierConfig(epochs=5))
    print(run.summary["final_val_accuracy"])
"""

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from dlkit.core import files, plots, training
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.events import SILENT, Events, warn_all
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Run
from dlkit.core.training import ProgressBar, TrainConfig, Trainer
from dlkit.tasks.classifier.classify import Classifier, load
from dlkit.tasks.classifier.config import CLASSIC, ClassifyConfig, TrainClassifierConfig, check
from dlkit.tasks.classifier.networks import build_model, default_image_size, unfreeze_top
from dlkit.vision.folders import class_folders
from dlkit.vision.images import try_load_image


# ---- Data ------------------------------------------------------------------------------

@dataclass
class ImageSet:
    images: np.ndarray  # uint8 [N, size, size, 3]
    labels: np.ndarray  # int32 [N], indices into class_names
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices) -> "ImageSet":
        return ImageSet(self.images[indices], self.labels[indices], self.class_names)

    @property
    def is_grey(self) -> bool:
        return bool(np.all(self.images[..., 0] == self.images[..., 1])
                    and np.all(self.images[..., 1] == self.images[..., 2]))


def load_folder(data_dir: str, size: int, class_names: list[str] | None = None,
                events: Events = SILENT) -> ImageSet:
    """Decodes every image once, into memory; unusable files are skipped with a warning.

    `class_names` (a trained model's) fixes the label order; a folder for a class the
    model does not know is an error.
    """
    classes = class_folders(data_dir, events)
    names = class_names or list(classes)
    unknown = sorted(set(classes) - set(names))
    if unknown:
        raise DlkitError(f"{data_dir}: class folder(s) {', '.join(unknown)} unknown to the model "
                         f"(it knows {', '.join(names)})")
    items = [(path, names.index(name)) for name, paths in classes.items() for path in paths]
    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        arrays = list(pool.map(lambda item: try_load_image(item[0], size), items))
    warn_all(events, [f"{path}: {array}; skipped" for (path, _), array in zip(items, arrays)
                      if isinstance(array, ItemError)])
    kept = [i for i, a in enumerate(arrays) if not isinstance(a, ItemError)]
    for name in classes:
        if not any(items[i][1] == names.index(name) for i in kept):
            raise DlkitError(f"{os.path.join(data_dir, name)}: no usable image in this class folder")
    images = np.stack([arrays[i] for i in kept]) if kept else np.zeros((0, size, size, 3), np.uint8)
    labels = np.array([items[i][1] for i in kept], dtype=np.int32)
    return ImageSet(images, labels, names)


def split(data: ImageSet, val_fraction: float, seed: int | None) -> tuple[ImageSet, ImageSet]:
    """A stratified random split: each class keeps its share on both sides."""
    rng = np.random.default_rng(0 if seed is None else seed)
    train, val = [], []
    for label in range(len(data.class_names)):
        indices = rng.permutation(np.flatnonzero(data.labels == label))
        n_val = int(round(len(indices) * val_fraction))
        if n_val == 0 or n_val == len(indices):
            raise DlkitError(f"class {data.class_names[label]} has {len(indices)} image(s): too few to "
                             f"split {val_fraction:.0%} off for validation (pass --val-dir)")
        val.extend(indices[:n_val])
        train.extend(indices[n_val:])
    return data.take(np.sort(train)), data.take(np.sort(val))


def augmentation(seed: int | None) -> "keras.Sequential":
    """Flip, rotate (±36°) and zoom (±20%): the transfer-learning tutorial's recipe."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.1, seed=seed),
        keras.layers.RandomZoom(0.2, seed=seed),
    ], name="augmentation")


def dataset(data: ImageSet, batch_size: int, shuffle: bool = False, augment: bool = False,
            seed: int | None = None) -> "tf.data.Dataset":
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.labels))
    if shuffle:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    if augment:
        layers = augmentation(seed)
        ds = ds.map(lambda x, y: (layers(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


# ---- Training --------------------------------------------------------------------------

def default_lr(optimizer: str) -> float:
    return 1e-2 if optimizer == "sgd" else 1e-3


def _optimizer(config: TrainClassifierConfig, lr, steps_per_epoch: int):
    schedule = lr if config.lr_schedule == "plateau" else training.learning_rate_schedule(
        config.lr_schedule, lr, steps_per_epoch, config.decay_epochs, config.decay_rate)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=config.momentum)
    return keras.optimizers.Adam(schedule)


def _compile(model, trainer: Trainer, config: TrainClassifierConfig, lr: float, steps: int) -> None:
    with trainer.scope():
        model.compile(_optimizer(config, lr, steps), "sparse_categorical_crossentropy", metrics=["accuracy"],
                      **trainer.compile_options())


def _phase_callbacks(config: TrainClassifierConfig, epochs: int, steps: int, description: str,
                     events: Events) -> list:
    callbacks = [ProgressBar(epochs, steps, description, events=events)]
    if config.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=2, min_lr=1e-6,
                                                           verbose=0))
    return callbacks


def train(data: str, output: str, config: TrainClassifierConfig | None = None,
          train_config: TrainConfig | None = None, events: Events = SILENT,
          callbacks: list | None = None) -> Run:
    """Trains on the class folders in `data`, saves `output` (.keras) and a training-curve
    PNG beside it; the Run's summary is the record `dlkit train-classifier` prints.

    Two phases for ImageNet backbones: the head on a frozen backbone, then (with
    fine_tune_epochs) the top of the backbone at a lower rate. Each phase checkpoints in
    its own folder, and the head's final weights are kept between them, so --resume
    picks up in whichever phase was interrupted. `callbacks` go to Keras' fit.
    """
    files.check_output(output, suffixes=(".keras",), what="model")
    config = check(config or TrainClassifierConfig())
    train_config = train_config or TrainConfig()
    size = config.image_size or default_image_size(config.arch)
    images = load_folder(data, size, events=events)
    if config.val_dir:
        train_set, val_set = images, load_folder(config.val_dir, size, images.class_names, events)
    else:
        train_set, val_set = split(images, config.val_split, train_config.seed)
    grey = config.arch in CLASSIC and train_set.is_grey
    events.message(f"{len(train_set)} training and {len(val_set)} validation images, "
                   f"{len(images.class_names)} classes, {size}px{' grey' if grey else ''}, {config.arch}")

    trainer = Trainer(train_config, output, events)
    seed = train_config.seed
    train_ds = trainer.distribute(dataset(train_set, config.batch_size, shuffle=True, augment=config.augment,
                                          seed=seed))
    val_ds = trainer.distribute(dataset(val_set, config.batch_size))
    steps = training.steps_in(train_ds) or 1
    lr = config.lr or default_lr(config.optimizer)
    with trainer.scope():
        model = build_model(config, images.class_names, size, grey)

    head_weights = os.path.join(trainer.workdir, "head.weights.h5")
    fine_tuning = config.fine_tune_epochs > 0
    head_done = trainer.resume and fine_tuning and os.path.exists(head_weights)
    if head_done:
        model.load_weights(head_weights)  # before compiling: the head's optimizer state is not wanted
        history = _saved_history(trainer.workdir)
    else:
        _compile(model, trainer, config, lr, steps)
        history = trainer.fit(model, train_ds, val_ds, config.epochs,
                              callbacks=[*(callbacks or []),
                                         *_phase_callbacks(config, config.epochs, steps, "training", events)])
    if fine_tuning:
        if not head_done:
            # Keras insists on the .weights.h5 suffix, so no atomic_path: a rename is atomic.
            partial = os.path.join(trainer.workdir, "partial.weights.h5")
            model.save_weights(partial)
            os.replace(partial, head_weights)
        unfrozen = unfreeze_top(model, config.fine_tune_fraction)
        events.message(f"fine-tuning the top {unfrozen} layers of {config.arch}")
        _compile(model, trainer, config, lr * config.fine_tune_lr_factor, steps)
        head_workdir = trainer.workdir
        trainer.workdir = os.path.join(head_workdir, "fine-tune")
        os.makedirs(trainer.workdir, exist_ok=True)
        tuned = trainer.fit(model, train_ds, val_ds, config.fine_tune_epochs,
                            callbacks=[*(callbacks or []),
                                       *_phase_callbacks(config, config.fine_tune_epochs, steps, "fine-tuning",
                                                         events)])
        trainer.workdir = head_workdir
        history = _concatenate(history, tuned)

    trainer.save(model, output)
    curves = os.path.splitext(output)[0] + ".curves.png"
    if trainer.is_chief:
        plots.training_curves(history, curves, title=f"{config.arch} on {os.path.basename(os.path.abspath(data))}")
    trainer.finish()
    val_loss, val_accuracy = model.evaluate(val_ds, verbose=0)
    summary = {"input": data, **training.summary(
        history, model=output, curves=curves, arch=config.arch,
        classes=images.class_names, train_images=len(train_set), val_images=len(val_set),
        final_val_accuracy=round(float(val_accuracy), 6), final_val_loss=round(float(val_loss), 6))}
    return Run(output, history, summary)


def _saved_history(workdir: str) -> dict:
    with open(os.path.join(workdir, "history.json")) as f:
        saved = json.load(f)
    return {**saved["history"], "seconds": saved["seconds"]}


def _concatenate(first: dict, second: dict) -> dict:
    history = {k: first.get(k, []) + v for k, v in second.items() if isinstance(v, list)}
    history["seconds"] = first.get("seconds", 0.0) + second.get("seconds", 0.0)
    return history


# ---- Evaluation ------------------------------------------------------------------------

def evaluate(data: str, model: "str | Classifier | None" = None, confusion_png: str | None = None,
             batch_size: int = 32, events: Events = SILENT) -> dict:
    """Accuracy and macro precision/recall of a classifier on the class folders in
    `data`, with "per_class": one record per class the folder has images of. `model`: a
    .keras path, a loaded Classifier, or None for the ImageNet classifier (folders named
    by ImageNet labels). Writes a confusion-matrix PNG (default: beside the model,
    <model>.confusion.png). `batch_size` applies to a model that is not loaded yet."""
    classifier = model if isinstance(model, Classifier) else load(model, ClassifyConfig(batch_size=batch_size))
    names = classifier.labels
    if names is None:
        raise DlkitError(f"{classifier.source}: no class names in the model (train it with dlkit train-classifier)")
    images = load_folder(data, classifier.input_size, names, events)
    step = classifier.batch_size
    probabilities = np.concatenate([classifier.outputs(images.images[i:i + step])
                                    for i in range(0, len(images), step)])
    predicted = probabilities.argmax(axis=1)
    k = len(names)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (images.labels, predicted), 1)
    per_class = []
    for i, name in enumerate(names):
        support = int(matrix[i].sum())
        if not support:
            continue  # a class this folder has no images of: nothing to measure
        per_class.append({"input": os.path.join(data, name), "class": name, "images": support,
                          "precision": _ratio(matrix[i, i], matrix[:, i].sum()),
                          "recall": _ratio(matrix[i, i], support)})
    confusion_png = confusion_png or os.path.splitext(classifier.source)[0] + ".confusion.png"
    present = [i for i in range(k) if matrix[i].sum() or matrix[:, i].sum()]
    plots.confusion_matrix(matrix[np.ix_(present, present)], [names[i] for i in present], confusion_png,
                           title=f"{os.path.basename(classifier.source)} on "
                                 f"{os.path.basename(os.path.abspath(data))}")
    return {
        "input": data, "model": classifier.source, "images": len(images),
        "accuracy": _ratio(np.trace(matrix), matrix.sum()),
        "macro_precision": round(float(np.mean([c["precision"] for c in per_class])), 6),
        "macro_recall": round(float(np.mean([c["recall"] for c in per_class])), 6),
        "confusion_matrix": confusion_png,
        "per_class": per_class,
    }


def _ratio(a, b) -> float:
    return round(float(a) / float(b), 6) if b else 0.0
