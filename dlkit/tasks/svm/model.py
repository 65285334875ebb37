"""CNN features + SVM: an ImageNet network as a generic feature extractor, a linear
(or RBF) SVM on top, and the shallow Sobel-edge baseline to compare with.

    from dlkit.tasks import svm
    run = svm.train("pets/train", "pets-svm", test="pets/validation")
    for record in svm.load("pets-svm").predict(["cat.jpg"]):
        print(record)      # {"input", "label", "scores"}, or {"input", "error"}

A model folder holds svm.skops (the scaler + SVM, loaded with only scikit-learn and
NumPy types allowed) and config.json (classes, the feature settings, metrics).
"""

import functools
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterable

import numpy as np

from dlkit.core import config as settings
from dlkit.core import files, metrics, modelio
from dlkit.core.config import validate
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events, warn_all
from dlkit.core.runtime import keras
from dlkit.core.task import Run
from dlkit.core.inputs import expand_paths
from dlkit.core.training import make_strategy
from dlkit.core.training_config import TrainConfig
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.svm import TASK
from dlkit.tasks.svm.config import SOBEL, FeaturesConfig, SVMConfig
from dlkit.vision import backbones, encoders
from dlkit.vision.folders import class_folders, split_layout
from dlkit.vision.images import ImagePredictor


# ---- Data: features --------------------------------------------------------------------

@dataclass
class Features:
    """One row per image; `labels` are class names for a folder-per-class dataset."""

    features: np.ndarray
    paths: list[str]
    labels: list[str] | None
    meta: dict = field(default_factory=dict)
    # {path: why} of the images left out as unusable; not saved with the features.
    skipped: dict[str, str] = field(default_factory=dict)

    def save(self, path: str) -> None:
        with files.atomic_path(path) as tmp:
            with open(tmp, "wb") as f:  # a file object keeps numpy from appending .npz
                np.savez(f, features=self.features, paths=np.array(self.paths, dtype=str),
                         labels=np.array(self.labels or [], dtype=str), meta=np.array(json.dumps(self.meta)))

    @classmethod
    def load(cls, path: str) -> "Features":
        try:
            with np.load(path, allow_pickle=False) as data:
                labels = data["labels"].tolist()
                return cls(data["features"], data["paths"].tolist(), labels or None,
                           json.loads(str(data["meta"])))
        except FileNotFoundError:
            raise DlkitError(f"features file not found: {path}") from None
        except (OSError, ValueError, KeyError) as e:
            raise DlkitError(f"{path} is not a dlkit features file ({str(e).splitlines()[0][:120]})") from None


def extraction(meta: dict, batch_size: int = 32) -> FeaturesConfig:
    """The settings that extract features like those `meta` describes (Features.meta,
    which an SVM keeps as SVMModel.features): a backbone's, or a model file's (whose
    meta has "model" and no "backbone")."""
    if meta.get("model"):
        return FeaturesConfig(model=meta["model"], batch_size=batch_size)
    return FeaturesConfig(backbone=meta["backbone"], layer=meta["layer"], image_size=meta["image_size"],
                          batch_size=batch_size)


def source_of(meta: dict) -> str:
    """What made these features, for messages and summaries: a backbone or a model file."""
    return meta.get("model") or meta.get("backbone", "?")


# ---- Model: the feature extractor --------------------------------------------------------

def sobel_model(size: int, grid: int = 4) -> "keras.Model":
    """Rectified responses of four fixed Sobel filters (horizontal, vertical, two
    diagonals) on the grey image, average- and max-pooled over a grid x grid layout."""
    gx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    diagonal = np.array([[0, 1, 2], [-1, 0, 1], [-2, -1, 0]], np.float32)
    kernels = np.stack([gx, gx.T, diagonal, diagonal[::-1]], axis=-1)[:, :, None, :] / 8.0
    inputs = keras.Input((size, size, 3))
    grey = keras.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="grey")
    edges = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, trainable=False, name="sobel")
    x = edges(grey(inputs))
    x = keras.layers.Concatenate()([keras.layers.ReLU()(x), keras.layers.ReLU()(-x)])  # both signs
    pool = size // grid
    mean = keras.layers.Flatten()(keras.layers.AveragePooling2D(pool)(x))
    peak = keras.layers.Flatten()(keras.layers.MaxPooling2D(pool)(x))
    model = keras.Model(inputs, keras.layers.Concatenate()([mean, peak]), name="sobel")
    grey.set_weights([np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 1, 3, 1) / 255.0])
    edges.set_weights([kernels])
    return model


