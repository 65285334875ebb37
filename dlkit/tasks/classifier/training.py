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

from dlkit.core import files, metrics, plots, training
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.events import SILENT, Events, warn_all
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Run
from dlkit.core.training import ProgressBar, TrainConfig, Trainer
from dlkit.tasks.classifier import twin
from dlkit.tasks.classifier.config import CLASSIC, ClassifyConfig, TrainClassifierConfig, check
from dlkit.tasks.classifier.networks import build_model, default_image_size, unfreeze_top
from dlkit.tasks.classifier.predict import Classifier, load
from dlkit.vision.folders import class_folders, split_layout
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
    images, kept = decode_all([path for path, _ in items], size, events)
    for name in classes:
        if not any(items[i][1] == names.index(name) for i in kept):
            raise DlkitError(f"{os.path.join(data_dir, name)}: no usable image in this class folder")
    labels = np.array([items[i][1] for i in kept], dtype=np.int32)
    return ImageSet(images, labels, names)


def decode_all(paths: list[str], size: int, events: Events = SILENT) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [N, size, size, 3], the indices of `paths` they come from): every
    image decoded once, into memory; unusable files are skipped with a warning each."""
    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        arrays = list(pool.map(lambda path: try_load_image(path, size), paths))
    warn_all(events, [f"{path}: {array}; skipped" for path, array in zip(paths, arrays)
                      if isinstance(array, ItemError)])
    kept = np.array([i for i, a in enumerate(arrays) if not isinstance(a, ItemError)], np.int64)
    images = np.stack([arrays[i] for i in kept]) if len(kept) else np.zeros((0, size, size, 3), np.uint8)
    return images, kept


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
    """Trains on the class folders in `data`, saves `output` (.keras), its ONNX twin
    (twin.write_beside) and a training-curve PNG beside it; the Run's summary is the
    record `dlkit train-classifier` prints.

    Two phases for ImageNet backbones: the head on a frozen backbone (trained on the
    backbone's features, computed once for each image and `views` augmented copies, and
    started from a linear probe: _train_head), then (with fine_tune_epochs) the top of
    the backbone at a lower rate, on the images. Each phase checkpoints in
    its own folder, and the head's final weights are kept between them, so --resume
    picks up in whichever phase was interrupted. `callbacks` go to Keras' fit.
    """
    files.check_output(output, suffixes=(".keras",), what="model")
    config = check(config or TrainClassifierConfig())
    train_config = train_config or TrainConfig()
    size = config.image_size or default_image_size(config.arch)
    train_dir, val_dir = _training_folders(data, config.val_dir, events)
    images = load_folder(train_dir, size, events=events)
    all_in = not val_dir and learns_from_all(config, len(images))
    if val_dir:
        train_set, val_set = images, load_folder(val_dir, size, images.class_names, events)
    elif all_in:
        train_set, val_set = images, images.take(np.zeros(0, np.int64))
    else:
        train_set, val_set = split(images, config.val_split, train_config.seed)
    grey = config.arch in CLASSIC and train_set.is_grey
    held_out = (f"no validation images (under {PROBE_MIN_VALIDATION} would be held out: every image trains, "
                f"and cross-validation picks the head)" if all_in else f"{len(val_set)} validation images")
    events.message(f"{len(train_set)} training images and {held_out}, "
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
    chosen = {}
    if head_done:
        model.load_weights(head_weights)  # before compiling: the head's optimizer state is not wanted
        history = _saved_history(trainer.workdir)
    elif config.arch in CLASSIC:
        _compile(model, trainer, config, lr, steps)
        history = trainer.fit(model, train_ds, val_ds, config.epochs,
                              callbacks=[*(callbacks or []),
                                         *_phase_callbacks(config, config.epochs, steps, "training", events)])
    else:
        history, chosen = _train_head(model, trainer, config, train_set, val_set, lr, events, callbacks)
        _compile(model, trainer, config, lr, steps)  # for the final evaluation (fine-tuning compiles its own)
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

    temperature = calibrate(model, val_set, config.batch_size)
    if temperature is not None:
        events.message(f"temperature {temperature:g} fitted on the {len(val_set)} validation images (its logits "
                       f"times it)")
    trainer.save(model, output)
    if trainer.is_chief:
        twin.write_beside(output, events)
    curves = os.path.splitext(output)[0] + ".curves.png" if not all_in else None  # no epochs: no curves
    if trainer.is_chief and curves:
        plots.training_curves(history, curves, title=f"{config.arch} on {os.path.basename(os.path.abspath(data))}")
    trainer.finish()
    if all_in:  # the cross-validated accuracy is the held-out measure
        scores = {"cv_accuracy": chosen["probe_score"]}
    else:
        val_loss, val_accuracy = model.evaluate(val_ds, verbose=0)
        scores = {"final_val_accuracy": round(float(val_accuracy), 6), "final_val_loss": round(float(val_loss), 6)}
    calibrated = {} if temperature is None else {"temperature": temperature}
    summary = {"input": data, **training.summary(
        history, model=output, curves=curves, arch=config.arch, classes=images.class_names,
        train_images=len(train_set), val_images=len(val_set), **chosen, **calibrated, **scores)}
    return Run(output, history, summary)


def calibrate(model, val_set: ImageSet, batch_size: int) -> float | None:
    """Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"):
    the multiplier of the model's logits fitted on the validation images (_temperature),
    folded into its "logits" layer, so the model, its twin and every predictor give the
    calibrated probabilities with no change of their own. A network trained to a low
    training loss is over-confident (its top score exceeds its accuracy); the multiplier
    leaves every label as it was. Returns it, or None with fewer than PROBE_MIN_VALIDATION
    validation images: so few, usually all labelled right, cannot tell a temperature
    (measured: 24 held-out photos of cats and dogs gave 0.31, scores of 0.90 on average
    for an accuracy of 0.98, and an ECE of 0.088 on 1,000 other photos, against 0.008
    for the fine-tuned model as it was). A frozen-backbone head without them keeps the
    temperature of its cross-validated probe."""
    if len(val_set) < PROBE_MIN_VALIDATION:
        return None
    layer = model.get_layer("logits")
    logits = keras.Model(model.input, layer.output)
    found = np.concatenate([np.asarray(logits.predict_on_batch(x)) for x, _ in dataset(val_set, batch_size)])
    temperature = _temperature(found.astype(np.float64), val_set.labels)
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * temperature, bias * temperature])
    return temperature


# ---- The head on a frozen backbone: trained on features computed once ------------------

# C values tried for the linear probe on standardized features: train-svm's grid for
# them (1,280 of them for MobileNetV2: few images need strong regularization; 10 photos
# a class of cats and dogs got their best at 1e-5, 20 digits a class at 3e-3).
PROBE_C = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
# Below this many validation images the probe's C is chosen by cross-validation on the
# training images instead: 4 validation photos cannot tell 5 values of C apart.
PROBE_MIN_VALIDATION = 100
# The probe's C when no score can choose one: what cross-validation picked most often
# for 10-20 photos a class (tasks/classifier/results/fewshot.jsonl).
DEFAULT_C = 1e-4


def learns_from_all(config: TrainClassifierConfig, images: int) -> bool:
    """Whether a frozen-backbone training uses every image, with no validation split:
    when the split would hold out fewer than PROBE_MIN_VALIDATION images. So few cannot
    early-stop a head, nor tell settings apart, and they are a fifth of what the model
    could learn from; cross-validation over all the images chooses the head instead (as
    train-svm chooses its C). Fine-tuning needs validation images to stop on."""
    return (config.arch not in CLASSIC and config.fine_tune_epochs == 0
            and round(images * config.val_split) < PROBE_MIN_VALIDATION)


def default_views(images: int) -> int:
    return max(1, min(4, 1000 // max(1, images)))


def view_count(config: TrainClassifierConfig, images: int) -> int:
    """Augmented views per training image: --views, or default_views; none without
    augmentation."""
    if not config.augment:
        return 0
    return config.views if config.views is not None else default_views(images)


def _features(extractor, data: ImageSet, batch_size: int, augment: bool, seed: int | None) -> np.ndarray:
    if not len(data):
        return np.zeros((0, extractor.output.shape[-1]), np.float32)
    ds = dataset(data, batch_size, augment=augment, seed=seed)
    return np.concatenate([extractor.predict_on_batch(x) for x, _ in ds]).astype(np.float32)


def view_features(extractor, train_set: ImageSet, val_set: ImageSet, views: int, batch_size: int,
                  seed: int | None, events: Events) -> tuple[np.ndarray, np.ndarray, float]:
    """The frozen backbone's features of every training image, then of `views` augmented
    copies of each (in the same order, so row i's image is row i % len(train_set)), and
    of the validation images; and the seconds they took."""
    import time

    start = time.perf_counter()
    with events.progress(len(train_set) * (1 + views) + len(val_set), "backbone features") as advance:
        parts = []
        for view in range(1 + views):
            parts.append(_features(extractor, train_set, batch_size, augment=view > 0,
                                   seed=None if seed is None else seed + view))
            advance(len(train_set))
        val_x = _features(extractor, val_set, batch_size, False, None)
        advance(len(val_set))
    return np.concatenate(parts), val_x, time.perf_counter() - start


def _probe_fit(C: float, x: np.ndarray, y: np.ndarray):
    """A linear SVM (one-vs-rest, squared hinge: what train-svm fits) on standardized
    features. It is the probe rather than a logistic regression because it generalizes
    better from few images far from ImageNet's: on 10 MNIST digits a class, 0.73-0.75
    held-out accuracy against 0.68-0.69 at every C (tasks/classifier/README.md)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    with warnings.catch_warnings():
        # an unconverged probe is still a starting point; the head trains on from it
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LinearSVC(C=C, dual=True, max_iter=5000, random_state=0).fit(x, y)


def _scores(probe, x: np.ndarray) -> np.ndarray:
    """The probe's one-vs-rest scores, (images, classes) also for two classes."""
    scores = probe.decision_function(x)
    return np.stack([np.zeros_like(scores), scores], 1) if scores.ndim == 1 else scores


# The range searched for the multiplier that turns the SVM's scores into softmax logits
# (temperature scaling), as log2: 1/64 .. 4096.
LOG2_TEMPERATURES = (-6.0, 12.0)


def _temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The multiplier of held-out scores whose softmax gives the lowest log-loss against
    Platt's targets (Platt 1999): a held-out image of a class with n held-out images counts
    as 1 - 1/(n + 2) of its class, the rest spread over the others, instead of 1. Against
    hard targets, held-out scores that all fall on the right side (a few dozen photos of
    cats and dogs, easily told apart) have no best multiplier: the loss falls for ever
    as it grows, and the largest one tried pinned every probability at exactly 0 or 1
    (and a fine-tuning started from such a head reported a loss of 0.0). Platt's targets
    say what so few held-out images can vouch for: about 1 - 1/(n + 2)."""
    from scipy.optimize import minimize_scalar

    classes = scores.shape[1]
    counts = np.bincount(y, minlength=classes)
    slack = 1.0 / (counts[y] + 2.0)
    targets = np.repeat((slack / max(1, classes - 1))[:, None], classes, axis=1)
    targets[np.arange(len(y)), y] = 1.0 - slack

    def log_loss(log2_t):
        logits = 2.0 ** log2_t * scores
        logits = logits - logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-(targets * log_probs).sum(axis=1).mean())

    found = minimize_scalar(log_loss, bounds=LOG2_TEMPERATURES, method="bounded", options={"xatol": 1e-3})
    return float(round(2.0 ** found.x, 4))


def _linear_probe(x: np.ndarray, y: np.ndarray, images: int, val_x: np.ndarray,
                  val_y: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """(kernel, bias, what was chosen) of a linear SVM on standardized features with the
    best C, its scores times a temperature as the logits of a Dense layer on the raw
    features (the standardization folded in). `x` holds `images` training images'
    features followed by those of their augmented views, in the same order. C, and
    whether the views help (a flipped digit is another digit), are chosen on the
    validation features, or, when there are few, by 5-fold cross-validation over the
    training images (an image's views stay on its side); the temperature on the same
    held-out scores."""
    from sklearn.model_selection import StratifiedKFold

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z, val_z = (x - mean) / scale, (val_x - mean) / scale
    image_of = np.arange(len(y)) % images
    original = np.arange(len(y)) < images
    candidates = [(C, views) for views in ((False, True) if len(y) > images else (False,)) for C in PROBE_C]
    held_out = {}  # candidate -> (scores, labels) of images it did not train on
    if len(val_y) >= PROBE_MIN_VALIDATION:
        by = "validation"
        for C, views in candidates:
            rows = original | views
            held_out[(C, views)] = _scores(_probe_fit(C, z[rows], y[rows]), val_z), val_y
    elif int(np.bincount(y[:images]).min()) < 2:
        by = "default (a class has one image: nothing to cross-validate)"
    else:
        folds = min(5, int(np.bincount(y[:images]).min()))
        by = f"{folds}-fold cross-validation"
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(images), y[:images]))
        for C, views in candidates:
            parts = []
            for train, test in splits:
                rows = np.isin(image_of, train) & (original | views)
                parts.append(_scores(_probe_fit(C, z[rows], y[rows]), z[test]))
            order = np.concatenate([test for _, test in splits])
            held_out[(C, views)] = np.concatenate(parts), y[order]
    accuracy = {k: float((s.argmax(1) == labels).mean()) for k, (s, labels) in held_out.items()}
    # ties: the stronger regularization, then no views; with no scores, what few images
    # usually get, with the views
    C, views = max(accuracy, key=lambda k: (accuracy[k], -k[0], not k[1])) if accuracy else (DEFAULT_C, True)
    temperature = _temperature(*held_out[(C, views)]) if accuracy else 1.0
    rows = original | views
    probe = _probe_fit(C, z[rows], y[rows])
    coef, intercept = probe.coef_, probe.intercept_
    if coef.shape[0] == 1:  # binary: one score for class 1; class 0's stays 0 under softmax
        coef, intercept = np.concatenate([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    coef, intercept = temperature * coef, temperature * intercept
    kernel = (coef / scale).T
    bias = intercept - (mean / scale) @ coef.T
    chosen = {"probe_C": C, "probe_views": bool(views and len(y) > images), "probe_temperature": temperature,
              "probe_chosen_by": by, "probe_score": round(accuracy[(C, views)], 6) if accuracy else None}
    if len(val_y):
        chosen["probe_val_accuracy"] = round(float((_scores(probe, val_z).argmax(1) == val_y).mean()), 6)
    return kernel.astype(np.float32), bias.astype(np.float32), chosen


def _train_head(model, trainer: Trainer, config: TrainClassifierConfig, train_set: ImageSet, val_set: ImageSet,
                lr: float, events: Events, callbacks: list | None) -> tuple[dict, dict]:
    """Trains the new head of a frozen-backbone model on the backbone's pooled features,
    computed once: every training image plus `views` augmented copies of it, and the
    validation images. The head starts from a linear probe on those features; its
    trained weights are then copied into `model`. Returns (history, what was chosen)."""
    import time

    logits = model.get_layer("logits")
    pixels = model.input
    extractor = keras.Model(pixels, logits.input, name="frozen_features")  # preprocessing, backbone, pooling
    views = view_count(config, len(train_set))
    start = time.perf_counter()
    x, val_x, feature_seconds = view_features(extractor, train_set, val_set, views, config.batch_size,
                                              trainer.config.seed, events)
    y = np.tile(train_set.labels, 1 + views)

    kernel, bias, probe = _linear_probe(x, y, len(train_set), val_x, val_set.labels)
    score = "" if probe["probe_score"] is None else f": accuracy {probe['probe_score']:.4f}"
    chosen = {"feature_views": 1 + views, "feature_seconds": round(feature_seconds, 1), **probe}
    found = (f"backbone features of {len(train_set)} images x {1 + views} views and {len(val_set)} validation "
             f"images in {feature_seconds:.1f} s; linear probe C = {probe['probe_C']:g}"
             f"{' with' if probe['probe_views'] else ' without'} the augmented views "
             f"(by {probe['probe_chosen_by']}{score})")
    if not len(val_set):
        # Nothing to stop a head's training on: the cross-validated probe is the head.
        events.message(f"{found}; it is the head")
        logits.set_weights([kernel, bias])
        return {"seconds": time.perf_counter() - start}, {**chosen, "head": "linear probe"}
    events.message(f"{found}, validation accuracy {probe['probe_val_accuracy']:.4f}; the head trains on from it")
    with trainer.scope():
        features = keras.Input((x.shape[1],), name="features")
        head_logits = keras.layers.Dense(len(train_set.class_names), kernel_regularizer=logits.kernel_regularizer,
                                         name="logits")
        out = keras.layers.Activation("softmax", dtype="float32")(
            head_logits(keras.layers.Dropout(config.dropout)(features)))
        head = keras.Model(features, out, name="head")
        head_logits.set_weights([kernel, bias])
    seed = trainer.config.seed
    train_ds = trainer.distribute(tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
        len(y), seed=seed, reshuffle_each_iteration=True).batch(config.batch_size).prefetch(tf.data.AUTOTUNE))
    val_ds = trainer.distribute(tf.data.Dataset.from_tensor_slices((val_x, val_set.labels)).batch(config.batch_size))
    steps = training.steps_in(train_ds) or 1
    _compile(head, trainer, config, lr, steps)
    history = trainer.fit(head, train_ds, val_ds, config.epochs,
                          callbacks=[*(callbacks or []),
                                     *_phase_callbacks(config, config.epochs, steps, "training the head", events)])
    trained = float((head.predict(val_x, verbose=0).argmax(1) == val_set.labels).mean())
    if trained < probe["probe_val_accuracy"]:
        # Training drifted from a better start (few images, far from ImageNet's): the
        # probe is kept, as the validation images say.
        events.message(f"the trained head's validation accuracy {trained:.4f} is below the probe's: the probe is "
                       f"the head")
        head_logits.set_weights([kernel, bias])
    chosen["head"] = "linear probe" if trained < probe["probe_val_accuracy"] else "trained from the probe"
    logits.set_weights(head_logits.get_weights())
    history["seconds"] += feature_seconds
    return history, chosen


def _training_folders(data: str, val_dir: str | None, events: Events) -> tuple[str, str | None]:
    """(training folder, validation folder or None) for DATA_DIR and --val-dir: a split
    layout (train/ plus validation/, val/ or test/) trains on train/ and validates on
    the held-out split unless --val-dir names another folder."""
    layout = split_layout(data)
    if layout is None:
        return data, val_dir
    train_dir, held_out = layout
    if val_dir:
        events.message(f"{data} is split: training on {train_dir}, validating on {val_dir}")
        return train_dir, val_dir
    events.message(f"{data} is split: training on {train_dir}, validating on {held_out}")
    return train_dir, held_out


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
    """A classifier's scores on the class folders in `data`: dlkit.core.metrics.classification's
    record (examples, accuracy, macro_f1, per_class {class: precision, recall, f1, support},
    confusion_matrix, labels: the classes that are a folder or a prediction here, in the
    model's order) with "input", "model", "macro_precision", "macro_recall" and
    "confusion_plot": the confusion-matrix PNG it draws (default: beside the model,
    <model>.confusion.png). `model`: a .keras path, a loaded Classifier, or None for the
    ImageNet classifier (folders named by ImageNet labels). `batch_size` applies to a
    model that is not loaded yet."""
    classifier = model if isinstance(model, Classifier) else load(model, ClassifyConfig(batch_size=batch_size))
    names = classifier.labels
    if names is None:
        raise DlkitError(f"{classifier.source}: no class names in the model (train it with dlkit train-classifier)")
    confusion_png = files.check_output(confusion_png or os.path.splitext(classifier.source)[0] + ".confusion.png",
                                       what="confusion-matrix picture")
    images = load_folder(data, classifier.input_size, names, events)
    step = classifier.batch_size
    probabilities = np.concatenate([classifier.outputs(images.images[i:i + step])
                                    for i in range(0, len(images), step)])
    predicted = probabilities.argmax(axis=1)
    scores = metrics.classification([names[i] for i in images.labels], [names[i] for i in predicted], names,
                                    plot=confusion_png, keep_absent=False,
                                    title=f"{os.path.basename(classifier.source)} on "
                                          f"{os.path.basename(os.path.abspath(data))}")
    return {"input": data, "model": classifier.source, **scores,
            "macro_precision": metrics.macro(scores, "precision"), "macro_recall": metrics.macro(scores, "recall")}

