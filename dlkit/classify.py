"""Image classification with an ImageNet CNN or a model trained with dlkit.

    from dlkit.classify import ClassifyConfig, Classifier
    for record in Classifier(ClassifyConfig(top_k=3)).classify(["cat.jpg"]):
        print(record)
"""

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from dlkit import backbones, modelio
from dlkit.errors import DlkitError
from dlkit.images import image_dataset
from dlkit.runtime import keras, tf


# ---- Configuration ---------------------------------------------------------------------

@dataclass
class ClassifyConfig:
    # MobileNetV2: ImageNet top-1 ~72% at ~300 MFLOPs an image, so it runs well on a CPU.
    backbone: str = backbones.DEFAULT
    # Five labels is the ImageNet convention, and enough to see the runner-up classes.
    top_k: int = 5
    # 32 images keeps both a CPU's cores and a GPU busy without holding many decoded photos.
    batch_size: int = 32
    # A .keras model trained by dlkit (or any Keras image classifier) instead of ImageNet.
    model: str | None = None
    # A local weights file for the backbone instead of the ImageNet download.
    weights: str | None = None


# ---- Model -----------------------------------------------------------------------------

class Classifier:
    """Loads the network once; `classify` streams any number of images through it."""

    def __init__(self, config: ClassifyConfig | None = None):
        self.config = config or ClassifyConfig()
        if self.config.model:
            self.model = modelio.load_model(self.config.model)
            self.labels = modelio.class_names(self.model)
            preprocess = None  # dlkit models carry their own preprocessing
        else:
            backbone = backbones.get(self.config.backbone)
            self.model = backbones.build(backbone.name, weights=self.config.weights or "imagenet")
            self.labels = backbones.imagenet_labels()
            preprocess = backbone.preprocess
        self.input_size = _square_input_size(self.model, self.config.model)
        outputs = int(self.model.output_shape[-1])
        if self.labels is None or len(self.labels) != outputs:
            self.labels = [f"class_{i}" for i in range(outputs)]

        @tf.function(reduce_retracing=True)
        def predict(images):
            x = tf.cast(images, tf.float32)
            return self.model(preprocess(x) if preprocess else x, training=False)

        self._predict = predict

    # ---- Inference ---------------------------------------------------------------------

    def classify(
        self, paths: list[str], on_batch: Callable[[int], None] | None = None
    ) -> Iterator[dict]:
        """One record per path, in order: {"input", "label", "score", "top"} or
        {"input", "error"}. `on_batch(n)` is called after each batch of n images."""
        k = max(1, min(self.config.top_k, len(self.labels)))
        dataset = image_dataset(paths, self.input_size, self.config.batch_size)
        start = 0
        for images, errors in dataset:
            probabilities = self._predict(images).numpy()
            for i, (row, error) in enumerate(zip(probabilities, errors.numpy())):
                path = paths[start + i]
                if error:
                    yield {"input": path, "error": error.decode()}
                    continue
                best = np.argsort(-row)[:k]
                top = [{"label": self.labels[j], "score": round(float(row[j]), 6)} for j in best]
                yield {"input": path, "label": top[0]["label"], "score": top[0]["score"], "top": top}
            start += len(probabilities)
            if on_batch:
                on_batch(len(probabilities))


def _square_input_size(model: "keras.Model", source: str | None) -> int:
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[-1] != 3:
        raise DlkitError(f"{source or 'the backbone'}: expected a model taking RGB images, got input shape {shape}")
    height, width = shape[1], shape[2]
    # Fully convolutional models accept any size; 224 is what ImageNet models expect.
    return int(height or width or 224)


def classify(paths: list[str], config: ClassifyConfig | None = None) -> list[dict]:
    """Convenience: classify a list of image paths and return all records."""
    return list(Classifier(config).classify(paths))