class FeatureExtractor(ImagePredictor):
    """Image paths in, {"features": vector} out (a Predictor); extract_dataset gathers
    the features of a whole data set."""

    def __init__(self, config: FeaturesConfig | None = None):
        self.config = validate(config or FeaturesConfig())
        if self.config.model:
            if self.config.layer != "pooled":
                raise DlkitError("--layer picks a backbone's layer; it does not apply with --model")
            # The model's file, absolute: an SVM trained on these features finds it again.
            self.config = replace(self.config, model=os.path.abspath(self.config.model))
            model, size = encoders.load_encoder(self.config.model)
            if self.config.image_size not in (None, size):
                raise DlkitError(f"{self.config.model} takes {size}px images; --image-size {self.config.image_size} "
                                 f"does not apply")
            super().__init__(model, size, None, self.config.batch_size)
            self.dimensions = int(model.output_shape[-1])
            return
        size = self.config.size()
        if self.config.backbone == SOBEL:
            if self.config.layer != "pooled":
                raise DlkitError("--layer does not apply to the sobel baseline")
            model, preprocess = sobel_model(size), None
        else:
            backbone = backbones.get(self.config.backbone)
            weights = self.config.weights or "imagenet"
            if self.config.layer == "pooled":
                model = backbones.build(backbone.name, include_top=False, input_size=size, weights=weights,
                                        pooling="avg")
            else:
                model = _layer_model(backbones.build(backbone.name, include_top=False, input_size=size,
                                                     weights=weights), self.config.layer)
            preprocess = backbone.preprocess
        super().__init__(model, size, preprocess, self.config.batch_size)
        self.dimensions = int(model.output_shape[-1])

    @property
    def meta(self) -> dict:
        if self.config.model:  # no "backbone": none was used; the model fixes the image size
            return {"model": self.config.model, "layer": "pooled", "image_size": None,
                    "dimensions": self.dimensions}
        return {"backbone": self.config.backbone, "layer": self.config.layer, "image_size": self.config.size(),
                "dimensions": self.dimensions}

    def predict_images(self, images: np.ndarray) -> list[dict]:
        return [{"features": vector} for vector in self.outputs(images)]

    def extract_dataset(self, source: str | list[str], events: Events = SILENT,
                        description: str = "extracting features",
                        predict: Callable[[list[str]], Iterable[dict]] | None = None) -> Features:
        """Features for a folder-per-class dataset (a folder: labelled) or a list of
        paths. Unusable images are left out and listed in `skipped`. `predict` gives
        the records of a list of paths another way than this extractor's own predict
        (the CLI's Ray engine: the same extractor on Ray's workers)."""
        if isinstance(source, str):
            by_class = class_folders(source, events)
            paths = [p for c in by_class for p in by_class[c]]
            labels = [c for c in by_class for _ in by_class[c]]
        else:
            paths, labels = list(source), None
        rows, kept, kept_labels, skipped = [], [], [], {}
        with events.progress(len(paths), description) as advance:
            for i, record in enumerate((predict or self.predict)(paths)):
                advance()
                if "error" in record:
                    skipped[paths[i]] = record["error"]
                    continue
                rows.append(np.asarray(record["features"], np.float32))
                kept.append(paths[i])
                if labels:
                    kept_labels.append(labels[i])
        if not rows:
            raise DlkitError("no usable images to extract features from")
        return Features(np.stack(rows).astype(np.float32), kept, kept_labels if labels else None, self.meta, skipped)


def _layer_model(model: "keras.Model", name: str) -> "keras.Model":
    try:
        layer = model.get_layer(name)
    except ValueError:
        names = [l.name for l in model.layers[-8:]]
        raise DlkitError(f"no layer {name!r} in {model.name}; its last layers are: {', '.join(names)}") from None
    x = layer.output
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(model.input, x)


# ---- Training: the SVM -----------------------------------------------------------------

# The only types an SVM folder's svm.skops may hold.
_SAFE_TYPES = ("sklearn.", "numpy.")


