"""The ImageNet CNNs dlkit builds on: one registry of names, builders, inputs and weights.

ImageNet weights come through Keras' own cache (KERAS_HOME, ~/.keras by default): real
users download each file once, automatically; offline, one message names every missing
file (weights and class names together) with its URL and the place Keras wants it.
Keras reports its downloads on stdout, where dlkit's records go: they are sent to stderr.

The registry itself imports no TensorFlow (commands read BACKBONES for their --help
choices); the functions that build or run a network import it when called.
"""

import contextlib
import io
import os
import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dlkit.core.errors import DlkitError

if TYPE_CHECKING:
    from dlkit.core.runtime import keras

_GCS = "https://storage.googleapis.com/tensorflow/keras-applications/"
# The names of the 1000 ImageNet classes, which every ImageNet classifier (include_top) needs.
# (file name, URL, md5 as Keras checks it)
CLASS_INDEX = ("imagenet_class_index.json",
               "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
               "c2c37ea517e94d9795004a39431a14cb")


@dataclass(frozen=True)
class Backbone:
    name: str
    constructor: str  # attribute of keras.applications
    module: str  # keras.applications submodule holding preprocess_input
    input_size: int  # the size its ImageNet classifier was trained at
    weights_url: str  # folder of the weight files, as Keras downloads them
    top_file: str
    notop_file: str  # "{size}" is replaced by the input size where the name depends on it

    def weight_file(self, include_top: bool, size: int | None = None) -> str:
        return (self.top_file if include_top else self.notop_file).format(size=size or self.input_size)

    def weight_url(self, include_top: bool, size: int | None = None) -> str:
        return self.weights_url + self.weight_file(include_top, size)

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
    advice: str | None = None,
) -> "keras.Model":
    """A keras.applications model. `weights`: "imagenet", None (random) or a file path.
    `any_size` (without the classifier): accept images of any height and width.
    `advice` ends the message when a download is missing offline: what else the
    caller's user can do (an option of theirs that needs no download, say).

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
    # An ImageNet classifier's outputs are named by the class index, whatever its weights.
    needed = [CLASS_INDEX] if include_top and weights is not None else []
    if weights not in (None, "imagenet"):
        model = constructor(weights=None, **kwargs)
        load_weights_file(model, weights)
        ensure_files(needed, advice)
        return model
    if weights is None:
        return constructor(weights=None, **kwargs)
    ensure_weights(name, include_top, size, advice, also=needed)
    try:
        with warnings.catch_warnings(), downloads_to_stderr():
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


def is_cached(name: str, include_top: bool = False, input_size: int | None = None) -> bool:
    """Whether Keras' cache holds this network's ImageNet weights (no download needed)."""
    from dlkit.core.runtime import keras_cache_dir

    return os.path.exists(os.path.join(keras_cache_dir(), get(name).weight_file(include_top, input_size)))


def ensure_weights(name: str, include_top: bool = False, input_size: int | None = None, advice: str | None = None,
                   also: list[tuple] = ()) -> None:
    """Downloads this network's ImageNet weights (and the files `also` names) into Keras'
    cache unless they are there; offline, one DlkitError names every missing file.

    Called by build(); call it first where a failure should come before other work (a
    training run's lock and checkpoints)."""
    backbone = get(name)
    ensure_files([(backbone.weight_file(include_top, input_size), backbone.weight_url(include_top, input_size), None),
                  *also], advice)


def ensure_files(needed: list[tuple], advice: str | None = None) -> dict[str, str]:
    """Downloads each (file name, URL, md5 or None) into Keras' cache unless it is there,
    then reports all that could not be downloaded in one message, so that the user saves
    them at once. Returns {file name: path}."""
    from dlkit.core.runtime import keras, keras_cache_dir

    paths, missing, reason = {}, [], None
    for filename, url, md5 in needed:
        cached = os.path.join(keras_cache_dir(), filename)
        # A file without a known hash is used as it is; one with a hash is checked (a
        # damaged download is fetched again).
        if md5 is None and os.path.exists(cached):
            paths[filename] = cached
            continue
        try:
            with downloads_to_stderr():
                # Keras' own path: it falls back to /tmp/.keras when KERAS_HOME is read-only
                paths[filename] = keras.utils.get_file(filename, url, cache_subdir="models", file_hash=md5)
        except Exception as e:  # URL, HTTP, OS and hash errors alike
            missing.append(url)
            reason = reason or _download_error(e, url)
    if missing:
        raise DlkitError(
            f"{_files_phrase(len(missing))} not in Keras' cache and could not be downloaded ({reason}). "
            f"Save {' and '.join(missing)} in {keras_cache_dir() + os.sep} (or set KERAS_HOME to a folder whose "
            f"models/ holds {'it' if len(missing) == 1 else 'them'})" + (f", {advice}." if advice else ".")
        )
    return paths


def _files_phrase(count: int) -> str:
    return "An ImageNet file is" if count == 1 else f"{count} ImageNet files are"


@contextlib.contextmanager
def downloads_to_stderr():
    """Keras prints "Downloading data from URL" and its progress bar on stdout, where
    records go (and which `| jq` parses): send them to stderr, like every message."""
    with contextlib.redirect_stdout(_DownloadReport(sys.stderr)):
        yield


class _DownloadReport(io.TextIOBase):
    """Passes Keras' download report on, holding back its first line ("Downloading data
    from URL") until the download is under way: offline, the error message that follows
    names the URL once, with what to do about it."""

    def __init__(self, target):
        self.target = target
        self.held: str | None = None
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        if self.writes == 1:
            self.held = text
            return len(text)
        if self.held is not None:
            text, self.held = self.held + text, None
        self.target.write(text)
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:  # Keras draws a live bar only on a terminal
        return self.target.isatty()


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, in output order, from Keras' cached class index."""
    import json

    with open(ensure_files([CLASS_INDEX])[CLASS_INDEX[0]]) as f:
        index = json.load(f)
    return [index[str(i)][1] for i in range(len(index))]


def _download_error(error: Exception, url: str) -> str:
    """Why a download failed, without the URL the message names anyway ("URL fetch
    failure on URL: None -- [Errno -2] Name or service not known")."""
    text = _first_line(error)
    return text.rsplit(" -- ", 1)[-1] if " -- " in text else text.replace(url, "it")


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
