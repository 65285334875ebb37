"""Saving and loading models: atomic writes, Keras safe mode, and the shipped models.

Conventions every task follows:
- A model dlkit trains takes raw inputs (RGB pixels 0..255, or text) and carries its own
  preprocessing, so whoever loads it needs nothing else.
- A classifier ends in a ClassNames layer (dlkit.core.layers) that stores its labels in the model file.
- Files and folders are written to a temporary name and renamed into place, so an
  interrupted save (Ctrl-C, a crash, a full disk) never leaves a half-written model.
- Models load with safe_mode=True: a model file cannot run code when loaded.

Finding shipped models and reading model folders needs no TensorFlow (inference runs
on ONNX twins, dlkit.core.twins): Keras is imported by the functions that save or load
a Keras model.
"""

import dataclasses
import os
import shutil
import sys
import warnings
import zipfile
from typing import Any, Callable

from dlkit.core import config as settings
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.files import atomic_path, check_output, read_json, sha256, size, write_json


def save_model(model: "keras.Model", path: str) -> None:
    """Writes a model for inference: without the optimizer's state, which would triple
    the file (training state lives in the checkpoints of dlkit.training instead)."""
    if not path.endswith(".keras"):
        raise DlkitError(f"{path}: a model file must end in .keras")
    if getattr(model, "optimizer", None) is not None:
        # from_config, not clone_model: a clone is compiled like its original, and its
        # optimizer's slots would be saved with it.
        clean = type(model).from_config(model.get_config())
        clean.set_weights(model.get_weights())
        model = clean
    with atomic_path(path) as tmp:
        model.save(tmp)


# A .keras file is a zip archive that Keras unpacks to a temporary folder. Archives
# beyond these limits are refused before unpacking: dlkit's largest models (VGG19 inside
# a stylizer) are about 600 MB, weights barely compress (a ratio near 1), and a small file
# that unpacks to gigabytes is an attack on the disk, not a model.
MAX_ARCHIVE_BYTES = 2 << 30
MAX_ARCHIVE_MEMBERS = 1000
MAX_COMPRESSION_RATIO = 20  # checked once the archive holds more than 16 MiB


def check_archive(path: str) -> None:
    """Refuses a .keras archive that is not one, or that would unpack beyond the limits."""
    if not zipfile.is_zipfile(path):
        raise DlkitError(f"{path} is not a Keras model file (.keras archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise DlkitError(f"{path} is not a readable Keras model file ({e})") from None
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members) or 1
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise DlkitError(f"{path}: refused, the archive holds {len(members):,} files "
                         f"(limit {MAX_ARCHIVE_MEMBERS:,})")
    if unpacked > MAX_ARCHIVE_BYTES:
        raise DlkitError(f"{path}: refused, the archive unpacks to {unpacked / 2**20:,.0f} MiB "
                         f"(limit {MAX_ARCHIVE_BYTES / 2**20:,.0f} MiB)")
    if unpacked > 16 << 20 and unpacked / packed > MAX_COMPRESSION_RATIO:
        raise DlkitError(f"{path}: refused, the archive unpacks {unpacked / packed:,.0f} times its size "
                         f"(model weights barely compress; limit {MAX_COMPRESSION_RATIO}x)")


def load_model(path: str, custom_objects: dict | None = None) -> "keras.Model":
    """A .keras model, loaded in safe mode after checking the archive; clear one-line
    errors for bad files."""
    if not os.path.exists(path):
        raise DlkitError(f"model not found: {path}")
    if os.path.isdir(path):
        raise DlkitError(f"{path} is a folder; expected a .keras model file")
    check_archive(path)
    from dlkit.core.runtime import keras

    try:
        return keras.saving.load_model(path, custom_objects=custom_objects, compile=False, safe_mode=True)
    except Exception as e:
        first = (str(e).strip() or type(e).__name__).splitlines()[0][:300]
        raise DlkitError(f"cannot load model {path}: {first}") from None