@dataclass
class SVMModel:
    """A fitted scaler + SVM and the extractor settings its features need."""

    pipeline: object
    classes: list[str]
    features: dict  # FeaturesConfig's backbone, layer and image_size, plus the dimensions
    metrics: dict

    def save(self, folder: str) -> None:
        import skops.io

        modelio.write_folder(folder, None, {"classes": self.classes, "features": self.features, "metrics": self.metrics},
                             {"svm.skops": functools.partial(skops.io.dump, self.pipeline)})

    @classmethod
    def load(cls, folder: str) -> "SVMModel":
        """Loads only the scikit-learn and NumPy types an SVM pipeline is made of (a
        tampered file naming any other type is refused, not executed), after checking
        config.json against the pipeline: its classes, in order, and its feature count."""
        import skops.io

        _, saved = modelio.read_folder(folder, "SVM model", "train-svm", files=("svm.skops",))
        config_path, model_path = os.path.join(folder, "config.json"), os.path.join(folder, "svm.skops")
        classes, features = _checked_classes(saved, config_path), _checked_features(saved, config_path)
        try:
            untrusted = skops.io.get_untrusted_types(file=model_path)
            unexpected = [t for t in untrusted if not t.startswith(_SAFE_TYPES)]
            if unexpected:
                raise DlkitError(f"{model_path} contains unexpected types ({', '.join(unexpected[:3])}); "
                                 f"refusing to load")
            pipeline = skops.io.load(model_path, trusted=untrusted)
            fitted = [str(c) for c in pipeline.classes_], int(pipeline.n_features_in_)
        except DlkitError:
            raise
        except Exception as e:
            first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise DlkitError(f"cannot load SVM model {folder}: {first}") from None
        if fitted[0] != classes:
            raise DlkitError(f"{config_path}: classes {classes} do not match the SVM's {fitted[0]}")
        if fitted[1] != features["dimensions"]:
            raise DlkitError(f"{config_path}: {features['dimensions']} feature dimensions, but the SVM "
                             f"takes {fitted[1]}")
        return cls(pipeline, classes, features, saved.get("metrics", {}))

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """Decision values per class (n, classes): larger means more likely."""
        values = self.pipeline.decision_function(vectors)
        if values.ndim == 1:  # binary: one margin, positive for classes[1]
            values = np.stack([-values, values], axis=1)
        return values


def _checked_classes(saved: dict, path: str) -> list[str]:
    classes = saved.get("classes")
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise DlkitError(f"{path}: classes must be a list of at least 2 class names")
    return classes


def _checked_features(saved: dict, path: str) -> dict:
    features = saved.get("features")
    if not isinstance(features, dict):
        raise DlkitError(f"{path}: features must be an object (backbone, layer, image_size, dimensions)")
    settings.load(FeaturesConfig, features, f"{path} features")
    dimensions = features.get("dimensions")
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
        raise DlkitError(f"{path}: features dimensions must be a positive whole number, not {dimensions!r}")
    return features


