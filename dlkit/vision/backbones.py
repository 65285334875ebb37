"""The ImageNet CNNs dlkit builds on: one registry of names, builders, inputs and weights.

ImageNet weights come through Keras' own cache (KERAS_HOME, ~/.keras by default): real
users download each file once, automatically; offline, a missing file is reported with
the exact name and place Keras wants it.

The registry itself imports no TensorFlow (commands read BACKBONES for their --help
choices); the functions that build or run a network import it when called.
"""

import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlkit.core.errors import DlkitError

if TYPE_CHECKING:
    from dlkit.core.runtime import keras

_GCS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class Backbone:
    name: str
    constructor: str  # attribute of keras.applications
    module: str  # keras.applications submodule holding preprocess_input
    input_size: int  # the size its ImageNet classifier was trained at
    weights_url: str  # folder of the weight files, as Keras downloads them
    top_file: str
    notop_file: str  # "{size}" is replaced by the input size where the name depends on it

    def weight_file(self, include_top: bool, size: int) -> str:
        return (self.top_file if include_top else self.notop_file).format(size=size)

    def preprocess(self, images):
        """Raw RGB pixels (0..255) to what this network was trained on."""
        from dlkit.core.runtime import keras

        return getattr(keras.applications, self.module).preprocess_input(images)


BACKBONES = {
    b.name: b
    for b in [
        Backbone("mobilenet_v2", "MobileNetV2", "mobilenet_v2", 224, _GCS + "mobilenet_v2/",
                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}.h5",
                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5"),
        Backbone("efficientnet_b0", "EfficientNetB0", "efficientnet", 224,
                 "https://storage.googleapis.com/keras-applications/",
                 "efficientnetb0.h5", "efficientnetb0_notop.h5"),
        Backbone("resnet50", "ResNet50", "resnet50", 224, _GCS + "resnet/",
                 "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                 "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        Backbone("vgg16", "VGG16", "vgg16", 224, _GCS + "vgg16/",
                 "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                 "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        Backbone("vgg19", "VGG19", "vgg19", 224, _GCS + "vgg19/",
                 "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                 "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ]
}
DEFAULT = "mobilenet_v2"


def get(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except KeyError:
        raise DlkitError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}") from None


def build(
    name: str,
    include_top: bool = True,
    input_size: int | None = None,
    weights: str | None = "imagenet",
    pooling: str | None = None,
    any_size: bool = False,
) -> "keras.Model":
    """A keras.applications model. `weights`: "imagenet", None (random) or a file path.
    `any_size` (without the classifier): accept images of any height and width.

    Inputs are the network's own preprocessed values (see Backbone.preprocess).
    """
    from dlkit.core.runtime import keras, keras_cache_dir

    backbone = get(name)
    size = input_size or backbone.input_size
    if include_top and size != backbone.input_size and weights == "imagenet":
        raise DlkitError(f"{name}'s ImageNet classifier needs {backbone.input_size}px inputs, not {size}px")
    constructor = getattr(keras.applications, backbone.constructor)
    shape = (None, None, 3) if any_size and not include_top else (size, size, 3)
    kwargs = dict(include_top=include_top, input_shape=shape, pooling=pooling)
    if weights not in (None, "imagenet"):
        model = constructor(weights=None, **kwargs)
        load_weights_file(model, weights)
        return model
    if weights is None:
        return constructor(weights=None, **kwargs)
    _require_cached_or_downloadable(backbone, include_top, size)
    try:
        with warnings.catch_warnings():
            # any_size: Keras notes that it loads the 224 px weights, which is the intent
            warnings.filterwarnings("ignore", message=".*input_shape. is undefined or non-square")
            return constructor(weights=weights, **kwargs)
    except (OSError, ValueError) as e:
        wanted = os.path.join(keras_cache_dir(), backbone.weight_file(include_top, size))
        raise DlkitError(f"cannot load ImageNet weights for {name} from {wanted}: {_first_line(e)} "
                         f"(delete the file to download it again)") from None


def load_weights_file(model: "keras.Model", path: str) -> None:
    if not os.path.isfile(path):
        raise DlkitError(f"weights file not found: {path}")
    try:
        model.load_weights(path)
    except Exception as e:  # Keras raises ValueError, OSError or KeyError here
        raise DlkitError(f"cannot load weights from {path}: {_first_line(e)}") from None


def _require_cached_or_downloadable(backbone: Backbone, include_top: bool, size: int) -> None:
    from dlkit.core.runtime import keras, keras_cache_dir

    filename = backbone.weight_file(include_top, size)
    wanted = os.path.join(keras_cache_dir(), filename)
    if os.path.exists(wanted):
        return
    try:
        keras.utils.get_file(filename, backbone.weights_url + filename, cache_subdir="models")
    except Exception as e:
        raise DlkitError(
            f"ImageNet weights for {backbone.name} are not in Keras' cache and could not be "
            f"downloaded ({_first_line(e)}). Save {backbone.weights_url + filename} as {wanted} "
            f"(or set KERAS_HOME to a folder whose models/ has it), or pass --weights PATH."
        ) from None


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, in output order, from Keras' cached class index."""
    import json

    from dlkit.core.runtime import keras, keras_cache_dir

    filename = "imagenet_class_index.json"
    url = "https://storage.googleapis.com/download.tensorflow.org/data/" + filename
    try:
        path = keras.utils.get_file(filename, url, cache_subdir="models",
                                    file_hash="c2c37ea517e94d9795004a39431a14cb")
    except Exception as e:
        raise DlkitError(
            f"ImageNet class names are not in Keras' cache and could not be downloaded "
            f"({_first_line(e)}). Save {url} as {os.path.join(keras_cache_dir(), filename)}."
        ) from None
    with open(path) as f:
        index = json.load(f)
    return [index[str(i)][1] for i in range(len(index))]


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