def quantize(source: str, target: str) -> dict:
    """Copies a model (.keras file, or a model folder holding model.keras) with its Dense
    and Embedding weights, and its MultiHeadAttention layers' projections, stored as int8
    (Keras' per-channel weight quantization): about a quarter of their float32 size,
    where most of a text model's weights are.
    Recurrent and convolution layers keep float32. Returns sizes and the layers changed.
    The model's custom layers must be registered first (dlkit.tasks.import_layers)."""
    if os.path.abspath(source) == os.path.abspath(target):
        raise DlkitError("write the quantized model to a new path (-o), not over the original")
    folder = os.path.isdir(source)
    # Before loading and quantizing: a file where the copy of a folder goes was replaced
    # by that folder at the end.
    check_output(target, () if folder else (".keras",), folder=folder, what="quantized copy")
    model_file = os.path.join(source, "model.keras") if folder else source
    model = load_model(model_file)
    if quantized(model):
        raise DlkitError(f"{source} is int8 already (a dlkit quantize copy, or a shipped model)")
    try:
        with warnings.catch_warnings():
            # Keras names every layer it leaves as it is (dropout, LSTM, ...): expected here.
            warnings.filterwarnings("ignore", message=".*does not have a `quantize` method")
            # Only layers of the model's graph (nested models included): Dense layers that a
            # custom layer builds for itself (AttentionPooling's scorer) are re-created in
            # float32 on loading, and their int8 weights would not fit. MultiHeadAttention's
            # projections are the exception: _keep_int8 makes it re-create them in int8.
            graph = _graph_layers(model)
            allowed = {id(layer) for layer in graph} | {id(p) for layer in graph for p in _projections(layer)}
            model.quantize("int8", filters=lambda layer: id(layer) in allowed)
            for layer in graph:
                if _projections(layer):
                    _keep_int8(layer)
    except Exception as e:
        raise DlkitError(f"cannot quantize {source}: {str(e).splitlines()[0][:200]}") from None
    layers = [layer.name for layer in model.layers
              if layer.quantization_mode or any(p.quantization_mode for p in _projections(layer))]
    if not layers:
        raise DlkitError(f"{source} has no Dense or Embedding layer to quantize")
    if folder:
        with atomic_path(target) as tmp:
            # Not the float model's ONNX twin: the int8 model's own is made on its first use.
            shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("model.keras", "*.onnx"))
            model.save(os.path.join(tmp, "model.keras"))
    else:
        save_model(model, target)
    return {"input": source, "output": target, "layers": layers,
            "mb_before": round(size(source) / 1e6, 2), "mb_after": round(size(target) / 1e6, 2)}


def quantized(model: "keras.Model") -> bool:
    """Whether `model` is an int8 copy (quantize above)."""
    return any(layer.quantization_mode or any(p.quantization_mode for p in _projections(layer))
               for layer in _graph_layers(model))


def copy_weights(source: "keras.Model", target: "keras.Model", what: str, events: Events = SILENT) -> None:
    """Gives `target` the weights of `source`, the same network built again (for training
    further, --init-from). Where `source` is an int8 copy (quantize above; shipped models
    are), its int8 kernels and embedding tables are divided by their scales: the float32
    values its layers compute with, and `events` hears so. (Keras has no way back from
    int8, and an int8 layer holds its weights in another order, with its scales:
    set_weights(get_weights()) fails on it.) `what` names `source` in the messages."""
    from dlkit.core.runtime import keras

    if quantized(source):
        events.message(f"{what} is int8: training goes on in float32 (dlkit quantize makes the result small again)")
    olds, news = _graph_layers(source), _graph_layers(target)
    if len(olds) != len(news):
        raise DlkitError(f"{what}: its weights do not fit the network its config.json describes")
    try:
        for old, new in zip(olds, news):
            if _projections(old):
                for old_part, new_part in zip(_projections(old), _projections(new)):
                    new_part.set_weights(_float_weights(old_part, new_part))
            elif not isinstance(old, keras.Model):  # a nested model's layers follow in the list
                new.set_weights(_float_weights(old, new))
    except (KeyError, ValueError) as e:
        raise DlkitError(f"{what}: its weights do not fit the network its config.json describes "
                         f"({str(e).splitlines()[0][:200]})") from None


def _float_weights(old: "keras.layers.Layer", new: "keras.layers.Layer") -> list:
    """`old`'s weights in the order and dtype `new` (its float32 twin) holds them."""
    from dlkit.core.runtime import keras

    if old.quantization_mode != "int8":
        return old.get_weights()
    values = {variable.name: variable.numpy() for variable in old.weights}
    for name in ("kernel", "embeddings"):
        if name in values:
            scale = values.pop(f"{name}_scale")
            if name == "embeddings":  # a scale per row
                scale = scale[:, None]
            elif hasattr(old, "_adjust_scale_for_dequant"):  # EinsumDense: its scale's axes, as Keras undoes them
                scale = keras.ops.convert_to_numpy(old._adjust_scale_for_dequant(scale))
            values[name] = (values[name].astype("float32") / scale).astype("float32")
    return [values[variable.name] for variable in new.weights]


