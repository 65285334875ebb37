"""Labelling photos, on ONNX Runtime: an ImageNet CNN, a classifier trained with dlkit,
or one with a head per label column. No TensorFlow here (see dlkit.core.twins).

    from dlkit.tasks.classifier import ClassifyConfig, load
    for record in load(None, ClassifyConfig(top_k=3)).predict(["cat.jpg"]):
        print(record)      # {"input", "label", "score", "top"}, or {"input", "error"}
    load("pets.keras")     # runs pets.onnx, converted on first use where TensorFlow is installed

The same predictors run the Keras model (load(..., runtime="keras")), for the parity
tests and for Grad-CAM, which needs gradients.
"""

from typing import Callable

import numpy as np

from dlkit.core import twins
from dlkit.core.errors import DlkitError
from dlkit.tasks.classifier.config import ClassifyConfig
from dlkit.vision import backbones, imagenet
from dlkit.vision.images import ImagePredictor

CONVERT = "dlkit.tasks.classifier.twin:write"


class Classifier(ImagePredictor):
    """Image paths in, {"label", "score", "top"} out: the `top_k` most likely labels of
    `network`'s class probabilities (`classes` of them)."""

    def __init__(self, network: Callable[[np.ndarray], np.ndarray], input_size: int, classes: int,
                 labels: list[str] | None, source: str, top_k: int = 5, batch_size: int = 32):
        if labels is not None and len(labels) != classes:
            raise DlkitError(f"{source}: the model names {len(labels)} classes but has {classes} outputs")
        super().__init__(network, input_size, batch_size)
        self.source = source
        self.labels = labels  # None: the model names no classes (records say class_0, class_1, ...)
        self._shown = labels or [f"class_{i}" for i in range(classes)]
        self.top_k = max(1, min(top_k, classes))
        # The Keras model and its preprocessing, where it runs on Keras (what Grad-CAM explains).
        self.keras_model, self.preprocess = None, None

    def predict_images(self, images: np.ndarray) -> list[dict]:
        results = []
        for row in self.outputs(images):
            best = np.argsort(-row)[: self.top_k]
            top = [{"label": self._shown[j], "score": round(float(row[j]), 6)} for j in best]
            results.append({"label": top[0]["label"], "score": top[0]["score"], "top": top})
        return results


class HeadsClassifier(ImagePredictor):
    """Image paths in; per head, its label and score (single-label) or its labels and
    their scores (multi-label: those at or above their thresholds). `network` gives
    one array per head, in the order of `heads` ({"name", "multi", "names",
    "thresholds"}, as the twin's metadata lists them)."""

    def __init__(self, network: Callable[[np.ndarray], list[np.ndarray]], input_size: int, heads: list[dict],
                 source: str, batch_size: int = 32):
        super().__init__(network, input_size, batch_size)
        self.source = source
        self.heads = heads

    def predict_images(self, images: np.ndarray) -> list[dict]:
        outputs = [np.asarray(value) for value in self.outputs(images)]
        records = []
        for i in range(len(images)):
            record = {}
            for head, values in zip(self.heads, outputs):
                row, name, names = values[i], head["name"], head["names"]
                if head["multi"]:
                    on = [j for j in np.argsort(-row) if row[j] >= head["thresholds"][j]]
                    record[name] = [names[j] for j in on]
                    record[f"{name}_scores"] = {names[j]: round(float(row[j]), 6) for j in np.argsort(-row)}
                else:
                    best = int(np.argmax(row))
                    record[name], record[f"{name}_score"] = names[best], round(float(row[best]), 6)
            records.append(record)
        return records


def load(path: str | None = None, config: ClassifyConfig | None = None,
         runtime: str = "onnx") -> "Classifier | HeadsClassifier":
    """A classifier: the ImageNet backbone of `config` (path None), or a .keras model
    trained by dlkit train-classifier (any Keras image classifier works: one without
    stored class names answers class_0, class_1, ...), a multi-head one answering per
    head. `runtime`: "onnx" runs the model's twin, "keras" the Keras model."""
    config = config or ClassifyConfig()
    if runtime == "keras":
        return _keras(path, config)
    if path is None:
        graph = imagenet.graph(config.backbone, config.weights)
        source = config.backbone
    else:
        graph = twins.load(path, convert=CONVERT)["model"]
        source = path
    meta = graph.metadata
    if "labels" not in meta and "heads" not in meta:  # a twin that another task's writer made
        raise DlkitError(f"{source} is not an image classifier (its ONNX twin {graph.path} is another kind of model)")
    size = image_size(graph, source)
    if meta.get("heads"):
        return HeadsClassifier(graph.run, size, meta["heads"], source, config.batch_size)
    return Classifier(lambda images: graph.run(images)[0], size, classes(graph), meta.get("labels"),
                      source, config.top_k, config.batch_size)


def image_size(graph: twins.Graph, source: str) -> "int | tuple[int, int]":
    """The size photos are resized to for a classifier twin: its square side, or (width,
    height) for a model that takes images of one fixed shape that is not square (any
    Keras image classifier works, whatever its input's shape)."""
    shape = graph.session.get_inputs()[0].shape
    if len(shape) != 4 or (isinstance(shape[-1], int) and shape[-1] != 3):
        raise DlkitError(f"{source}: expected a model taking RGB images (batch, height, width, 3), "
                         f"got input shape {tuple(shape)}")
    height, width = shape[1:3]
    if isinstance(height, int) and isinstance(width, int) and height != width:
        return width, height
    return graph.metadata["input_size"]


def classes(graph: twins.Graph) -> int:
    """The number of classes of a classifier twin: its first output's last dimension."""
    return int(graph.session.get_outputs()[0].shape[-1])


def _keras(path: str | None, config: ClassifyConfig) -> "Classifier | HeadsClassifier":
    """The predictor over the Keras model itself (the network the twin is made from)."""
    from dlkit.core import layers, runtime
    from dlkit.tasks.classifier import twin

    if path is None:
        backbone = backbones.get(config.backbone)
        model = backbones.build(backbone.name, weights=config.weights or "imagenet")
        predictor = Classifier(runtime.network(model, backbone.preprocess), backbone.input_size,
                               int(model.output_shape[-1]), backbones.imagenet_labels(), backbone.name, config.top_k,
                               config.batch_size)
        predictor.keras_model, predictor.preprocess = model, backbone.preprocess
        return predictor
    model = twin.load(path)
    size = twin.input_size(model, path)
    if twin.heads_of(model):
        return HeadsClassifier(runtime.network(twin.in_head_order(model)), size, twin.heads(model), path,
                               config.batch_size)
    predictor = Classifier(runtime.network(model), size, int(model.output_shape[-1]), layers.class_names(model), path,
                           config.top_k, config.batch_size)
    predictor.keras_model = model
    return predictor
