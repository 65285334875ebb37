"""ONNX twins: the copy of each Keras model that inference runs, on ONNX Runtime.

Training writes a model with Keras and, beside it, its twin: the same network as ONNX,
checked against Keras on the spot (dlkit.export.write_twin). Inference loads the twin
here, without TensorFlow or Keras: a photo classified this way costs what the network
costs, not TensorFlow's start-up (seconds) and memory (hundreds of MB).

    from dlkit.core import twins
    graphs = twins.load("pets.keras", convert="dlkit.tasks.classifier.twin:write")
    probabilities = graphs["model"].run(pixels)[0]
    graphs["model"].metadata["labels"]

Where a twin lives: beside its model file (`pets.keras` -> `pets.onnx`; a model with
several graphs, such as an encoder and a decoder step: `model.encoder.onnx`,
`model.step.onnx`). Each graph carries, in its ONNX metadata under "dlkit", the sha256 of
the Keras file it was made from and what inference needs besides the graph (class names,
decoding settings): a twin older than its model is never used. A model without a
current twin (written before twins existed, or retrained since) is converted on first
use where TensorFlow is installed, and the twin kept beside it, or under the user's
cache when that folder is read-only; without TensorFlow it is refused with one line
naming the fix.
"""

import json
import os

import numpy as np

from dlkit.core import files
from dlkit.core.errors import DlkitError

# ONNX Runtime's names of the input types a twin takes
_DTYPES = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
           "tensor(uint8)": np.uint8, "tensor(double)": np.float64, "tensor(bool)": np.bool_}
# The extra that brings TensorFlow and Keras (training, conversion, Grad-CAM, Gatys).
TRAIN_EXTRA = "pip install 'dlkit[train]'"
# Where a command's --device sends inference: "auto" (a GPU when onnxruntime has CUDA
# and sees one), "cpu" or "gpu". Set once per process by the command line (use_device).
_device = "auto"


def use_device(device: str) -> None:
    """Sends every graph loaded from now on to `device` ("auto", "cpu" or "gpu"), after
    checking that a GPU asked for is there."""
    global _device
    if device == "gpu":
        providers("gpu")  # fails now, with its one line, rather than at the first model
    _device = device