def _svm(config: SVMConfig, C: float):
    """A scaler and the SVM: LinearSVC's dual solver (it scales with the images, not
    the 1,000+ feature dimensions), or an RBF SVC."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    if config.kernel == "linear":
        svm = LinearSVC(C=C, dual=True, max_iter=config.max_iter, random_state=config.seed)
    else:
        svm = SVC(C=C, kernel="rbf", gamma="scale")
    return make_pipeline(StandardScaler(), svm)


def _squared_hinge_ovr(x: np.ndarray, y: np.ndarray, C: float, tol: float,
                       start: np.ndarray | None = None) -> np.ndarray:
    """LinearSVC's problem (squared hinge, L2, one-vs-rest, the intercept a regularized
    constant feature as in liblinear) for every class at once: W of shape (features+1,
    columns) minimizing 0.5 |W|^2 + C sum max(0, 1 - Y * [x 1] W)^2, with Y +1 for the
    class of a column and -1 elsewhere (one column for two classes). The objective is
    smooth, so L-BFGS solves it, and each step is two matrix products over all classes:
    on 100 classes x 20 images it took 1-6 s where liblinear, one class at a time,
    took 11-22 s, for the same weights to within 1% and the same accuracy. `start`:
    the weights at a neighbouring C (a warm start)."""
    from scipy.optimize import minimize

    xb = np.hstack([x, np.ones((len(x), 1))]).astype(np.float32)
    columns = 1 if y.max() == 1 else int(y.max()) + 1
    signs = -np.ones((len(x), columns), np.float32)
    if columns == 1:
        signs[y == 1, 0] = 1
    else:
        signs[np.arange(len(x)), y] = 1

    def objective(w):
        weights = w.reshape(xb.shape[1], columns).astype(np.float32)
        slack = np.maximum(0, 1 - signs * (xb @ weights))
        value = 0.5 * float((weights * weights).sum()) + C * float((slack * slack).sum())
        gradient = weights - 2 * C * (xb.T @ (signs * slack))
        return value, gradient.ravel().astype(np.float64)

    w0 = np.zeros(xb.shape[1] * columns) if start is None else start.ravel()
    result = minimize(objective, w0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "ftol": tol, "gtol": 0})
    return result.x.reshape(xb.shape[1], columns)


def _predict_ovr(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    scores = np.hstack([x, np.ones((len(x), 1))]) @ weights
    return (scores[:, 0] > 0).astype(int) if weights.shape[1] == 1 else scores.argmax(axis=1)


def search(x: np.ndarray, y: np.ndarray, config: SVMConfig, events: Events = SILENT) -> tuple[float, float, dict]:
    """(best C, its cross-validated accuracy, {C: accuracy}). The grid is walked from
    the smallest C up, and the walk stops at the first C that scores below the best:
    accuracy rises then falls with C, and every step up costs more than the last (a
    larger C converges more slowly). Ties keep the smaller C. For the linear SVM each
    fold's weights at one C start the next (_squared_hinge_ovr); an RBF SVM is
    cross-validated by scikit-learn, folds in parallel."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.preprocessing import StandardScaler

    smallest = int(min(np.unique(y, return_counts=True)[1]))
    folds = StratifiedKFold(n_splits=max(2, min(config.folds, smallest)), shuffle=True, random_state=config.seed)
    splits = list(folds.split(x, y))
    labels = np.unique(y, return_inverse=True)[1]
    scaled, weights = [], [None] * len(splits)
    if config.kernel == "linear":
        for train, held_out in splits:
            scaler = StandardScaler().fit(x[train])
            scaled.append((scaler.transform(x[train]), scaler.transform(x[held_out])))
    scores: dict[float, float] = {}
    best = None
    for C in config.grid():
        if config.kernel == "linear":
            accuracies = []
            for i, ((train, held_out), (x_train, x_held_out)) in enumerate(zip(splits, scaled)):
                weights[i] = _squared_hinge_ovr(x_train, labels[train], C, config.search_tol, weights[i])
                accuracies.append(float((_predict_ovr(weights[i], x_held_out) == labels[held_out]).mean()))
            score = float(np.mean(accuracies))
        else:
            score = float(np.mean(cross_val_score(_svm(config, C), x, y, cv=splits,
                                                  n_jobs=min(len(splits), os.cpu_count() or 1))))
        scores[C] = score
        events.message(f"C = {C:g}: cross-validated accuracy {score:.4f}")
        if best is not None and score < scores[best]:
            break
        best = C if best is None or score > scores[best] else best
    return best, scores[best], scores


