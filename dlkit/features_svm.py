"""CNN features + SVM: an ImageNet network as a generic feature extractor, a linear
(or RBF) SVM on top, and the shallow Sobel-edge baseline to compare with.

    from dlkit.features_svm import FeaturesConfig, FeatureExtractor, SVMConfig, train_svm
    features = FeatureExtractor(FeaturesConfig()).extract_dataset("pets/")
    model = train_svm(features, SVMConfig())
"""

import json
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from dlkit import backbones, modelio
from dlkit.errors import DlkitError
from dlkit.images import image_dataset
from dlkit.inputs import IMAGE_EXTENSIONS, expand_paths
from dlkit.runtime import keras, tf

SOBEL = "sobel"


# ---- Configuration ---------------------------------------------------------------------

@dataclass
class FeaturesConfig:
    # Any registry backbone, or "sobel": fixed edge filters, the shallow baseline.
    backbone: str = backbones.DEFAULT
    # "pooled": the global-average-pooled last convolutional block, the usual generic
    # feature; a layer name takes that layer instead (4-D maps are average-pooled).
    layer: str = "pooled"
    # None: the backbone's ImageNet size (224), where its features are best; Sobel uses 128.
    image_size: int | None = None
    # Enough images per step to keep the cores busy, few enough to stay small in memory.
    batch_size: int = 32
    weights: str | None = None

    def size(self) -> int:
        if self.image_size:
            return self.image_size
        return 128 if self.backbone == SOBEL else backbones.get(self.backbone).input_size


@dataclass
class SVMConfig:
    # Linear: fast, and CNN features are close to linearly separable; rbf for small data.
    kernel: str = "linear"
    # None: chosen by cross-validation from `c_grid`.
    C: float | None = None
    c_grid: tuple[float, ...] = (0.00001, 0.0001, 0.001, 0.01, 0.1, 1.0, 10.0)
    # 5 folds is the usual bias/variance compromise; fewer are used for tiny classes.
    folds: int = 5
    # Share of the data held out to report accuracy on unseen images (when no test set).
    test_split: float = 0.2
    seed: int = 0
    # Enough iterations for LinearSVC to converge on standardized CNN features.
    max_iter: int = 5000


# ---- Data: features --------------------------------------------------------------------

@dataclass
class Features:
    """One row per image; `labels` are class names for a folder-per-class dataset."""

    features: np.ndarray
    paths: list[str]
    labels: list[str] | None
    meta: dict = field(default_factory=dict)

    def save(self, path: str) -> None:
        with modelio.atomic_path(path) as tmp:
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


def class_folders(root: str) -> dict[str, list[str]]:
    """{class name: image paths} for a folder with one sub-folder of images per class."""
    if not os.path.isdir(root):
        raise DlkitError(f"{root}: not a folder")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    found = {c: expand_paths([os.path.join(root, c)], extensions=IMAGE_EXTENSIONS) for c in classes}
    empty = [c for c, paths in found.items() if not paths]
    if empty:
        raise DlkitError(f"{root}: class folder(s) with no images: {', '.join(empty)}")
    if len(found) < 2:
        raise DlkitError(f"{root}: expected one sub-folder per class (at least two), found {len(found)}")
    return found


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


class FeatureExtractor:
    def __init__(self, config: FeaturesConfig | None = None):
        self.config = config or FeaturesConfig()
        size = self.config.size()
        if self.config.backbone == SOBEL:
            if self.config.layer != "pooled":
                raise DlkitError("--layer does not apply to the sobel baseline")
            self.model, preprocess = sobel_model(size), None
        else:
            backbone = backbones.get(self.config.backbone)
            weights = self.config.weights or "imagenet"
            if self.config.layer == "pooled":
                self.model = backbones.build(backbone.name, include_top=False, input_size=size,
                                             weights=weights, pooling="avg")
            else:
                self.model = _layer_model(backbones.build(backbone.name, include_top=False, input_size=size,
                                                          weights=weights), self.config.layer)
            preprocess = backbone.preprocess
        self.dimensions = int(self.model.output_shape[-1])

        @tf.function(reduce_retracing=True)
        def extract(images):
            x = tf.cast(images, tf.float32)
            return self.model(preprocess(x) if preprocess else x, training=False)

        self._extract = extract

    @property
    def meta(self) -> dict:
        return {"backbone": self.config.backbone, "layer": self.config.layer, "image_size": self.config.size(),
                "dimensions": self.dimensions}

    def extract(self, paths: list[str], on_batch: Callable[[int], None] | None = None
                ) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
        """(path, feature vector or None, error or None) per path, in order."""
        start = 0
        for images, errors in image_dataset(paths, self.config.size(), self.config.batch_size):
            vectors = self._extract(images).numpy()
            for i, (vector, error) in enumerate(zip(vectors, errors.numpy())):
                yield paths[start + i], (None if error else vector), (error.decode() or None)
            start += len(vectors)
            if on_batch:
                on_batch(len(vectors))

    def extract_dataset(self, root_or_paths, on_batch=None, on_error=None) -> Features:
        """Features for a folder-per-class dataset (labelled) or a list of paths.
        Bad images are skipped, each reported through `on_error(path, message)`."""
        if isinstance(root_or_paths, str):
            by_class = class_folders(root_or_paths)
            paths = [p for c in by_class for p in by_class[c]]
            labels = [c for c in by_class for _ in by_class[c]]
        else:
            paths, labels = list(root_or_paths), None
        rows, kept, kept_labels = [], [], []
        for i, (path, vector, error) in enumerate(self.extract(paths, on_batch)):
            if error:
                if on_error:
                    on_error(path, error)
                continue
            rows.append(vector)
            kept.append(path)
            if labels:
                kept_labels.append(labels[i])
        if not rows:
            raise DlkitError("no usable images to extract features from")
        return Features(np.stack(rows).astype(np.float32), kept, kept_labels if labels else None, self.meta)


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

