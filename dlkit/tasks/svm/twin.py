"""The SVM task's feature networks in Keras, and their ONNX twins (TensorFlow side).

A feature network takes RGB pixels 0..255 (its preprocessing inside) and gives one
vector per image: a backbone's pooled last block or one of its layers (average-pooled),
the Sobel baseline, or a .keras model's vectors (an autoencoder's codes:
dlkit.vision.encoders). Its twin's metadata names what it computes ("features": the
model file, or the backbone, layer and image size) and its input size. An ImageNet
backbone's pooled features at its own size need no twin of their own: the classifier's
ImageNet twin gives them (dlkit.tasks.classifier.twin).
"""

import numpy as np

from dlkit import export
from dlkit.core.errors import DlkitError
from dlkit.core.runtime import keras
from dlkit.tasks.svm.config import NAMED, SOBEL, FeaturesConfig, specification
from dlkit.vision import backbones, encoders
from dlkit.vision.imagenet_twin import functional

def write(source: str, target: dict[str, str]) -> dict:
    """The twin of the vectors of the .keras model `source` at target["features"]."""
    config = FeaturesConfig(model=source)
    network, size = features_network(config)
    return export.write_twin(source, network, target["features"],
                             {"input_size": size, "features": specification(config)})


def write_named(source: str, target: dict[str, str]) -> dict:
    """The twin of the features that target's one name (predict.named) says: with ImageNet
    weights where `source` is that name, else with the weights file `source`."""
    ((name, path),) = target.items()
    backbone, size, layer = name[len(NAMED):].split("-", 2)
    config = FeaturesConfig(backbone=backbone, layer=layer, image_size=int(size),
                            weights=None if source == name else source)
    network, size = features_network(config)
    return export.write_twin(source, network, path, {"input_size": size, "features": specification(config)})


def features_network(config: FeaturesConfig) -> tuple["keras.Model", int]:
    """(the Keras network from RGB pixels 0..255 to vectors that `config` names, its
    input size)."""
    if config.model:
        model, size = encoders.load_encoder(config.model)
        return functional(model), size
    size = config.size()
    if config.backbone == SOBEL:
        return sobel_model(size), size
    backbone = backbones.get(config.backbone)
    weights = config.weights or "imagenet"
    if config.layer == "pooled":
        net = backbones.build(backbone.name, include_top=False, input_size=size, weights=weights, pooling="avg")
    else:
        net = _layer_model(backbones.build(backbone.name, include_top=False, input_size=size, weights=weights),
                           config.layer)
    pixels = keras.Input((size, size, 3), name="pixels")
    return keras.Model(pixels, net(backbone.preprocess(pixels)), name=f"{backbone.name}_features"), size


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