def fit(train: Features, config: SVMConfig | None = None, test: Features | None = None,
        events: Events = SILENT) -> SVMModel:
    """Standardize, pick C by stratified cross-validation (search), then fit the final
    model on all of `train`. Reports the cross-validated accuracy, and the accuracy and
    macro-F1 on `test` when one is given."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    config = validate(config or SVMConfig())
    if train.labels is None:
        raise DlkitError("training features have no labels (extract them from a folder-per-class dataset)")
    if test is not None and test.labels is None:
        raise DlkitError("test features have no labels (extract them from a folder-per-class dataset)")
    if test is not None and source_of(test.meta) != source_of(train.meta):
        raise DlkitError(f"test features come from {source_of(test.meta)}, the training features from "
                         f"{source_of(train.meta)}")
    x, y = train.features, np.array(train.labels)
    best_c, cv_accuracy, scores = search(x, y, config, events)
    events.message(f"C = {best_c:g} (cross-validated accuracy {cv_accuracy:.4f}); fitting on all "
                   f"{len(y)} images")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fitted = _svm(config, best_c).fit(x, y)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        events.warning(f"the SVM did not converge in {config.max_iter} iterations at C = {best_c:g}")
    classes = [str(c) for c in fitted.classes_]
    summary = {"cv_accuracy": round(cv_accuracy, 4), "C": best_c,
               "cv_accuracy_by_C": {f"{c:g}": round(v, 4) for c, v in scores.items()},
               "train_images": int(len(y))}
    if test is not None:  # scored as evaluate scores a folder
        tested = metrics.classification(test.labels, fitted.predict(test.features), classes)
        summary.update(test_accuracy=tested["accuracy"], test_macro_f1=tested["macro_f1"],
                       test_images=tested["examples"])
    return SVMModel(fitted, classes, train.meta, summary)


def train(data: "str | Features", output: str, config: SVMConfig | None = None,
          training: TrainConfig | None = None, events: Events = SILENT, *, test: "str | Features | None" = None,
          features: FeaturesConfig | None = None) -> Run:
    """Fits an SVM on `data` (a folder of class folders, a features file from
    extract-features, or Features) and writes the model folder `output`; `test` (the
    same kinds) is held out for the test accuracy. A split folder (train/ plus
    validation/, val/ or test/) trains on train/ and tests on the other. `features`: how images are turned
    into features (a features file says it itself); the test set's follow the training
    set's. Of `training`: the seed (of the cross-validation folds), the strategy (the
    devices that extract features), and the checkpoint folder: the features extracted
    from image folders are kept in `training.workdir` (default OUTPUT.ckpt) until the
    SVM is saved, and `training.resume` reads them back instead of extracting them
    again. The Run's summary is the record `dlkit train-svm` prints."""
    files.check_output(output, folder=True, what="SVM model")
    config = validate(config or SVMConfig())
    training = training or TrainConfig()
    if training.seed is not None:
        config = replace(config, seed=training.seed)
    workdir = training.workdir or output.rstrip(os.sep) + ".ckpt"
    resume = training.resume or training.workdir is not None
    features = features or FeaturesConfig()
    layout = split_layout(data) if isinstance(data, str) else None
    if layout:
        data, held_out = layout[0], test if test is not None else layout[1]
        events.message(f"{os.path.dirname(data)} is split: training on {data}, testing on {held_out}")
        test = held_out
    with make_strategy(training.strategy).scope():  # the extractors' networks, on the strategy's devices
        train_set = _checkpointed(data, features, events, os.path.join(workdir, "train.npz"), resume)
        test_set = _checkpointed(test, extraction(train_set.meta, features.batch_size), events,
                                 os.path.join(workdir, "test.npz"), resume) if test is not None else None
    events.message(f"training a {config.kernel} SVM on {len(train_set.paths)} images, "
                   f"{train_set.features.shape[1]} features")
    model = fit(train_set, config, test_set, events)
    model.save(output)
    made_by = {"features_model": train_set.meta["model"]} if train_set.meta.get("model") else \
        {"backbone": train_set.meta["backbone"]}
    summary = {"model": output, **made_by, "kernel": config.kernel, **model.metrics}
    shutil.rmtree(workdir, ignore_errors=True)
    return Run(output, summary=summary)


def _checkpointed(source: "str | Features", config: FeaturesConfig, events: Events, path: str,
                  resume: bool) -> Features:
    """_features(source), read back from the checkpoint `path` when resuming; features
    extracted from an image folder are written there (extraction is the long part)."""
    if resume and os.path.exists(path):
        events.message(f"resuming: features from {path}")
        return Features.load(path)
    found = _features(source, config, events)
    if isinstance(source, str) and os.path.isdir(source):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        found.save(path)
    return found


def _features(source: "str | Features", config: FeaturesConfig, events: Events) -> Features:
    if isinstance(source, Features):
        return source
    if os.path.isfile(source):
        return Features.load(source)
    if not os.path.exists(source):
        raise DlkitError(f"no such file or folder: {source}")
    found = FeatureExtractor(config).extract_dataset(
        source, events, f"features of {os.path.basename(source.rstrip('/'))}")
    warn_all(events, [f"{path}: {error}; skipped" for path, error in found.skipped.items()])
    return found


# ---- Inference -------------------------------------------------------------------------

