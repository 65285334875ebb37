"""`dlkit classify`'s records, with Grad-CAM heat-maps when asked (--saliency).

    from dlkit.tasks.classifier import load
    for record in with_saliency(load(runtime="keras"), ["cat.jpg"], "heatmaps/"):
        print(record)      # {"input", "label", "score", "top", "saliency": the Grad-CAM PNG of its label}

The plain records come from the light predictor (.predict, on ONNX Runtime); heat-maps
need gradients, so a classifier explained runs on Keras.
"""

import collections
import os
import re
from typing import Iterable, Iterator

import numpy as np

from dlkit.core import files
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import Item, as_items
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.classifier.config import ClassifyConfig
from dlkit.tasks.classifier.predict import Classifier, load
from dlkit.vision.images import try_load_image


def classify(items, model: str | None = None, settings: dict | None = None, engine: EngineConfig = EngineConfig(),
             events: Events = SILENT):
    """The records of `dlkit classify`: load(model, **settings).predict(items) here or
    on Ray; with settings["saliency_dir"], here, each with its Grad-CAM heat-map written
    to that folder (see with_saliency)."""
    settings = dict(settings or {})
    folder = settings.pop("saliency_dir", None)
    config = settings.get("config") or ClassifyConfig()
    if folder is None:
        return predictions("dlkit.tasks.classifier.predict:load", {"path": model, **settings}, items, engine,
                           config.batch_size, events)
    if engine.engine != "local" or engine.output_dir:
        raise DlkitError("--saliency writes the heat-maps from this process: use it with --engine local "
                         "(and no --output-dir)")
    return with_saliency(load(model, **settings, runtime="keras"), items, folder)


def with_saliency(classifier: Classifier, items: Iterable, folder: str) -> Iterator[dict]:
    """classifier.predict's records, each labelled one with "saliency": the path of a
    Grad-CAM heat-map PNG of its label over its photo, written to `folder`. Files are
    named by the item's position and a cleaned-up file name (000001-cat.png), so that
    neither duplicate inputs nor hostile names (../x, /etc/y, control characters) can
    collide or leave the folder. A photo that cannot be explained keeps its label and
    gets "saliency_error" instead. The classifier runs on Keras (load(..., runtime="keras")):
    heat-maps need gradients."""
    from dlkit.vision import saliency

    if not isinstance(classifier, Classifier):
        raise DlkitError(f"saliency maps explain a classifier with one output; {classifier.source} has several heads")
    if classifier.keras_model is None:
        raise DlkitError("saliency maps need the classifier's Keras model: load it with runtime=\"keras\"")
    files.check_output(folder, folder=True, what="saliency folder")
    os.makedirs(folder, exist_ok=True)
    explainer = saliency.Explainer(classifier.keras_model, classifier.preprocess)
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


def _write_saliency(explainer, classifier: Classifier, path: str, label: str, target: str) -> str | None:
    """Writes the heat-map of `label` for the photo at `path` (`explainer`: a
    saliency.Explainer); returns why not, if not."""
    from dlkit.vision.saliency import overlay

    pixels, photo = try_load_image(path, classifier.input_size), try_load_image(path)
    for decoded in (pixels, photo):
        if not isinstance(decoded, np.ndarray):
            return str(decoded)
    heatmap = explainer.explain(pixels, classifier._shown.index(label)).heatmap
    try:
        with files.atomic_path(target) as tmp:
            overlay(photo, heatmap).save(tmp, format="PNG")
    except OSError as e:
        raise DlkitError(f"{target}: cannot write the heat-map ({e.strerror or e})") from None
    return None
