"""The ImageNet classifiers' ONNX twins (TensorFlow side): what dlkit.vision.imagenet
converts a backbone (or a weights file) with when its twin is not there yet."""

import os

from dlkit import export
from dlkit.core.runtime import keras
from dlkit.vision import backbones
from dlkit.vision.imagenet import IMAGENET, OUTPUTS


def write_backbone(key: str, target: dict[str, str]) -> dict:
    """The twin of the ImageNet classifier `key` ("imagenet-<backbone>") with Keras'
    ImageNet weights, at target["model"] (under the user's cache: twins.load_named)."""
    name = key[len(IMAGENET):]
    return write_imagenet(name, target["model"], provenance=f"Keras' ImageNet weights "
                                                            f"({backbones.get(name).weight_file(True)})")


def write_weights(source: str, target: dict[str, str]) -> dict:
    """The twin of an ImageNet classifier with the weights file `source`: target's one
    name is the backbone's (twins.load(weights, (backbone,)))."""
    ((name, path),) = target.items()
    return write_imagenet(name, path, source, f"the weights file {os.path.basename(source)}")


def write_imagenet(name: str, path: str, weights: str = "imagenet", provenance: str | None = None) -> dict:
    """Writes the twin of the backbone `name`'s ImageNet classifier (imagenet_network)
    to `path`, its metadata naming the 1000 labels, its input size and `provenance`."""
    network = imagenet_network(name, weights)  # first: offline, one message names every missing file
    metadata = {"labels": backbones.imagenet_labels(), "input_size": backbones.get(name).input_size,
                "backbone": name, "weights": provenance or weights, "outputs": OUTPUTS}
    source = weights if weights != "imagenet" else IMAGENET + name
    return export.write_twin(source, network, path, metadata)


def imagenet_network(name: str, weights: str = "imagenet") -> "keras.Model":
    """The ImageNet classifier of the backbone `name` taking RGB pixels 0..255 (its
    preprocessing inside, as dlkit.export wraps it), with two outputs: the class
    probabilities, and the global average of its last feature map (what the backbone
    without its classifier gives with pooling="avg")."""
    backbone = backbones.get(name)
    net = backbones.build(name, weights=weights)
    last_map = [layer for layer in net.layers if len(layer.output.shape) == 4][-1]
    both = keras.Model(net.input, [net.output, keras.layers.GlobalAveragePooling2D()(last_map.output)])
    pixels = keras.Input((backbone.input_size, backbone.input_size, 3), name="pixels")
    return keras.Model(pixels, both(backbone.preprocess(pixels)), name=name)


def functional(model: "keras.Model") -> "keras.Model":
    """A Sequential as the same functional model (one never called has no .input or
    .output, which the ONNX export reads); any other model as it is."""
    return keras.Model(model.inputs[0], model.outputs[0]) if isinstance(model, keras.Sequential) else model
