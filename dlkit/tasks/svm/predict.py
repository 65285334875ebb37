"""Features of images and the SVMs on them, on ONNX Runtime: the predictors of
predict-svm and extract-features, and the files they read and write. No TensorFlow
here (see dlkit.core.twins): the feature networks run from their ONNX twins.

    from dlkit.tasks import svm
    for record in svm.load("pets-svm").predict(["cat.jpg"]):
        print(record)      # {"input", "label", "scores"}, or {"input", "error"}
    features = svm.FeatureExtractor(svm.FeaturesConfig()).extract_dataset("pets/train")

A model folder holds svm.skops (the scaler + SVM, loaded with only scikit-learn and
NumPy types allowed), config.json (classes, the feature settings, metrics) and, unless
its features are an ImageNet classifier's pooled features (whose twin dlkit ships or
converts once), features.onnx: the twin of the network its features come from.
"""

import functools
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterable

import numpy as np

from dlkit.core import config as settings
from dlkit.core import files, modelio, twins
from dlkit.core.config import validate
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import expand_paths
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.svm import TASK
from dlkit.tasks.svm.config import SOBEL, FeaturesConfig, named, specification
from dlkit.vision import backbones, imagenet
from dlkit.vision.folders import class_folders
from dlkit.vision.images import ImagePredictor

# The twin of an SVM's feature network, in its folder.
FEATURES_TWIN = "features.onnx"
CONVERT = "dlkit.tasks.svm.twin:write"
CONVERT_NAMED = "dlkit.tasks.svm.twin:write_named"


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


# ---- The feature extractor ---------------------------------------------------------------

class FeatureExtractor(ImagePredictor):
    """Image paths in, {"features": vector} out (a Predictor); extract_dataset gathers
    the features of a whole data set. `runtime`: "onnx" runs the feature network's twin
    (from `folder`, an SVM's, where it holds one), "keras" the Keras network."""

    def __init__(self, config: FeaturesConfig | None = None, runtime: str = "onnx", folder: str | None = None):
        self.config = _checked(config or FeaturesConfig())
        # The twin to keep beside an SVM trained on these features (None: an ImageNet
        # classifier's, found by its name, or a Keras network).
        self.twin: str | None = None
        if runtime == "keras":
            network, size, self.dimensions = _keras_network(self.config)
        else:
            network, size, self.dimensions, self.twin = _onnx_network(self.config, folder)
        if self.config.model and self.config.image_size not in (None, size):
            raise DlkitError(f"{self.config.model} takes {size}px images; --image-size {self.config.image_size} "
                             f"does not apply")
        super().__init__(network, size, self.config.batch_size)

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


def _checked(config: FeaturesConfig) -> FeaturesConfig:
    """The settings checked, a model file made absolute: an SVM trained on its features
    finds it again from anywhere."""
    config = validate(config)
    if config.model:
        if config.layer != "pooled":
            raise DlkitError("--layer picks a backbone's layer; it does not apply with --model")
        return replace(config, model=os.path.abspath(config.model))
    if config.backbone == SOBEL and config.layer != "pooled":
        raise DlkitError("--layer does not apply to the sobel baseline")
    return config


def _onnx_network(config: FeaturesConfig, folder: str | None) -> tuple[Callable, int, int, str | None]:
    """(network, input size, dimensions, the twin an SVM keeps) of the feature network's
    twin: an SVM folder's features.onnx, a model file's (model.features.onnx beside it),
    an ImageNet classifier's "features" output for a backbone's pooled features at its
    own size, or the twin of a backbone layer or the Sobel baseline (under the user's
    cache); converted on first use where TensorFlow is installed."""
    kept = os.path.join(folder, FEATURES_TWIN) if folder else None
    if kept and os.path.isfile(kept):
        graph = twins.Graph(kept)
        if graph.metadata.get("features") != specification(config):
            raise DlkitError(f"{kept} computes the features of {graph.metadata.get('features')}, but "
                             f"{os.path.join(folder, 'config.json')} names {specification(config)}")
    elif config.model:
        graph = twins.load(config.model, ("features",), convert=CONVERT)["features"]
    elif (config.backbone != SOBEL and config.layer == "pooled"
          and config.size() == backbones.get(config.backbone).input_size):
        # the ImageNet classifier's twin: shipped, or found by its name; an SVM keeps no copy
        graph = imagenet.graph(config.backbone, config.weights)
        output = graph.metadata["outputs"].index("features")
        return (lambda images: graph.run(images)[output]), graph.metadata["input_size"], _width(graph, output), None
    else:
        name = named(config)
        graph = (twins.load(config.weights, (name,), convert=CONVERT_NAMED) if config.weights else
                 twins.load_named(name, (name,), [], CONVERT_NAMED))[name]
    return (lambda images: graph.run(images)[0]), graph.metadata["input_size"], _width(graph, 0), graph.path


