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
from dataclasses import dataclass, field

import numpy as np

from dlkit.core import config as settings
from dlkit.core import files, modelio
from dlkit.core.config import validate
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events, warn_all
from dlkit.core.runtime import keras
from dlkit.core.task import Run
from dlkit.tasks.svm.config import SOBEL, FeaturesConfig, SVMConfig
from dlkit.vision import backbones
from dlkit.vision.folders import class_folders
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
    which an SVM keeps as SVMModel.features)."""
    return FeaturesConfig(backbone=meta["backbone"], layer=meta["layer"], image_size=meta["image_size"],
                          batch_size=batch_size)


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
        return {"backbone": self.config.backbone, "layer": self.config.layer, "image_size": self.config.size(),
                "dimensions": self.dimensions}

    def predict_images(self, images: np.ndarray) -> list[dict]:
        return [{"features": vector} for vector in self.outputs(images)]

    def extract_dataset(self, source: str | list[str], events: Events = SILENT,
                        description: str = "extracting features") -> Features:
        """Features for a folder-per-class dataset (a folder: labelled) or a list of
        paths. Unusable images are left out and listed in `skipped`."""
        if isinstance(source, str):
            by_class = class_folders(source, events)
            paths = [p for c in by_class for p in by_class[c]]
            labels = [c for c in by_class for _ in by_class[c]]
        else:
            paths, labels = list(source), None
        rows, kept, kept_labels, skipped = [], [], [], {}
        with events.progress(len(paths), description) as advance:
            for i, record in enumerate(self.predict(paths)):
                advance()
                if "error" in record:
                    skipped[paths[i]] = record["error"]
                    continue
                rows.append(record["features"])
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


def fit(train: Features, config: SVMConfig | None = None, test: Features | None = None,
        events: Events = SILENT) -> SVMModel:
    """Standardize, pick C by stratified cross-validation, fit; report accuracies.
    Without a `test` set, `config.test_split` of the data is held out for it."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    config = validate(config or SVMConfig())
    if train.labels is None:
        raise DlkitError("training features have no labels (extract them from a folder-per-class dataset)")
    x, y = train.features, np.array(train.labels)
    if test is None:
        x, x_test, y, y_test = train_test_split(x, y, test_size=config.test_split, stratify=y,
                                                random_state=config.seed)
    else:
        if test.meta.get("backbone") != train.meta.get("backbone"):
            raise DlkitError("test features come from a different backbone than the training features")
        x_test, y_test = test.features, np.array(test.labels)
    if config.kernel == "linear":
        svm = LinearSVC(C=config.C or 1.0, max_iter=config.max_iter, random_state=config.seed)
    else:
        svm = SVC(C=config.C or 1.0, kernel="rbf", gamma="scale")
    pipeline = make_pipeline(StandardScaler(), svm)
    smallest = int(min(np.unique(y, return_counts=True)[1]))
    folds = StratifiedKFold(n_splits=max(2, min(config.folds, smallest)), shuffle=True, random_state=config.seed)
    grid = [config.C] if config.C else list(config.c_grid)
    search = GridSearchCV(pipeline, {f"{type(svm).__name__.lower()}__C": grid}, cv=folds, n_jobs=1)
    search.fit(x, y)
    best_c = float(search.best_params_[f"{type(svm).__name__.lower()}__C"])
    events.message(f"C = {best_c:g} (cross-validated accuracy {search.best_score_:.4f})")
    fitted = search.best_estimator_
    metrics = {
        "cv_accuracy": round(float(search.best_score_), 4),
        "test_accuracy": round(float((fitted.predict(x_test) == y_test).mean()), 4),
        "C": best_c,
        "train_images": int(len(y)),
        "test_images": int(len(y_test)),
    }
    return SVMModel(fitted, [str(c) for c in fitted.classes_], train.meta, metrics)


def train(data: "str | Features", output: str, config: SVMConfig | None = None, events: Events = SILENT, *,
          test: "str | Features | None" = None, features: FeaturesConfig | None = None) -> Run:
    """Fits an SVM on `data` (a folder of class folders, a features file from
    extract-features, or Features) and writes the model folder `output`; `test` (the
    same kinds) is held out for the test accuracy. `features`: how images are turned
    into features (a features file says it itself); the test set's follow the training
    set's. The Run's summary is the record `dlkit train-svm` prints."""
    files.check_output(output, folder=True, what="SVM model")
    config = validate(config or SVMConfig())
    features = features or FeaturesConfig()
    train_set = _features(data, features, events)
    test_set = _features(test, extraction(train_set.meta, features.batch_size), events) if test is not None else None
    events.message(f"training a {config.kernel} SVM on {len(train_set.paths)} images, "
                   f"{train_set.features.shape[1]} features")
    model = fit(train_set, config, test_set, events)
    model.save(output)
    summary = {"model": output, "backbone": train_set.meta["backbone"], "kernel": config.kernel, **model.metrics}
    return Run(output, summary=summary)


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

class SVMPredictor(FeatureExtractor):
    """Image paths in, {"label", "scores"} out: the features the SVM was trained on,
    through the SVM."""

    def __init__(self, svm: SVMModel, batch_size: int = 32):
        config = extraction(svm.features, batch_size)
        super().__init__(config)
        if self.dimensions != svm.features["dimensions"]:
            raise DlkitError(f"{config.backbone} {config.layer} gives {self.dimensions} features; "
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
    return SVMPredictor(SVMModel.load(path or modelio.pretrained_path("svm")), batch_size)