def _graph_layers(model: "keras.Model") -> list["keras.layers.Layer"]:
    from dlkit.core.runtime import keras

    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found += _graph_layers(layer)
    return found


def _projections(layer: "keras.layers.Layer") -> list["keras.layers.Layer"]:
    """A MultiHeadAttention's query, key, value and output projections (EinsumDense
    layers); none for any other layer."""
    from dlkit.core.runtime import keras

    if not isinstance(layer, keras.layers.MultiHeadAttention):
        return []
    return [layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense]


def _keep_int8(attention: "keras.layers.MultiHeadAttention") -> None:
    """Makes a MultiHeadAttention whose projections are int8 re-create them in int8 on
    loading. It builds them with its own dtype policy, and saves no config of theirs:
    that policy becomes a map from their paths to int8 (keras.dtype_policies.DTypePolicyMap,
    Keras' way for a layer of mixed policies), the layer's own staying float32 (an int8
    policy of its own would send its calls to a quantized path it lacks). Without the
    map, loading fails: "Layer 'key' expected 2 variables, but received 0"."""
    from dlkit.core.runtime import keras

    policies = keras.dtype_policies.DTypePolicyMap(default_policy=attention.dtype_policy)
    for projection in _projections(attention):
        if projection.quantization_mode:
            policies[projection.path] = projection.dtype_policy
    attention.dtype_policy = policies


def save_folder(folder: str, task: str, model: "keras.Model | None", config: Any, extra: dict | None = None,
                files: dict[str, Callable[[str], None]] | None = None) -> None:
    """A model folder whose config.json holds the task's Config (a dataclass, under
    "config") and `extra` (labels, scores); see write_folder."""
    settings_ = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
    write_folder(folder, task, model, {"config": settings_, **(extra or {})}, files)


def write_folder(folder: str, task: str, model: "keras.Model | None", config_json: dict,
                 files: dict[str, Callable[[str], None]] | None = None) -> None:
    """A model folder, written atomically: model.keras (unless `model` is None: a folder
    whose model is not a Keras one, such as an SVM), the files each `files[name](path)`
    writes (vocabularies, tokenizers, curves) and `config_json` as config.json, with the
    name of the `task` that wrote it (so a folder given to another task's command is
    named for what it is). Tasks whose shipped folders predate save_folder's layout
    write theirs through this."""
    with atomic_path(folder) as tmp:
        os.makedirs(tmp)
        if model is not None:
            save_model(model, os.path.join(tmp, "model.keras"))
        for name, write in (files or {}).items():
            write(os.path.join(tmp, name))
        write_json(os.path.join(tmp, "config.json"), {**config_json, "task": task})


def read_folder(folder: str, kind: str, command: str, config_class: type | None = None,
                files: tuple[str, ...] = ("model.keras",)) -> tuple[Any, dict]:
    """(the task's Config, config.json as a dict) of a model folder, after checking that
    it is a folder with `files` and a config.json whose "config" entry passes the Config's
    checks (types, ranges, choices: dlkit.core.config.validate). Keys the Config no
    longer has are ignored, so folders written by older versions still load."""
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise DlkitError(f"{folder}: a {kind} is a folder written by dlkit {command}, not a file")
        raise DlkitError(f"{kind} not found: {folder} (a folder written by dlkit {command})")
    check_contained(folder)
    for name in files:
        if not os.path.exists(os.path.join(folder, name)):
            task = written_by(folder)
            raise DlkitError(f"{folder} is not a dlkit {kind}: it has no {name}"
                             + (f" (it is a dlkit {task} model)" if task else ""))
    path = os.path.join(folder, "config.json")
    saved = read_json(path, f"{kind} config")
    if not isinstance(saved, dict):
        raise DlkitError(f"{path}: expected a JSON object, not {type(saved).__name__}")
    if config_class is None:
        return None, saved
    if "config" not in saved:
        raise DlkitError(f"{path}: no \"config\" entry (not written by dlkit {command})")
    return settings.load(config_class, saved["config"], path), saved


