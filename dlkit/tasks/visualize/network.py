"""The pictures of a network: first-layer filters, activation maps, saliency
heat-maps. Each function returns a PIL image (pictures.save writes one). Nothing here
prints.

A network is an ImageNet backbone by name (with its classifier and preprocessing) or a
.keras image classifier (dlkit's carry their preprocessing and class names).
"""

import difflib
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from dlkit.core import layers, modelio, plots
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.runtime import keras
from dlkit.tasks.visualize.config import Config
from dlkit.tasks.visualize.pictures import figure_image
from dlkit.vision import backbones, inspect
from dlkit.vision.images import load_image
from dlkit.vision.saliency import Explainer, overlay


@dataclass
class Network:
    model: "keras.Model"
    source: str  # the backbone's name or the model file
    input_size: int
    labels: list[str] | None  # None: the model names no classes (class_0, class_1, ...)
    preprocess: Callable | None = None  # raw pixels to the model's inputs (None: built in)

    @property
    def shown_labels(self) -> list[str]:
        return self.labels or [f"class_{i}" for i in range(int(self.model.output_shape[-1]))]


def load(model: str | None = None) -> Network:
    """An ImageNet backbone by name (None: MobileNetV2) with its ImageNet classifier, or
    a .keras image classifier (trained by dlkit train-classifier, or any other)."""
    model = model or backbones.DEFAULT
    if model in backbones.BACKBONES:
        backbone = backbones.get(model)
        return Network(backbones.build(model), model, backbone.input_size, backbones.imagenet_labels(),
                       backbone.preprocess)
    if not os.path.exists(model) and not model.endswith(".keras"):
        raise DlkitError(f"unknown model {model!r}: give an ImageNet backbone ({', '.join(backbones.BACKBONES)}) "
                         f"or a .keras classifier")
    network = modelio.load_model(model)
    shape = network.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[-1] != 3:
        raise DlkitError(f"{model}: expected a model taking RGB images, got input shape {shape}")
    # Fully convolutional models take any size; 224 is what ImageNet models expect.
    return Network(network, model, int(shape[1] or shape[2] or 224), layers.class_names(network))


def _image(path: str, size: int | None = None) -> np.ndarray:
    try:
        return load_image(path, size)
    except ItemError as e:
        raise DlkitError(f"{path}: {e}") from None


# ---- Filters ---------------------------------------------------------------------------

def filters(network: Network) -> Image.Image:
    """The first convolution's kernels as a grid of tiles (RGB for colour inputs)."""
    conv = inspect.first_conv(network.model)
    return inspect.kernel_grid(keras.ops.convert_to_numpy(conv.kernel))


# ---- Activations -----------------------------------------------------------------------

def activations(network: Network, image: str, layer_names: list[str] | None = None,
                channels: int = Config.channels) -> Image.Image:
    """One row per layer (early to deep, by default four spread over the network): the
    `channels` most active feature maps of each for `image`, beside the photo."""
    names = list(layer_names or inspect.default_layers(network.model))
    tapped = inspect.tap(network.model, names)  # an unknown name fails here, before the image is read
    pixels = _image(image, network.input_size)
    x = pixels[None].astype(np.float32)
    outputs = tapped(network.preprocess(x) if network.preprocess else x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    plt = plots.pyplot()
    shown = min(channels, max(int(o.shape[-1]) for o in outputs))
    figure, axes = plt.subplots(len(names), shown + 1, figsize=(1.3 * (shown + 1), 1.45 * len(names)),
                                squeeze=False)
    for row, (name, output) in enumerate(zip(names, outputs)):
        maps = keras.ops.convert_to_numpy(output)[0]
        if maps.ndim != 3:
            raise DlkitError(f"layer {name} outputs shape {tuple(output.shape)}, not feature maps")
        if row == 0:
            axes[0][0].imshow(pixels)
        else:
            axes[row][0].set_visible(False)
        axes[row][1].set_title(f"{name}  {maps.shape[0]}x{maps.shape[1]}x{maps.shape[2]}", fontsize=8, loc="left")
        order = np.argsort(-maps.mean(axis=(0, 1)))[:shown]
        for column in range(shown):
            axis = axes[row][column + 1]
            if column < len(order):
                axis.imshow(maps[..., order[column]], cmap="viridis")
            else:
                axis.set_visible(False)
        for axis in axes[row]:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(f"{network.source}: {os.path.basename(image)}, most active maps per layer", fontsize=9)
    return figure_image(plt, figure)


# ---- Saliency --------------------------------------------------------------------------

def class_index(network: Network, label: str) -> int:
    """The output index of a class named `label` (exact, or ignoring case, spaces,
    hyphens and underscores); an unknown name gives one line with the closest names."""
    names = network.shown_labels
    if label in names:
        return names.index(label)

    def key(text: str) -> str:
        return "".join(c for c in text.lower() if c.isalnum())

    keys = [key(name) for name in names]
    if key(label) in keys:
        return keys.index(key(label))
    close = difflib.get_close_matches(label, names, n=5, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else f"e.g. {', '.join(names[:5])}"
    raise DlkitError(f"unknown class {label!r} for {network.source} ({len(names)} classes; {hint})")


def saliency(network: Network, image: str, label: str | None = None, method: str = Config.method,
             alpha: float = Config.alpha) -> tuple[Image.Image, dict]:
    """The heat-map of where `network` finds class `label` (None: its prediction) in
    `image`, over the photo at the photo's own size; and a record: input, label, score
    (the class's probability), method, and the prediction when a class was chosen."""
    explainer = Explainer(network.model, network.preprocess)  # refuses models it cannot explain
    index = class_index(network, label) if label is not None else None
    photo = _image(image)
    pixels = np.asarray(Image.fromarray(photo).resize((network.input_size,) * 2, Image.BILINEAR))
    result = explainer.explain(pixels, index, method)
    names = network.shown_labels
    record = {"input": image, "label": names[result.class_index],
              "score": round(float(result.probabilities[result.class_index]), 6), "method": method}
    if method == "gradcam":
        record["layer"] = explainer.layer.name  # whose feature maps were weighed
    best = int(np.argmax(result.probabilities))
    if best != result.class_index:
        record["predicted"] = names[best]
    return overlay(photo, result.heatmap, alpha), record


