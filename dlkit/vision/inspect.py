"""Looking inside an image network: its layers (nested models included), the first
convolution's kernels, and the outputs of any layers for an image.

A classifier trained with dlkit wraps its ImageNet backbone as a nested model, so layers
are found through nested models too, and `tap` builds a model whose outputs are layers
of the outer model and of the models inside it alike. Imports dlkit.core only.
"""

from typing import Iterator

import numpy as np
from PIL import Image

from dlkit.core.errors import DlkitError
from dlkit.core.runtime import keras


def flat_layers(model: "keras.Model") -> Iterator["keras.layers.Layer"]:
    """Every layer, in graph order, with those of nested models in place of the nested
    model itself."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from flat_layers(layer)
        else:
            yield layer


def _is_map(layer: "keras.layers.Layer") -> bool:
    """Whether the layer outputs one batch of feature maps (N, H, W, C)."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):  # not yet called, or several outputs
        return False
    return len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer)


def first_conv(model: "keras.Model") -> "keras.layers.Conv2D":
    for layer in flat_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    raise DlkitError(f"{model.name} has no Conv2D layer, so no filters to show")


def map_layers(model: "keras.Model") -> list[str]:
    """The names of the layers that output feature maps, early to deep."""
    return [layer.name for layer in flat_layers(model) if _is_map(layer)]


def default_layers(model: "keras.Model", count: int = 4) -> list[str]:
    """`count` layers spread from early to deep: activation layers where the network has
    them (what the next layer sees), else its convolutions (whose activation is built in)."""
    layers = [layer for layer in flat_layers(model) if _is_map(layer)]
    chosen = [l for l in layers if isinstance(l, (keras.layers.ReLU, keras.layers.Activation))]
    if len(chosen) < count:
        chosen = [l for l in layers if isinstance(l, keras.layers.Conv2D)] or layers
    if not chosen:
        raise DlkitError(f"{model.name} has no layer that outputs feature maps")
    picks = np.unique(np.linspace(0, len(chosen) - 1, min(count, len(chosen))).round().astype(int))
    return [chosen[i].name for i in picks]


def outer_output(layer: "keras.layers.Layer"):
    """The tensor a layer gives in the model that calls it. A nested model's `output` is
    that of its own inner graph, so its first call's node is read (later nodes are those
    `tap` adds)."""
    if not isinstance(layer, keras.Model):
        return layer.output
    outputs = layer._inbound_nodes[0].output_tensors  # Keras 3 has no public accessor for a call's tensors
    return outputs[0] if len(outputs) == 1 else outputs


def model_inputs(model: "keras.Model"):
    """A model's input tensor, or its list of them when it has several: what Keras
    expects a new model built on them to be called with (one tensor, for an image model)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _inner_input(layer: "keras.Model"):
    inputs = layer._inbound_nodes[0].input_tensors
    return inputs[0] if len(inputs) == 1 else inputs


def tap(model: "keras.Model", names: list[str]) -> "keras.Model":
    """A model with `model`'s inputs whose outputs are the named layers' outputs (in
    order), wherever they are: in `model` or in a model nested in it. An unknown name
    gives one line listing some of the valid ones."""
    tensors = _tensors(model, list(names))
    missing = [name for name in names if name not in tensors]
    if missing:
        valid = map_layers(model)
        shown = ", ".join(valid[:: max(1, len(valid) // 8)][:8])
        raise DlkitError(f"no layer named {', '.join(map(repr, missing))} in {model.name}; "
                         f"layers with feature maps include {shown} ({len(valid)} in all)")
    return keras.Model(model_inputs(model), [tensors[name] for name in names])


def _tensors(model: "keras.Model", names: list[str]) -> dict:
    """{name: tensor of `model`'s graph} for the names found in it or in its nested models."""
    found = {}
    for layer in model.layers:
        if layer.name in names and not isinstance(layer, keras.Model):
            found[layer.name] = outer_output(layer)
        elif isinstance(layer, keras.Model):
            wanted = [n for n in names if n not in found]
            inner = _tensors(layer, wanted)
            if inner:
                # The nested model's tapped outputs, called on what the outer graph feeds it:
                # new tensors of the outer graph.
                inner_names = list(inner)
                outputs = keras.Model(model_inputs(layer), [inner[n] for n in inner_names])(_inner_input(layer))
                outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
                found.update(zip(inner_names, outputs))
            if layer.name in names and layer.name not in found:
                found[layer.name] = outer_output(layer)
    return found


def kernel_grid(kernel: np.ndarray, tile: int = 40, gap: int = 2, columns: int | None = None) -> Image.Image:
    """A conv kernel (kh, kw, in, out) as a grid of `out` tiles: RGB for 3 input channels,
    grey otherwise (their mean). Each kernel is scaled by its own largest weight, zero
    mid-grey: the pattern shows whatever the kernel's norm (ImageNet weights with batch
    norm folded in differ in scale by orders of magnitude), and a dead kernel is flat grey."""
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 4:
        raise DlkitError(f"expected a 2-D convolution kernel, got shape {kernel.shape}")
    kh, kw, channels, count = kernel.shape
    if channels != 3:
        kernel = kernel.mean(axis=2, keepdims=True)
    top = np.maximum(np.abs(kernel).max(axis=(0, 1, 2), keepdims=True), 1e-12)
    tiles = ((0.5 + 0.5 * kernel / top) * 255).round().astype(np.uint8)
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    scale = max(1, tile // max(kh, kw))
    th, tw = kh * scale, kw * scale
    grid = Image.new("RGB", (columns * (tw + gap) + gap, rows * (th + gap) + gap), (255, 255, 255))
    for i in range(count):
        pixels = tiles[..., i]
        picture = Image.fromarray(pixels if pixels.shape[-1] == 3 else pixels[..., 0]).convert("RGB")
        picture = picture.resize((tw, th), Image.NEAREST)  # each kernel weight a visible square
        grid.paste(picture, (gap + (i % columns) * (tw + gap), gap + (i // columns) * (th + gap)))
    return grid
