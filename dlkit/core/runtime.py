"""TensorFlow start-up: a quiet import, device choice and seeds.

Every module that needs TensorFlow imports it from here, so the import happens once,
with TensorFlow's C++ start-up chatter kept off the user's terminal.
"""

import logging
import os
import random
import warnings

import numpy as np

from dlkit.core.errors import DlkitError
from dlkit.core.quiet import silenced_stderr, verbose



if not verbose():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|absl|h5py)(\.|$)")
try:
    with silenced_stderr():
        import tensorflow as tf
        import keras
except ModuleNotFoundError as e:
    if e.name not in ("tensorflow", "keras"):
        raise
    # TensorFlow comes with an extra, so that CPU and GPU installs each get one copy.
    raise DlkitError(f"{e.name} is not installed: this needs training's extra, pip install 'dlkit[train]' "
                     f"(or 'dlkit[gpu]' for NVIDIA GPUs)") from None
if not verbose():
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    # Writing an ONNX twin: tf2onnx warns of the freezing it repairs in recurrent layers
    # ("TF freezing failed. Attempting to fix ...") on every LSTM translator it converts;
    # the twin is checked against Keras whatever it did.
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)

_configured = False
# Created by setup(): collective ops can only be configured before the first op runs.
multi_worker_strategy = None


class DeviceError(RuntimeError):
    pass


def setup(device: str = "auto", seed: int | None = None, strategy: str | None = None) -> str:
    """Choose the device and seed everything; returns the device used ("cpu" or "gpu").

    Must run before the first TensorFlow op: visible devices cannot change afterwards,
    and a multi-worker strategy must be created before any op (pass strategy="multi-worker").
    """
    global _configured, multi_worker_strategy
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise DeviceError("--device gpu: TensorFlow sees no GPU on this machine")
    if not _configured:
        cpu_devices = int(os.environ.get("DLKIT_CPU_DEVICES", "1"))
        if cpu_devices > 1:
            # Split the CPU into logical devices, so multi-replica training can be tried
            # (and tested) on a machine without GPUs.
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        if device == "cpu" and gpus:
            tf.config.set_visible_devices([], "GPU")
        if device != "cpu":
            for gpu in gpus:
                # Grow on demand so dlkit never takes the whole card from other users.
                tf.config.experimental.set_memory_growth(gpu, True)
        with silenced_stderr():
            if strategy == "multi-worker":
                multi_worker_strategy = tf.distribute.MultiWorkerMirroredStrategy()
            tf.constant(0.0) + 1.0  # the first op prints its own start-up lines
        _configured = True
    if seed is not None:
        set_seed(seed)
    return "gpu" if gpus and device != "cpu" else "cpu"


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def devices() -> list[dict]:
    return [
        {"name": d.name, "type": d.device_type}
        for d in tf.config.list_logical_devices()
    ]


def keras_cache_dir() -> str:
    """Where keras.utils.get_file keeps downloads (the models/ folder of KERAS_HOME)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models")


def network(model: "keras.Model", preprocess=None):
    """A Keras model as inference's network: a function of numpy arrays (pixels, ids)
    giving numpy outputs (a dict for a model with named outputs), traced once per shape
    family. It stands where an ONNX twin's graph does when a predictor runs on Keras
    (training's own scores, the parity tests). Inputs are arrays in the model's input
    order, or one dict of named inputs; uint8 pixels become float32 (as a twin takes
    them), then go through `preprocess` if given."""

    def prepared(x):
        x = tf.cast(x, tf.float32) if x.dtype == tf.uint8 else x
        return preprocess(x) if preprocess else x

    @tf.function(reduce_retracing=True)
    def run(inputs):
        return model(tf.nest.map_structure(prepared, inputs), training=False)

    def call(*inputs):
        outputs = run(inputs[0] if len(inputs) == 1 else list(inputs))
        if isinstance(outputs, dict):
            return {k: v.numpy() for k, v in outputs.items()}
        if isinstance(outputs, (list, tuple)):
            return [v.numpy() for v in outputs]
        return outputs.numpy()

    return call
