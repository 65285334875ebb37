"""Labelling photos with an ImageNet CNN or a classifier trained with dlkit.

    from dlkit.tasks.classifier import ClassifyConfig, load
    for record in load(None, ClassifyConfig(top_k=3)).predict(["cat.jpg"]):
        print(record)      # {"input", "label", "score", "top"}, or {"input", "error"}
"""

import numpy as np

from dlkit.core import layers, modelio
from dlkit.core.errors import DlkitError
from dlkit.core.runtime import keras
from dlkit.tasks.classifier.config import ClassifyConfig
from dlkit.vision import backbones
from dlkit.vision.images import ImagePredictor


class Classifier(ImagePredictor):
    """Image paths in, {"label", "score", "top"} out: the `top_k` most likely labels."""

    def __init__(self, model: "keras.Model", labels: list[str] | None, source: str, top_k: int = 5,
                 batch_size: int = 32, preprocess=None):
        outputs = int(model.output_shape[-1])
        if labels is not None and len(labels) != outputs:
            raise DlkitError(f"{source}: the model names {len(labels)} classes but has {outputs} outputs")
        super().__init__(model, _square_input_size(model, source), preprocess, batch_size)
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


def load(path: str | None = None, config: ClassifyConfig | None = None) -> Classifier:
    """A classifier: the ImageNet backbone of `config` (path None), or a .keras model
    trained by dlkit train-classifier (any Keras image classifier works: one without
    stored class names answers class_0, class_1, ...)."""
    config = config or ClassifyConfig()
    if path is not None:
        model = modelio.load_model(path)
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
