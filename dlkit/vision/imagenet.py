"""The ImageNet classifiers' ONNX twins, without TensorFlow: what classify and the
feature extractors of extract-features and train-svm run.

A twin takes RGB pixels 0..255 (its preprocessing inside) and gives two outputs: the
1000 class probabilities, and the pooled features of its last convolutional block.
MobileNetV2's ships with dlkit ("mobilenet_v2-imagenet" in the manifest); the others
are converted on first use where TensorFlow is installed (dlkit.vision.imagenet_twin),
and kept under the user's cache.
"""

import os

from dlkit.core import modelio, twins
from dlkit.core.errors import DlkitError
from dlkit.vision import backbones

# The twins of ImageNet classifiers are named "imagenet-<backbone>" (twins.load_named).
IMAGENET = "imagenet-"
# An ImageNet twin's outputs, in order.
OUTPUTS = ["probabilities", "features"]


def graph(backbone: str, weights: str | None = None) -> twins.Graph:
    """The twin of `backbone`'s ImageNet classifier (outputs: probabilities, then pooled
    features): the one dlkit ships (sha-checked against the manifest) or one converted
    before under the user's cache, else converted now where TensorFlow is installed.
    With `weights` (a weights file), the twin of those weights, kept beside the file."""
    backbones.get(backbone)  # an unknown name: one line naming the choices
    if weights:
        if not os.path.isfile(weights):
            raise DlkitError(f"weights file not found: {weights}")
        return twins.load(weights, (backbone,), convert="dlkit.vision.imagenet_twin:write_weights")[backbone]
    return twins.load_named(IMAGENET + backbone, ("model",), shipped(backbone),
                            "dlkit.vision.imagenet_twin:write_backbone")["model"]


def shipped(backbone: str) -> list[str]:
    """[the shipped folder of `backbone`'s ImageNet twin] ("<backbone>-imagenet" in the
    manifest, its sha256 checked: a damaged copy is refused), or [] where none ships."""
    name = f"{backbone}-imagenet"
    try:
        entries = modelio.manifest()
    except DlkitError:  # no shipped models at all: the twin is made where TensorFlow is
        return []
    return [modelio.pretrained_path(name, name)] if any(m["name"] == name for m in entries) else []
