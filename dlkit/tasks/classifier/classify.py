"""Labelling photos with an ImageNet CNN or a classifier trained with dlkit.

    from dlkit.tasks.classifier import ClassifyConfig, load
    for record in load(None, ClassifyConfig(top_k=3)).predict(["cat.jpg"]):
        print(record)      # {"input", "label", "score", "top"}, or {"input", "error"}
    for record in with_saliency(load(), ["cat.jpg"], "heatmaps/"):
        print(record)      # ... and "saliency": the Grad-CAM PNG of its label
"""

import collections
import os
import re
from typing import Iterable, Iterator

import numpy as np

from dlkit.core import files, layers, modelio
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import Item, as_items
from dlkit.core.runtime import keras
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.classifier.config import ClassifyConfig
from dlkit.vision import backbones, saliency
from dlkit.vision.images import ImagePredictor, try_load_image


class Classifier(ImagePredictor):
    """Image paths in, {"label", "score", "top"} out: the `top_k` most likely labels."""

    def __init__(self, model: "keras.Model", labels: list[str] | None, source: str, top_k: int = 5,
                 batch_size: int = 32, preprocess=None):
        outputs = int(model.output_shape[-1])
        if labels is not None and len(labels) != outputs:
            raise DlkitError(f"{source}: the model names {len(labels)} classes but has {outputs} outputs")
        super().__init__(model, _square_input_size(model, source), preprocess, batch_size)
        self.preprocess = preprocess  # what saliency maps need beside the model
        self.source = source
        self.labels = labels  # None: the model names no classes (records say class_0, class_1, ...)
        self._shown = labels or [f"class_{i}" for i in range(outputs)]
        self.top_k = max(1, min(top_k, outputs))

    def predict_images(self, images: np.ndarray) -> list[dict]:
        results = []
        for row in self.outputs(images):
            best = np.argsort(-row)[: self.top_k]
            top = [{"label": self._shown[j], "score": round(float(row[j]), 6)} for j in best]
            results.append({"label": top[0]["label"], "score": top[0]["score"], "top": top})
        return results


def heads_of(model: "keras.Model") -> list[layers.ClassNames]:
    """The heads of a model trained with labels (multitask.train): the ClassNames layer of
    each of its outputs (a dict), in output order ([] for any other model)."""
    if not isinstance(model.output, dict):
        return []
    return [layer for layer in model.layers if isinstance(layer, layers.ClassNames)]


class HeadsClassifier(ImagePredictor):
    """Image paths in; per head, its label and score (single-label) or its labels and
    their scores (multi-label: those at or above their thresholds)."""

    def __init__(self, model: "keras.Model", source: str, batch_size: int = 32):
        super().__init__(model, _square_input_size(model, source), None, batch_size)
        self.source = source
        self.heads = heads_of(model)

    def predict_images(self, images: np.ndarray) -> list[dict]:
        outputs = {name: np.asarray(value) for name, value in self._run(images).items()}
        records = []
        for i in range(len(images)):
            record = {}
            for head in self.heads:
                row = outputs[head.name][i]
                if head.multi:
                    on = [j for j in np.argsort(-row) if row[j] >= head.thresholds[j]]
                    record[head.name] = [head.names[j] for j in on]
                    record[f"{head.name}_scores"] = {head.names[j]: round(float(row[j]), 6) for j in np.argsort(-row)}
                else:
                    best = int(np.argmax(row))
                    record[head.name], record[f"{head.name}_score"] = head.names[best], round(float(row[best]), 6)
            records.append(record)
        return records


def classify(items, model: str | None = None, settings: dict | None = None, engine: EngineConfig = EngineConfig(),
             events: Events = SILENT):
    """The records of `dlkit classify`: load(model, **settings).predict(items) here or
    on Ray; with settings["saliency_dir"], here, each with its Grad-CAM heat-map written
    to that folder (see with_saliency)."""
    settings = dict(settings or {})
    folder = settings.pop("saliency_dir", None)
    config = settings.get("config") or ClassifyConfig()
    if folder is None:
        return predictions("dlkit.tasks.classifier.classify:load", {"path": model, **settings}, items, engine,
                           config.batch_size, events)
    if engine.engine != "local" or engine.output_dir:
        raise DlkitError("--saliency writes the heat-maps from this process: use it with --engine local "
                         "(and no --output-dir)")
    return with_saliency(load(model, **settings), items, folder)


