"""Batch inference on a Ray cluster: the same predictor, in a pool of Ray actors.

The inputs become a Ray Dataset; `map_batches` runs a callable class, so each actor loads
the model once (by the dotted name of a task's `load`, e.g. "dlkit.tasks.sentiment:load")
and answers whole batches with the task's own Predictor, bad items included. Records
come back in input order (Ray Data's preserve_order), or are written as JSON Lines or
Parquet shards. An actor that dies is restarted by Ray and its batch run again (Ray Data's
actor pools retry without limit); a batch's records are only taken once it has finished,
so none is lost or repeated.

Ray is an optional extra (`pip install "dlkit[ray]"`), imported only here. The settings
are a `dlkit.engines.EngineConfig`; `dlkit.engines.predictions` picks this engine or the
local one.
"""

import functools
import importlib
import json
import logging
import os
import sys
import time
from typing import Any, Iterable, Iterator

from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import Item, as_items
from dlkit.core.quiet import silenced_stderr, verbose
from dlkit.core.records import json_line

INSTALL = 'the Ray engine needs Ray: pip install "dlkit[ray]" (or pip install "ray[data]")'


class _Worker:
    """One Ray actor: loads the predictor once, then answers batches of items."""

    def __init__(self, loader: str, options: dict):
        module, name = loader.split(":")
        self.predictor = getattr(importlib.import_module(module), name)(**options)
        pid_folder = os.environ.get("DLKIT_RAY_PID_DIR")  # tests kill a worker by its pid
        if pid_folder:
            open(os.path.join(pid_folder, str(os.getpid())), "w").close()

    def __call__(self, batch: dict) -> dict:
        items = [Item(shown, value, error or None)
                 for shown, value, error in zip(batch["input"], batch["value"], batch["error"])]
        records = list(self.predictor.predict(items, idle=None))
        # Records vary in their keys and hold numpy values: carried as the CLI's JSON text.
        return {"index": batch["index"], "record": [json_line(r) for r in records]}


def predict(loader: str, options: dict, items: Iterable[Any], settings, batch_size: int = 32,
            events: Events = SILENT) -> Iterator[dict]:
    """The records of `loader(**options).predict(items)`, computed by Ray actors, in input
    order; with settings.output_dir, written there as shards instead, and one summary
    record is returned. `settings` is a dlkit.engines.EngineConfig (not imported here:
    dlkit.engines imports this module)."""
    if not verbose():
        # Ray's C++ side logs to stderr as it likes (a note on restartable actors each run);
        # dlkit reports failures itself.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
        import ray.data
    except ImportError:
        raise DlkitError(INSTALL) from None
    rows = [{"index": i, "input": item.input, "value": item.value, "error": item.error or ""}
            for i, item in enumerate(as_items(items))]
    if not rows:
        return
    ours = _connect(ray, settings)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    dataset = ray.data.from_items(rows).map_batches(
        _Worker, fn_constructor_args=(loader, options), concurrency=settings.workers,
        batch_size=batch_size, num_cpus=settings.cpus_per_worker, num_gpus=settings.gpus_per_worker or None)
    # Ray's driver prints its raylet's notes (a worker died, a task is retried) to
    # sys.stdout, from a thread, whenever they arrive; they belong on stderr. Records keep
    # the stdout their writer holds, and Ray is shut down (its threads with it) before
    # sys.stdout is given back, so that no late note lands among the records.
    saved, sys.stdout = sys.stdout, sys.stderr
    try:
        if settings.output_dir:
            yield _write(dataset, settings, len(rows), events)
            return
        started = time.monotonic()
        with events.progress(len(rows), "predicting on Ray") as advance:
            for done, row in enumerate(dataset.iter_rows(), 1):
                advance(1, rate=f"{done / max(time.monotonic() - started, 1e-6):.0f} records/s")
                yield json.loads(row["record"])
    finally:
        if ours:
            ray.shutdown()
        sys.stdout = saved


def _write(dataset, settings, count: int, events: Events) -> dict:
    """Shards written by the workers, one per batch, named by the batch's first input
    index (their sorted names follow the input order): JSON Lines holding each record
    exactly as the CLI prints it, or Parquet (records with other keys leave nulls)."""
    folder = settings.output_dir
    os.makedirs(folder, exist_ok=True)
    shards = dataset.map_batches(functools.partial(_write_shard, folder, settings.output_format),
                                 batch_format="numpy")
    errors = int(sum(row["errors"] for row in shards.iter_rows()))
    events.message(f"wrote {count} records ({errors} errors) to {folder}")
    return {"input": f"{count} items", "output_dir": folder, "records": count, "errors": errors,
            "format": settings.output_format}


def _write_shard(folder: str, kind: str, batch: dict) -> dict:
    from dlkit.core.files import atomic_path

    records = [json.loads(text) for text in batch["record"]]
    with atomic_path(os.path.join(folder, f"part-{int(batch['index'][0]):012d}.{kind}")) as tmp:
        if kind == "parquet":
            import pyarrow
            import pyarrow.parquet

            pyarrow.parquet.write_table(pyarrow.Table.from_pylist(records), tmp)
        else:
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(text + "\n" for text in batch["record"])
    return {"errors": [sum("error" in record for record in records)]}


def _connect(ray, settings) -> bool:
    """Connects (or starts a local Ray); False when the caller had connected already."""
    if ray.is_initialized():
        return False
    address = settings.address or os.environ.get("RAY_ADDRESS")
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False, "configure_logging": True}
    try:
        with silenced_stderr():  # Ray's C++ start-up lines, as TensorFlow's
            if address:
                ray.init(address=address, **quiet)
            else:  # a Ray of its own for this run, sized to this machine
                ray.init(include_dashboard=False, **quiet)
    except ConnectionError as e:
        raise DlkitError(f"cannot reach the Ray cluster at {address}: {str(e).splitlines()[0][:200]}") from None
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return True
