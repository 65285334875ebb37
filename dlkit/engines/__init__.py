"""Ways to run a task's predictor over many inputs: here, or on Ray.

`predictions` is the one entry point, callable without the command line:

    from dlkit.engines import EngineConfig, predictions
    for record in predictions("dlkit.tasks.sentiment:load", {}, ["What a film"],
                              EngineConfig(engine="ray", workers=4)):
        print(record)

The local engine streams from one predictor in this process; the Ray engine
(dlkit.engines.ray, Ray imported only there) runs a pool of actors, each loading the
predictor once. Nothing here imports TensorFlow or Ray.
"""

import importlib
from dataclasses import dataclass
from typing import Iterable, Iterator

from dlkit.core import files
from dlkit.core.config import setting
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import as_items


@dataclass
class EngineConfig:
    # local: this process, streaming; ray: a pool of Ray actors (inputs gathered first).
    engine: str = setting("local", "Where predictions run: this process, or Ray actors.", choices=("local", "ray"))
    # None: $RAY_ADDRESS if set, else a Ray started for this run on this machine.
    address: str | None = setting(None, "Ray cluster to use (host:port) [default: $RAY_ADDRESS, or a local "
                                  "Ray for this run].")
    # One actor per worker, each holding one copy of the model: more workers, more memory.
    workers: int = setting(1, "Ray actors, each loading the model once.", min=1)
    # A TensorFlow model uses the cores it is given; one is the safe share on a laptop.
    cpus_per_worker: float = setting(1.0, "CPUs Ray reserves for each worker.", min=0, min_open=True)
    gpus_per_worker: float = setting(0.0, "GPUs (or fractions) Ray gives each worker.", min=0)
    # For inputs too large to gather on stdout: shards written by the workers instead.
    output_dir: str | None = setting(None, "Write the records as shards in this folder (Ray engine).")
    output_format: str = setting("jsonl", "Shard format for --output-dir.", choices=("jsonl", "parquet"))


def predictions(loader: str, options: dict, items: Iterable, engine: EngineConfig = EngineConfig(),
                batch_size: int = 32, events: Events = SILENT) -> Iterator[dict]:
    """The records of `function(**options).predict(items)`, where `loader` names a task's
    load function as "module:function" ("dlkit.tasks.sentiment:load"): from one predictor
    in this process (engine "local", streaming), or from a pool of Ray actors each loading
    it once (engine "ray"). Settings are checked, and the output folder of
    `engine.output_dir`, before any work."""
    if engine.engine == "local":
        if engine.output_dir:
            raise DlkitError("--output-dir writes Ray's shards: use it with --engine ray")
        return _load(loader, options).predict(items)
    if engine.output_dir:
        files.check_output(engine.output_dir, folder=True, what="output folder")
    from dlkit.engines import ray

    return ray.predict(loader, options, items, engine, batch_size, events)


def predictions_or_attention_map(loader: str, options: dict, items: Iterable, engine: EngineConfig = EngineConfig(),
                                 batch_size: int = 32, events: Events = SILENT, item: str = "IMAGE") -> list | Iterator:
    """The records of `predictions`; with options["attention_map"] a PNG path, instead the
    one item's record from the predictor's `predict_with_attention`, which draws where the
    model looked there (the captioner's and the translator's `--attention-map`). `item`:
    what the command calls an input, for the error when there is not exactly one."""
    options = dict(options)
    picture = options.pop("attention_map", None)
    if picture is None:
        return predictions(loader, options, items, engine, batch_size, events)
    items = list(as_items(items))
    if len(items) != 1:
        raise DlkitError(f"--attention-map draws one {item.lower()}: give exactly one {item}")
    return [_load(loader, options).predict_with_attention(items[0], picture)]


def _load(loader: str, options: dict):
    """The predictor `function(**options)` of a "module:function" loader, in this process."""
    module, name = loader.split(":")
    return getattr(importlib.import_module(module), name)(**options)