def providers(device: str) -> list[str]:
    """ONNX Runtime's providers for `device`, best first."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if device == "gpu" and "CUDAExecutionProvider" not in available:
        raise DlkitError("--device gpu: onnxruntime has no CUDA provider here (pip install 'dlkit[gpu]' on a "
                         "machine with an NVIDIA GPU)")
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class Graph:
    """One ONNX graph in an ONNX Runtime session: `run(*arrays)` in the graph's input
    order, or `run_named({name: array})`; `metadata` is what the twin's writer stored."""

    def __init__(self, path: str, device: str | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: ONNX Runtime's warnings are about its own choices
        # Its threads wait asleep, not spinning, between runs: a decoder runs its step once a
        # token with numpy's search in between, which spinning threads starved (measured on 2
        # cores: translate 1.4-2x faster; a batch of photos no slower).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(path, options, providers=providers(device or _device))
        except Exception as e:
            first = (str(e).strip() or type(e).__name__).splitlines()[0][:200]
            raise DlkitError(f"{path}: not a readable ONNX model ({first})") from None
        self.path = path
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dtypes = [_DTYPES.get(i.type, np.float32) for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        stored = self.session.get_modelmeta().custom_metadata_map.get("dlkit", "{}")
        try:
            self.metadata = json.loads(stored)
        except ValueError:
            raise DlkitError(f"{path}: its dlkit metadata is not JSON") from None

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """The outputs, in the graph's order, for inputs in its order (each cast to the
        type the graph takes: uint8 pixels to float32, say)."""
        return self.session.run(None, {name: np.asarray(a, dtype) for name, a, dtype
                                       in zip(self.inputs, arrays, self.dtypes)})

    def run_named(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        typed = dict(zip(self.inputs, self.dtypes))
        return dict(zip(self.outputs, self.session.run(None, {name: np.asarray(a, typed[name])
                                                               for name, a in values.items()})))


def twin_paths(source: str, names: tuple[str, ...] = ("model",)) -> dict[str, str]:
    """Where the twin of the Keras file `source` lives beside it: one graph as
    <stem>.onnx, several as <stem>.<name>.onnx."""
    stem = source[: -len(".keras")] if source.endswith(".keras") else source
    if names == ("model",):
        return {"model": stem + ".onnx"}
    return {name: f"{stem}.{name}.onnx" for name in names}


def cache_dir() -> str:
    """Twins made for models in read-only folders, and ImageNet backbones converted on
    first use: $DLKIT_CACHE, else $XDG_CACHE_HOME/dlkit or ~/.cache/dlkit."""
    if os.environ.get("DLKIT_CACHE"):
        return os.environ["DLKIT_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dlkit")


def load(source: str, names: tuple[str, ...] = ("model",), convert: str | None = None,
         device: str | None = None) -> dict[str, Graph]:
    """{name: Graph} of the twin of the Keras file `source` (see the module's docstring).
    `convert` names the task's writer ("module:function", called as
    function(source, {name: path})), used when no current twin exists."""
    if not os.path.isfile(source):
        raise DlkitError(f"model not found: {source}")
    digest = files.sha256(source)
    beside = twin_paths(source, names)
    cached = {name: os.path.join(cache_dir(), "twins", digest[:32], os.path.basename(path))
              for name, path in beside.items()}
    for place in (beside, cached):
        graphs = _current(place, digest, device)
        if graphs:
            return graphs
    target = beside if os.access(os.path.dirname(os.path.abspath(source)), os.W_OK) else cached
    make(source, target, convert)
    return {name: Graph(path, device) for name, path in target.items()}


def load_named(key: str, names: tuple[str, ...], places: list[str], make_twin: str, device: str | None = None
               ) -> dict[str, Graph]:
    """The twin of a model that has a name and no file of its own (an ImageNet backbone):
    from the first of `places` (folders) holding every graph, else from the user's cache,
    where `make_twin` ("module:function", called as function(key, {name: path})) made it
    on an earlier first use, or makes it now."""
    cached = os.path.join(cache_dir(), "twins", key)
    for folder in [*places, cached]:
        place = {name: os.path.join(folder, f"{name}.onnx") for name in names}
        if all(os.path.isfile(p) for p in place.values()):
            return {name: Graph(path, device) for name, path in place.items()}
    target = {name: os.path.join(cached, f"{name}.onnx") for name in names}
    make(key, target, make_twin)
    return {name: Graph(path, device) for name, path in target.items()}


def _current(place: dict[str, str], digest: str, device: str | None) -> dict[str, Graph] | None:
    if not all(os.path.isfile(path) for path in place.values()):
        return None
    graphs = {name: Graph(path, device) for name, path in place.items()}
    if all(g.metadata.get("source_sha256") == digest for g in graphs.values()):
        return graphs
    return None


def make(source: str, target: dict[str, str], convert: str | None) -> None:
    """Converts `source` to the twin files `target` with the task's writer, which needs
    TensorFlow: without it, one line saying what to install."""
    from dlkit.core.task import entry

    if convert is None:
        raise DlkitError(f"{source} has no ONNX twin, and dlkit cannot make one for this kind of model")
    try:
        from dlkit.core import runtime  # noqa: F401 (TensorFlow, quietly: the writer needs it)
    except (ImportError, DlkitError):
        what = "no current ONNX twin (a .onnx beside it)" if os.path.isfile(source) else "no ONNX twin yet"
        raise DlkitError(f"{source} has {what}; converting it needs TensorFlow once: {TRAIN_EXTRA}, then run "
                         f"this command again") from None
    os.makedirs(os.path.dirname(os.path.abspath(next(iter(target.values())))), exist_ok=True)
    entry(convert)(source, target)