def written_by(folder: str) -> str | None:
    """The task that wrote a model folder: its config.json's "task", or for a shipped
    folder (written before config.json named it) its manifest entry; None if unknown."""
    try:
        saved = read_json(os.path.join(folder, "config.json"))
        if isinstance(saved, dict) and isinstance(saved.get("task"), str):
            return saved["task"][:40]
        shipped = os.path.realpath(pretrained_dir())
        return next((m["task"] for m in manifest()
                     if os.path.realpath(os.path.join(shipped, m["file"])) == os.path.realpath(folder)), None)
    except DlkitError:
        return None


def check_contained(folder: str) -> None:
    """Refuses a model folder holding a link that leads out of it (a model folder from
    someone else could otherwise have dlkit read any file this user can read), or
    anything that is not a regular file or folder (a FIFO would hang its reader, a
    device such as /dev/zero fill memory). Links within the folder are kept."""
    root = os.path.realpath(folder)
    for place, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = os.path.join(place, name)
            if os.path.islink(path) and os.path.commonpath([root, os.path.realpath(path)]) != root:
                raise DlkitError(f"{path}: a link out of the model folder (to {os.path.realpath(path)}); refused")
            if not (os.path.isdir(path) or os.path.isfile(path)):
                raise DlkitError(f"{path}: not a regular file; refused")


# ---- Shipped models --------------------------------------------------------------------

# pretrained/ beside the package in a source checkout: where recipes ship models to.
CHECKOUT_PRETRAINED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "pretrained")


def pretrained_dir() -> str:
    """The shipped models: $DLKIT_PRETRAINED, the checkout's pretrained/, or the copy an
    installed wheel put under <prefix>/share/dlkit/pretrained."""
    candidates = [
        os.environ.get("DLKIT_PRETRAINED"),
        CHECKOUT_PRETRAINED,
        os.path.join(sys.prefix, "share", "dlkit", "pretrained"),
    ]
    for folder in candidates:
        if folder and os.path.isfile(os.path.join(folder, "manifest.json")):
            return folder
    raise DlkitError("no shipped models found (pretrained/manifest.json is missing)")


def manifest() -> list[dict]:
    return read_json(os.path.join(pretrained_dir(), "manifest.json"), "manifest")["models"]


# --init-from's word for the task's shipped model, so that fine-tuning it on one's own data
# needs no path into the installation.
SHIPPED = "shipped"


def start_folder(path: str, task: str) -> str:
    """The model folder a training run starts from: `path`, or for SHIPPED the task's
    shipped model."""
    return pretrained_path(task) if path == SHIPPED else path


def pretrained_path(task: str, name: str | None = None) -> str:
    """The path of a shipped model for `task` (or by `name`), after checking its sha256."""
    entries = [m for m in manifest() if (m["name"] == name if name else m["task"] == task)]
    if not entries:
        raise DlkitError(
            f"dlkit ships no model for {name or task}; pass --model PATH (train one with its train- command)"
        )
    entry = entries[0]
    path = os.path.join(pretrained_dir(), entry["file"])
    if not os.path.exists(path):
        raise DlkitError(f"shipped model {entry['name']} is missing: {path}")
    if sha256(path) != entry["sha256"]:
        raise DlkitError(f"shipped model {path} is damaged (sha256 does not match the manifest)")
    return path


def ship(model: str, name: str, folder: str, task: str, metrics: dict, source: str,
         skip: tuple[str, ...] = ("training.png",)) -> str:
    """Copies a trained model (file or folder) to pretrained/`folder` and records it in
    the manifest with its sha256, metrics and the command that made it (what the task
    recipes call to ship). Returns the shipped path."""
    target = os.path.join(CHECKOUT_PRETRAINED, folder)
    with atomic_path(target) as tmp:
        if os.path.isdir(model):
            shutil.copytree(model, tmp, ignore=shutil.ignore_patterns(*skip))
        else:
            shutil.copy(model, tmp)
    path = os.path.join(CHECKOUT_PRETRAINED, "manifest.json")
    entries = read_json(path, "manifest")
    entry = {"name": name, "file": folder, "sha256": sha256(target), "task": task, "metrics": metrics,
             "source": source}
    entries["models"] = [m for m in entries["models"] if m["name"] != name] + [entry]
    write_json(path, entries)
    return target

