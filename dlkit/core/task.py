"""The shape every task has.

Each task (dlkit.tasks.<name>) offers the same four things:

    config = Config(...)                       # every default, with why it is the default
    run = train(data, output, config, train_config=None, events=SILENT)   # -> Run
    predictor = load(path_or_None)             # None: the model dlkit ships
    for record in predictor.predict(items):    # one record per item, in order, streamed
        ...
    metrics = evaluate(data, predictor)        # -> dict

Records are plain dicts keyed by "input"; an item that cannot be processed gives
{"input": ..., "error": ...} and the others go on. Library code reports through
`events` (dlkit.core.events) and never prints.
"""

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from dlkit.core.errors import ItemError
from dlkit.core.inputs import IDLE_SECONDS, Item, as_items, batched


@dataclass
class Run:
    """What a training run returns."""

    model: str  # where the trained model was written
    history: dict = field(default_factory=dict)  # {metric: per-epoch values}, "seconds"
    summary: dict = field(default_factory=dict)  # the run's record: final metrics, epochs, time, ...


class Predictor:
    """A loaded model answering items a batch at a time.

    Subclasses set `batch_size` and implement `predict_batch(values)`, which gets the
    values of the good items of a batch and returns one result dict per value (without
    "input"); a result may be {"error": ...}, or an ItemError may be returned in its
    place. Items that arrive with an error (unreadable lines) never reach it."""

    batch_size: int = 32

    def predict(self, items: Iterable[Any], idle: float | None = IDLE_SECONDS) -> Iterator[dict]:
        """One record per item, in input order; each batch is answered as soon as it is
        full or its input pauses for `idle` seconds (see dlkit.core.inputs.batched)."""
        for batch in batched(as_items(items), self.batch_size, idle):
            yield from self._answer(batch)

    def _answer(self, batch: list[Item]) -> Iterator[dict]:
        good = [item for item in batch if item.error is None]
        results = iter(self.predict_batch([item.value for item in good]) if good else ())
        for item in batch:
            if item.error is not None:
                yield {"input": item.input, "error": item.error}
                continue
            result = next(results)
            if isinstance(result, ItemError):
                yield {"input": item.input, "error": str(result)}
            else:
                yield {"input": item.input, **result}

    def predict_batch(self, values: list) -> list:
        raise NotImplementedError


def lazy_exports(package: str, exports: dict[str, str]):
    """A module `__getattr__` for a task package: `dlkit.tasks.sentiment.load` imports
    the module that defines it (and TensorFlow) only when first used, so the package
    itself stays cheap to import. `exports` maps each public name to its module."""
    import importlib

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__
