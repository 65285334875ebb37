"""Saving and loading models: atomic writes, Keras safe mode, and the shipped models.

Conventions every task follows:
- A model dlkit trains takes raw inputs (RGB pixels 0..255, or text) and carries its own
  preprocessing, so whoever loads it needs nothing else.
- A classifier ends in a ClassNames layer that stores its labels in the model file.
- Files and folders are written to a temporary name and renamed into place, so an
  interrupted save (Ctrl-C, a crash, a full disk) never leaves a half-written model.
- Models load with safe_mode=True: a model file cannot run code when loaded.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
import zipfile
from typing import Callable, Iterator

from dlkit.errors import DlkitError
from dlkit.runtime import keras


@keras.saving.register_keras_serializable(package="dlkit")
class ClassNames(keras.layers.Layer):
    """Identity on class probabilities; exists to keep the label names in the model file."""

    def __init__(self, names, **kwargs):
        super().__init__(**kwargs)
        self.names = [str(n) for n in names]

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "names": self.names}


def class_names(model: "keras.Model") -> list[str] | None:
    for layer in model.layers:
        if isinstance(layer, ClassNames):
            return layer.names
    return None


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path beside `path` (same suffix) to write; renames it into
    place only if the block finishes. Works for files and for folders."""
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    stem, suffix = os.path.splitext(name)
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    os.unlink(tmp)  # the writer creates it (Keras refuses to overwrite some files)
    try:
        yield tmp
        _replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _replace(tmp: str, path: str) -> None:
    if os.path.isdir(tmp) and os.path.exists(path):
        old = path + ".old"
        _remove(old)
        os.replace(path, old)
        os.replace(tmp, path)
        _remove(old)
    else:
        os.replace(tmp, path)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


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


def load_model(path: str, custom_objects: dict | None = None) -> "keras.Model":
    """A .keras model, loaded in safe mode; clear one-line errors for bad files."""
    if not os.path.exists(path):
        raise DlkitError(f"model not found: {path}")
    if os.path.isdir(path):
        raise DlkitError(f"{path} is a folder; expected a .keras model file")
    if not zipfile.is_zipfile(path):
        raise DlkitError(f"{path} is not a Keras model file (.keras archive)")
    try:
        return keras.saving.load_model(path, custom_objects=custom_objects, compile=False, safe_mode=True)
    except Exception as e:
        first = (str(e).strip() or type(e).__name__).splitlines()[0][:300]
        raise DlkitError(f"cannot load model {path}: {first}") from None


def quantize(source: str, target: str) -> dict:
    """Copies a model (.keras file, or a model folder holding model.keras) with its Dense
    and Embedding weights stored as int8 (Keras' per-channel weight quantization):
    about a quarter of their float32 size, where most of a text model's weights are.
    Recurrent and convolution layers keep float32. Returns sizes and the layers changed."""
    # Modules whose layers dlkit models use, so that safe-mode loading knows them.
    from dlkit import caption, geolocate, sentiment  # noqa: F401

    if os.path.abspath(source) == os.path.abspath(target):
        raise DlkitError("write the quantized model to a new path (-o), not over the original")
    folder = os.path.isdir(source)
    model_file = os.path.join(source, "model.keras") if folder else source
    model = load_model(model_file)
    try:
        with warnings.catch_warnings():
            # Keras names every layer it leaves as it is (dropout, LSTM, ...): expected here.
            warnings.filterwarnings("ignore", message=".*does not have a `quantize` method")
            # Only layers of the model's graph (nested models included): Dense layers that a
            # custom layer builds for itself (AttentionPooling's scorer) are re-created in
            # float32 on loading, and their int8 weights would not fit.
            graph = _graph_layers(model)
            model.quantize("int8", filters=lambda layer: id(layer) in graph)
    except Exception as e:
        raise DlkitError(f"cannot quantize {source}: {str(e).splitlines()[0][:200]}") from None
    layers = [layer.name for layer in model.layers if "int8" in layer.dtype_policy.name]
    if not layers:
        raise DlkitError(f"{source} has no Dense or Embedding layer to quantize")
    if folder:
        with atomic_path(target) as tmp:
            shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("model.keras"))
            model.save(os.path.join(tmp, "model.keras"))
    else:
        save_model(model, target)
    return {"input": source, "output": target, "layers": layers,
            "mb_before": round(_size(source) / 1e6, 2), "mb_after": round(_size(target) / 1e6, 2)}


def _graph_layers(model: "keras.Model") -> set[int]:
    found = set()
    for layer in model.layers:
        found.add(id(layer))
        if isinstance(layer, keras.Model):
            found |= _graph_layers(layer)
    return found


def _size(path: str) -> int:
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def save_folder(folder: str, model: "keras.Model", config: dict,
                files: dict[str, Callable[[str], None]] | None = None) -> None:
    """A model folder, written atomically: model.keras, config.json, and the files each
    `files[name](path)` writes (vocabularies, tokenizers)."""
    with atomic_path(folder) as tmp:
        os.makedirs(tmp)
        save_model(model, os.path.join(tmp, "model.keras"))
        for name, write in (files or {}).items():
            write(os.path.join(tmp, name))
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(config, f, indent=2, ensure_ascii=False)


def folder_config(folder: str, kind: str, command: str, config_class=None):
    """config.json of a model folder: as a dict, or as `config_class` from its "config"
    entry (keys the class no longer has are ignored, so older folders still load)."""
    if not os.path.isdir(folder):
        raise DlkitError(f"{kind} not found: {folder} (a folder written by dlkit {command})")
    try:
        with open(os.path.join(folder, "config.json")) as f:
            saved = json.load(f)
        if config_class is None:
            return saved
        names = {f.name for f in dataclasses.fields(config_class)}
        return config_class(**{k: v for k, v in saved["config"].items() if k in names})
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DlkitError(f"{folder} is not a dlkit {kind} ({str(e).splitlines()[0][:150]})") from None


def write_json(path: str, data: dict) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")


# ---- Shipped models --------------------------------------------------------------------

# pretrained/ beside the package in a source checkout: where recipes ship models to.
CHECKOUT_PRETRAINED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")


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
    with open(os.path.join(pretrained_dir(), "manifest.json")) as f:
        return json.load(f)["models"]


def sha256(path: str) -> str:
    """Of a file, or of a folder (its files' relative names and contents, in order)."""
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(folder, name)
                digest.update(os.path.relpath(full, path).encode() + b"\0")
                digest.update(sha256(full).encode())
        return digest.hexdigest()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    with open(path) as f:
        entries = json.load(f)
    entry = {"name": name, "file": folder, "sha256": sha256(target), "task": task, "metrics": metrics,
             "source": source}
    entries["models"] = [m for m in entries["models"] if m["name"] != name] + [entry]
    write_json(path, entries)
    return target