@dataclass
class SVMModel:
    """A fitted scaler + SVM and the extractor settings its features need."""

    pipeline: object
    classes: list[str]
    features: dict
    metrics: dict

    def save(self, folder: str) -> None:
        import skops.io

        with modelio.atomic_path(folder) as tmp:
            os.makedirs(tmp)
            skops.io.dump(self.pipeline, os.path.join(tmp, "svm.skops"))
            with open(os.path.join(tmp, "config.json"), "w") as f:
                json.dump({"classes": self.classes, "features": self.features, "metrics": self.metrics}, f, indent=2)

    @classmethod
    def load(cls, folder: str) -> "SVMModel":
        """Loads only the scikit-learn and NumPy types an SVM pipeline is made of: a
        tampered file naming any other type is refused, not executed."""
        import skops.io

        config_path, model_path = os.path.join(folder, "config.json"), os.path.join(folder, "svm.skops")
        if not os.path.isdir(folder):
            raise DlkitError(f"SVM model not found: {folder} (expected a folder written by dlkit train-svm)")
        try:
            with open(config_path) as f:
                config = json.load(f)
            untrusted = skops.io.get_untrusted_types(file=model_path)
            unexpected = [t for t in untrusted if not t.startswith(_SAFE_TYPES)]
            if unexpected:
                raise DlkitError(f"{model_path} contains unexpected types ({', '.join(unexpected[:3])}); refusing to load")
            pipeline = skops.io.load(model_path, trusted=untrusted)
            return cls(pipeline, config["classes"], config["features"], config.get("metrics", {}))
        except DlkitError:
            raise
        except Exception as e:
            raise DlkitError(f"cannot load SVM model {folder}: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}") from None

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """Decision values per class (n, classes): larger means more likely."""
        values = self.pipeline.decision_function(vectors)
        if values.ndim == 1:  # binary: one margin, positive for classes[1]
            values = np.stack([-values, values], axis=1)
        return values


_SAFE_TYPES = ("sklearn.", "numpy.")


def train_svm(train: Features, config: SVMConfig | None = None, test: Features | None = None,
              on_message: Callable[[str], None] | None = None) -> SVMModel:
    """Standardize, pick C by stratified cross-validation, fit; report accuracies.
    Without a `test` set, `config.test_split` of the data is held out for it."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    config = config or SVMConfig()
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
    elif config.kernel == "rbf":
        svm = SVC(C=config.C or 1.0, kernel="rbf", gamma="scale")
    else:
        raise DlkitError(f"unknown kernel {config.kernel!r}; choose linear or rbf")
    pipeline = make_pipeline(StandardScaler(), svm)
    smallest = int(min(np.unique(y, return_counts=True)[1]))
    folds = StratifiedKFold(n_splits=max(2, min(config.folds, smallest)), shuffle=True, random_state=config.seed)
    grid = [config.C] if config.C else list(config.c_grid)
    search = GridSearchCV(pipeline, {f"{type(svm).__name__.lower()}__C": grid}, cv=folds, n_jobs=1)
    search.fit(x, y)
    best_c = float(search.best_params_[f"{type(svm).__name__.lower()}__C"])
    if on_message:
        on_message(f"C = {best_c:g} (cross-validated accuracy {search.best_score_:.4f})")
    fitted = search.best_estimator_
    metrics = {
        "cv_accuracy": round(float(search.best_score_), 4),
        "test_accuracy": round(float((fitted.predict(x_test) == y_test).mean()), 4),
        "C": best_c,
        "train_images": int(len(y)),
        "test_images": int(len(y_test)),
    }
    return SVMModel(fitted, [str(c) for c in fitted.classes_], train.meta, metrics)


# ---- Inference -------------------------------------------------------------------------

class SVMPredictor:
    def __init__(self, model_dir: str, batch_size: int = 32):
        self.model = SVMModel.load(model_dir)
        meta = self.model.features
        self.extractor = FeatureExtractor(FeaturesConfig(backbone=meta["backbone"], layer=meta["layer"],
                                                         image_size=meta["image_size"], batch_size=batch_size))

    def predict(self, paths: list[str], on_batch=None) -> Iterator[dict]:
        """{"input", "label", "scores"} per image, or {"input", "error"}."""
        for path, vector, error in self.extractor.extract(paths, on_batch):
            if error:
                yield {"input": path, "error": error}
                continue
            scores = self.model.scores(vector[None])[0]
            ranked = np.argsort(-scores)
            yield {"input": path, "label": self.model.classes[ranked[0]],
                   "scores": {self.model.classes[i]: round(float(scores[i]), 4) for i in ranked}}

