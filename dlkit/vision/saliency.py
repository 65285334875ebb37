"""Where an image classifier looks: Grad-CAM and plain gradient saliency, and the
heat-map drawn over the photo.

Works for any Keras classifier of RGB images whose output is class probabilities
(ImageNet backbones with their preprocessing, dlkit classifiers with theirs built in),
nested backbones included. Imports dlkit.core and dlkit.vision only.

    explainer = Explainer(model, preprocess)
    result = explainer.explain(pixels)                 # uint8 (H, W, 3) at the model's size
    overlay(photo, result.heatmap).save("cam.png")
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image

from dlkit.core.errors import DlkitError
from dlkit.core.runtime import keras, tf
from dlkit.vision.inspect import model_inputs, outer_output

METHODS = ("gradcam", "gradient")


@dataclass
class Explanation:
    heatmap: np.ndarray  # float32 (H, W) in [0, 1], at the input image's size
    class_index: int
    probabilities: np.ndarray  # the model's outputs for the image


def feature_layer(model: "keras.Model") -> "keras.layers.Layer":
    """The deepest layer of `model`'s own graph whose output is a map (N, H, W, C): the
    last convolutional features, which Grad-CAM weighs. For a dlkit classifier that is
    the nested backbone, whose output is its last feature map."""
    for layer in reversed(model.layers):
        try:
            shape = outer_output(layer).shape
        except (AttributeError, ValueError, IndexError):
            continue
        if len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer):
            return layer
    raise DlkitError(f"{model.name} has no convolutional feature map for Grad-CAM")


class Explainer:
    """Heat-maps of one model. `preprocess` maps raw pixels (0..255 floats) to the
    model's inputs (None: the model takes raw pixels, as dlkit's models do)."""

    def __init__(self, model: "keras.Model", preprocess=None):
        if isinstance(model.output, (dict, list, tuple)):
            raise DlkitError(f"{model.name}: saliency maps explain a model with one output (class probabilities), "
                             f"not {len(model.output)}")
        self.model, self.preprocess = model, preprocess
        self.layer = feature_layer(model)
        both = keras.Model(model_inputs(model), [outer_output(self.layer), model.output])

        @tf.function(reduce_retracing=True)
        def gradcam(x, index):
            with tf.GradientTape() as tape:
                features, probabilities = both(self._prepared(x), training=False)
                score = self._score(probabilities, index)
            grads = tape.gradient(score, features)
            # Each feature map weighed by how much the class score grows with it on average
            # (Selvaraju et al. 2017); only the evidence for the class (ReLU) is kept.
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
            return tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[0], probabilities[0]

        @tf.function(reduce_retracing=True)
        def gradient(x, index):
            with tf.GradientTape() as tape:
                tape.watch(x)
                probabilities = model(self._prepared(x), training=False)
                score = self._score(probabilities, index)
            # Simonyan et al. 2014: the largest gradient over the colour channels per pixel.
            return tf.reduce_max(tf.abs(tape.gradient(score, x)), axis=-1)[0], probabilities[0]

        self._methods = {"gradcam": gradcam, "gradient": gradient}

    def _prepared(self, x):
        return self.preprocess(x) if self.preprocess else x

    @staticmethod
    def _score(probabilities, index):
        # The log-probability: its gradient does not vanish when the model is sure (a
        # softmax output near 1 is flat), and it counts the other classes against this one.
        return tf.math.log(tf.gather(probabilities[0], index) + 1e-9)

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        x = tf.constant(pixels[None].astype(np.float32))
        return keras.ops.convert_to_numpy(self.model(self._prepared(x), training=False))[0]

    def explain(self, pixels: np.ndarray, class_index: int | None = None, method: str = "gradcam") -> Explanation:
        """The heat-map of uint8 RGB `pixels` (H, W, 3, the model's input size) for
        `class_index` (None: the predicted class)."""
        if method not in self._methods:
            raise DlkitError(f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")
        x = tf.constant(pixels[None].astype(np.float32))
        if class_index is None:
            class_index = int(np.argmax(self.probabilities(pixels)))
        heat, probabilities = self._methods[method](x, tf.constant(class_index))
        heat = keras.ops.convert_to_numpy(heat).astype(np.float32)
        if method == "gradient":
            # A few pixels' gradients dwarf the rest; clip at the 99th percentile so the
            # shape of the evidence shows, not just its peak.
            heat = np.minimum(heat, np.percentile(heat, 99))
        top = float(heat.max())
        heat = heat / top if top > 0 else heat
        return Explanation(resize(heat, pixels.shape[1], pixels.shape[0]), class_index,
                           keras.ops.convert_to_numpy(probabilities))


def resize(heatmap: np.ndarray, width: int, height: int) -> np.ndarray:
    """A float heat-map resized smoothly (bilinear) to width x height."""
    picture = Image.fromarray(heatmap.astype(np.float32), mode="F")
    return np.asarray(picture.resize((width, height), Image.BILINEAR), dtype=np.float32)


# Heat-maps are coarse (Grad-CAM's is 7x7 for MobileNetV2): a picture wider than a
# screen shows nothing more, and a 100-megapixel photo would make a huge file.
MAX_SIDE = 1024


def overlay(photo: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """The photo (uint8 H, W, 3; scaled down to MAX_SIDE) with the heat-map (any size,
    values in [0, 1]) drawn over it in the 'jet' colours, `alpha` of the heat-map
    blended in where it is hot and none where it is cold."""
    from matplotlib import colormaps

    height, width = photo.shape[:2]
    if max(height, width) > MAX_SIDE:
        scale = MAX_SIDE / max(height, width)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
        photo = np.asarray(Image.fromarray(photo).resize((width, height), Image.BILINEAR))
    heat = np.clip(resize(heatmap, width, height), 0, 1)
    colours = colormaps["jet"](heat)[..., :3] * 255
    weight = alpha * np.sqrt(heat)[..., None]  # faint where cold, so the photo shows there
    blended = photo.astype(np.float32) * (1 - weight) + colours * weight
    return Image.fromarray(np.clip(blended, 0, 255).round().astype(np.uint8))