def with_saliency(classifier: Classifier, items: Iterable, folder: str) -> Iterator[dict]:
    """classifier.predict's records, each labelled one with "saliency": the path of a
    Grad-CAM heat-map PNG of its label over its photo, written to `folder`. Files are
    named by the item's position and a cleaned-up file name (000001-cat.png), so that
    neither duplicate inputs nor hostile names (../x, /etc/y, control characters) can
    collide or leave the folder. A photo that cannot be explained keeps its label and
    gets "saliency_error" instead."""
    if not isinstance(classifier, Classifier):
        raise DlkitError(f"saliency maps explain a classifier with one output; {classifier.source} has several heads")
    files.check_output(folder, folder=True, what="saliency folder")
    os.makedirs(folder, exist_ok=True)
    explainer = saliency.Explainer(classifier.model, classifier.preprocess)
    pending: collections.deque[Item] = collections.deque()

    def remembered() -> Iterator[Item]:
        # predict() answers items in order, one record each: the records are matched
        # back to their items (and so to the paths to read) by this queue.
        for item in as_items(items):
            pending.append(item)
            yield item

    for number, record in enumerate(classifier.predict(remembered()), 1):
        item = pending.popleft()
        if "label" in record:
            target = os.path.join(folder, f"{number:06d}-{_safe_stem(item.value)}.png")
            problem = _write_saliency(explainer, classifier, item.value, record["label"], target)
            record = {**record, **({"saliency_error": problem} if problem else {"saliency": target})}
        yield record


def _safe_stem(path: str) -> str:
    """A file name's stem reduced to letters, digits, '.', '-' and '_' (at most 60), never
    starting with a dot: safe as a name in any folder on any system."""
    stem = os.path.splitext(os.path.basename(str(path)))[0]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", stem.encode("ascii", "replace").decode("ascii")).lstrip("._")
    return cleaned[:60] or "image"


def _write_saliency(explainer: "saliency.Explainer", classifier: Classifier, path: str, label: str,
                    target: str) -> str | None:
    """Writes the heat-map of `label` for the photo at `path`; returns why not, if not."""
    pixels, photo = try_load_image(path, classifier.input_size), try_load_image(path)
    for decoded in (pixels, photo):
        if not isinstance(decoded, np.ndarray):
            return str(decoded)
    heatmap = explainer.explain(pixels, classifier._shown.index(label)).heatmap
    try:
        with files.atomic_path(target) as tmp:
            saliency.overlay(photo, heatmap).save(tmp, format="PNG")
    except OSError as e:
        raise DlkitError(f"{target}: cannot write the heat-map ({e.strerror or e})") from None
    return None


def load(path: str | None = None, config: ClassifyConfig | None = None) -> Classifier:
    """A classifier: the ImageNet backbone of `config` (path None), or a .keras model
    trained by dlkit train-classifier (any Keras image classifier works: one without
    stored class names answers class_0, class_1, ...)."""
    config = config or ClassifyConfig()
    if path is not None:
        model = modelio.load_model(path)
        if isinstance(model.output, dict):  # one head per label column (train-classifier --labels)
            return HeadsClassifier(model, path, config.batch_size)
        return Classifier(model, layers.class_names(model), path, config.top_k, config.batch_size)
    backbone = backbones.get(config.backbone)
    model = backbones.build(backbone.name, weights=config.weights or "imagenet")
    return Classifier(model, backbones.imagenet_labels(), backbone.name, config.top_k, config.batch_size,
                      backbone.preprocess)


def _square_input_size(model: "keras.Model", source: str) -> int:
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[-1] != 3:
        raise DlkitError(f"{source}: expected a model taking RGB images, got input shape {shape}")
    height, width = shape[1], shape[2]
    # Fully convolutional models accept any size; 224 is what ImageNet models expect.
    return int(height or width or 224)