def extract_files(images: list[str], output: str, config: FeaturesConfig | None = None,
                  engine: EngineConfig = EngineConfig(), events: Events = SILENT) -> Features:
    """What `dlkit extract-features` does: the features of `images` (one folder of class
    folders keeps its labels; else files, globs, folders) computed here or on Ray's
    workers, saved to the .npz `output`. Unreadable images are left out, listed in the
    result's `skipped`."""
    config = validate(config or FeaturesConfig())
    files.check_output(output, what="features file")
    extracting = FeatureExtractor(config)
    single_dir = len(images) == 1 and os.path.isdir(images[0])
    labelled = single_dir and any(os.path.isdir(os.path.join(images[0], d)) for d in os.listdir(images[0]))

    def vectors(paths):
        options = {k: v for k, v in asdict(config).items() if k != "model"}
        return predictions("dlkit.tasks.svm.model:extractor", {"path": config.model, **options}, paths, engine,
                           config.batch_size, events)

    features = extracting.extract_dataset(images[0] if labelled else expand_paths(images), events, predict=vectors)
    features.save(output)
    events.message(f"{len(features.paths)} feature vectors of {extracting.dimensions} values -> {output}"
                   + (f" ({len(set(features.labels))} classes)" if features.labels else ""))
    return features


def extractor(path: str | None = None, **options) -> FeatureExtractor:
    """The feature extractor of `dlkit extract-features`: the .keras model at `path` (RGB
    pixels to vectors), or the FeaturesConfig backbone (path None); `options`: the
    other FeaturesConfig fields."""
    return FeatureExtractor(validate(FeaturesConfig(**{**options, "model": path})))


class SVMPredictor(FeatureExtractor):
    """Image paths in, {"label", "scores"} out: the features the SVM was trained on,
    through the SVM."""

    def __init__(self, svm: SVMModel, batch_size: int = 32):
        config = extraction(svm.features, batch_size)
        super().__init__(config)
        if self.dimensions != svm.features["dimensions"]:
            made_by = config.model or f"{config.backbone} {config.layer}"
            raise DlkitError(f"{made_by} gives {self.dimensions} features; "
                             f"the SVM takes {svm.features['dimensions']}")
        self.svm = svm

    def predict_images(self, images: np.ndarray) -> list[dict]:
        results = []
        for scores in self.svm.scores(self.outputs(images)):
            ranked = np.argsort(-scores)
            results.append({"label": self.svm.classes[ranked[0]],
                            "scores": {self.svm.classes[i]: round(float(scores[i]), 4) for i in ranked}})
        return results


def load(path: str | None = None, batch_size: int = 32) -> SVMPredictor:
    """The SVM in the folder `path` (written by train / dlkit train-svm) with the
    feature extractor it was trained on; None: the one dlkit ships, if any."""
    return SVMPredictor(SVMModel.load(path or modelio.pretrained_path(TASK.name)), batch_size)


def evaluate(data: str, model: "str | SVMPredictor | None" = None, events: Events = SILENT) -> dict:
    """An SVM's scores on a folder of class folders named like its classes:
    dlkit.core.metrics.classification's record (examples, accuracy, macro_f1, per_class,
    confusion_matrix with rows the true class, labels: the SVM's classes) with "data"
    and "skipped": the unusable images, left out."""
    predictor = model if isinstance(model, SVMPredictor) else load(model)
    classes = predictor.svm.classes
    by_class = class_folders(data, events)
    unknown = sorted(set(by_class) - set(classes))
    if unknown:
        raise DlkitError(f"{data}: class folder(s) {', '.join(unknown)} unknown to the SVM "
                         f"(it knows {', '.join(classes)})")
    paths = [p for c in by_class for p in by_class[c]]
    truth = [c for c in by_class for _ in by_class[c]]
    kept_truth, predicted, skipped = [], [], []
    with events.progress(len(paths), "evaluating") as advance:
        for label, record in zip(truth, predictor.predict(paths)):
            advance()
            if "error" in record:
                skipped.append(f"{record['input']}: {record['error']}; skipped")
                continue
            kept_truth.append(label)
            predicted.append(record["label"])
    warn_all(events, skipped)
    if not predicted:
        raise DlkitError(f"{data}: no usable images to evaluate on")
    return {"data": data, **metrics.classification(kept_truth, predicted, classes), "skipped": len(skipped)}