def _width(graph: twins.Graph, output: int) -> int:
    """The length of the vectors a graph's `output` gives."""
    return int(graph.session.get_outputs()[output].shape[-1])


def _keras_network(config: FeaturesConfig) -> tuple[Callable, int, int]:
    """(network, input size, dimensions) of the Keras feature network itself."""
    from dlkit.core import runtime
    from dlkit.tasks.svm.twin import features_network

    model, size = features_network(config)
    return runtime.network(model), size, int(model.output_shape[-1])


def extractor(path: str | None = None, runtime: str = "onnx", **options) -> FeatureExtractor:
    """The feature extractor of `dlkit extract-features`: the .keras model at `path` (RGB
    pixels to vectors), or the FeaturesConfig backbone (path None); `options`: the
    other FeaturesConfig fields."""
    return FeatureExtractor(validate(FeaturesConfig(**{**options, "model": path})), runtime)


# ---- Writing features ------------------------------------------------------------------

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
        return predictions("dlkit.tasks.svm.predict:extractor", {"path": config.model, **options}, paths, engine,
                           config.batch_size, events)

    features = extracting.extract_dataset(images[0] if labelled else expand_paths(images), events, predict=vectors)
    features.save(output)
    events.message(f"{len(features.paths)} feature vectors of {extracting.dimensions} values -> {output}"
                   + (f" ({len(set(features.labels))} classes)" if features.labels else ""))
    return features


# ---- The SVM -----------------------------------------------------------------------------

# The types an SVM folder's svm.skops may hold besides those skops trusts by itself
# (scikit-learn's estimators, NumPy's arrays and dtypes): those of the scaler + SVM
# pipeline train writes, each named in full. Never a prefix: "numpy." takes in
# numpy.testing's helper that runs a string, and with it any code on loading.
_SVM_TYPES = frozenset({"sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler",
                        "sklearn.svm._classes.LinearSVC", "sklearn.svm._classes.SVC"})


@dataclass
class SVMModel:
    """A fitted scaler + SVM and the extractor settings its features need."""

    pipeline: object
    classes: list[str]
    features: dict  # FeaturesConfig's backbone, layer and image_size, plus the dimensions
    metrics: dict

    def save(self, folder: str, features_twin: str | None = None) -> None:
        """Writes the model folder, with a copy of `features_twin` (the twin of the
        feature network: FeatureExtractor.twin) as its features.onnx."""
        import skops.io

        written = {"svm.skops": functools.partial(skops.io.dump, self.pipeline)}
        if features_twin:
            written[FEATURES_TWIN] = functools.partial(shutil.copyfile, features_twin)
        config = {"classes": self.classes, "features": self.features, "metrics": self.metrics}
        modelio.write_folder(folder, TASK.name, None, config, written)

    @classmethod
    def load(cls, folder: str) -> "SVMModel":
        """Loads only the scikit-learn and NumPy types an SVM pipeline is made of (a
        tampered file naming any other type is refused, not executed), after checking
        config.json against the pipeline: its classes, in order, and its feature count."""
        import skops.io

        _, saved = modelio.read_folder(folder, "SVM model", "train-svm", files=("svm.skops",))
        config_path, model_path = os.path.join(folder, "config.json"), os.path.join(folder, "svm.skops")
        classes, features = _checked_classes(saved, config_path), _checked_features(saved, config_path)
        if features.get("model"):  # a path inside a folder is the folder's, wherever the command runs
            features = {**features, "model": os.path.join(os.path.abspath(folder), features["model"])}
        try:
            untrusted = skops.io.get_untrusted_types(file=model_path)
            unexpected = [t for t in untrusted if t not in _SVM_TYPES]
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


class SVMPredictor(FeatureExtractor):
    """Image paths in, {"label", "scores"} out: the features the SVM was trained on
    (the twin in its `folder`, where it holds one), through the SVM."""

    def __init__(self, svm: "SVMModel", batch_size: int = 32, runtime: str = "onnx", folder: str | None = None):
        config = extraction(svm.features, batch_size)
        super().__init__(config, runtime, folder)
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


def load(path: str | None = None, batch_size: int = 32, runtime: str = "onnx") -> SVMPredictor:
    """The SVM in the folder `path` (written by train / dlkit train-svm) with the
    feature extractor it was trained on; None: the one dlkit ships, if any."""
    folder = path or modelio.pretrained_path(TASK.name)
    return SVMPredictor(SVMModel.load(folder), batch_size, runtime, folder)
