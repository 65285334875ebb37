"""The fast stylizer's inference, without TensorFlow: each photo painted in one pass
of the network's ONNX twin (starry.onnx beside starry.keras, dlkit.core.twins), or of
the Keras model (runtime="keras").

    from dlkit.tasks.stylize import load, save_image
    for record in load("starry.keras").predict(["holiday.jpg"]):
        save_image(record["image"], "painted.jpg")
"""

import os
import time
from typing import Iterator

import numpy as np

from dlkit.core import files, modelio, twins
from dlkit.core.errors import ItemError
from dlkit.core.events import SILENT, Events
from dlkit.core.task import Predictor
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.stylize import TASK
from dlkit.tasks.stylize.config import StylizeConfig
from dlkit.tasks.stylize.images import check_image_output, save_image
from dlkit.vision.images import load_image


class FastStylizer(Predictor):
    """Photo paths in, {"image", "width", "height", "seconds"} out: each photo painted in
    one forward pass, its longest side shrunk to `size` if larger (a photo beyond
    `max_size` even then is an error record: memory grows with the pixel count)."""

    batch_size = 1  # photos differ in size

    def __init__(self, network, size: int = StylizeConfig.size, max_size: int = StylizeConfig.max_size):
        self.network, self.size, self.max_size = network, size, max_size

    def paint(self, image: np.ndarray) -> np.ndarray:
        """A float RGB image (0..255) of any size, painted."""
        h, w = image.shape[:2]
        # the network downsamples twice: pad to a multiple of 4, crop back afterwards
        ph, pw = (-h) % 4, (-w) % 4
        padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        return np.asarray(self.network(padded[None].astype(np.float32)))[0][:h, :w]

    def predict_batch(self, values: list) -> list:
        return [self._paint_file(path) for path in values]

    def _paint_file(self, path: str) -> "dict | ItemError":
        try:
            image = load_image(path)
            h, w = image.shape[:2]
            scale = min(1.0, self.size / max(w, h))
            if max(w, h) * scale > self.max_size:
                return ItemError(f"larger than --max-size {self.max_size}")
            if scale < 1:
                image = load_image(path, (max(4, round(w * scale)), max(4, round(h * scale))))
        except ItemError as e:
            return e
        started = time.perf_counter()
        painted = self.paint(image.astype(np.float32))
        return {"image": painted, "width": painted.shape[1], "height": painted.shape[0],
                "seconds": round(time.perf_counter() - started, 3)}


def load(path: str | None = None, size: int = StylizeConfig.size, max_size: int = StylizeConfig.max_size,
         runtime: str = "onnx") -> FastStylizer:
    """The fast stylizer in the .keras file `path` (written by train / dlkit
    train-stylizer; None: the one dlkit ships, if any), run on its ONNX twin, or on Keras
    with runtime="keras"."""
    path = path or modelio.pretrained_path(TASK.name)
    if runtime == "keras":
        from dlkit.core.runtime import network

        return FastStylizer(network(modelio.load_model(path)), size, max_size)
    graph = twins.load(path, convert="dlkit.tasks.stylize.twin:write")["model"]
    return FastStylizer(lambda images: graph.run(images)[0], size, max_size)


def stylize_files(paths: list[str], output: str, model: str | None = None, size: int = StylizeConfig.size,
                  max_size: int = StylizeConfig.max_size, engine: EngineConfig = EngineConfig(),
                  events: Events = SILENT) -> Iterator[dict]:
    """What `dlkit stylize --model` does: each photo of `paths` through the fast stylizer
    `model` (here, or on Ray's workers), written into the folder `output` (as NAME.jpg)
    when there are several or `output` is a folder, else to the image `output`; one
    record per photo {"input", "output", ...}, or an error record. The outputs are
    checked now; the model is loaded when the first record is asked for."""
    many = len(paths) > 1 or output.endswith(os.sep) or os.path.isdir(output)
    if many:
        files.check_output(output, folder=True, what="output folder")
    else:
        check_image_output(output)

    def records():
        painted = predictions("dlkit.tasks.stylize.predict:load", {"path": model, "size": size, "max_size": max_size},
                              paths, engine, FastStylizer.batch_size, events)
        if many:
            os.makedirs(output, exist_ok=True)
        with events.progress(len(paths), "stylizing") as advance:
            for path, record in zip(paths, painted):
                if "error" not in record:
                    target = os.path.join(output, os.path.splitext(os.path.basename(path))[0] + ".jpg") if many \
                        else output
                    save_image(record.pop("image"), target)
                    record = {"input": record.pop("input"), "output": target, **record}
                yield record
                advance()

    return records()
