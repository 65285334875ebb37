"""The shape every task has, and the description that registers a task.

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

Each task package describes itself in its `__init__` with a `Task` (below): its name,
entry points, settings, inputs, records, shipped model and extra commands. The command
line (dlkit.cli.verbs), the server, Ray and export read these descriptions; nothing
else names a task. Descriptions import no TensorFlow: entry points are dotted names
("dlkit.tasks.sentiment.model:train"), imported when called.
"""

import dataclasses
import importlib

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from dlkit.core.errors import DlkitError, ItemError
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
        results = iter(self._results([item.value for item in good]) if good else ())
        for item in batch:
            if item.error is not None:
                yield {"input": item.input, "error": item.error}
                continue
            result = next(results)
            if isinstance(result, ItemError):
                yield {"input": item.input, "error": str(result)}
            else:
                yield {"input": item.input, **result}

    def _results(self, values: list) -> list:
        """predict_batch's results; a batch that raises is answered again one value at a
        time, so that only the value that fails gets an error (one user's text never
        fails the others' requests batched with it on a server)."""
        try:
            return self.predict_batch(values)
        except DlkitError as e:
            if not isinstance(e, ItemError):
                raise  # a model or setting that cannot work: the command's failure, not an item's
            if len(values) == 1:
                return [e]
        except Exception as e:
            if len(values) == 1:
                return [ItemError(_failure(e))]
        return [self._results([value])[0] for value in values]

    def predict_batch(self, values: list) -> list:
        raise NotImplementedError


def _failure(error: Exception) -> str:
    """An exception a model raised on one item, as that item's error: one line."""
    first = (str(error).strip().splitlines() or [""])[0][:200]
    return f"cannot process this item ({type(error).__name__}{': ' + first if first else ''})"


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


# ---- Task descriptions ------------------------------------------------------------------

def entry(name: str) -> Callable:
    """The function a dotted name ("module:function") names, imported now."""
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Fields:
    """Settings of a Config class that a command offers as options (all but cli=False
    ones, or `only` those), and passes on by name, or, with `keyword`, as one Config
    object under that keyword."""

    config: type
    only: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    keyword: str | None = None

    def names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.config) if f.metadata.get("cli", True)
                and (self.only is None or f.name in self.only) and f.name not in self.exclude]


@dataclass(frozen=True)
class Argument:
    """A command's positional argument: `name` (shown upper-case), one value or
    `many`; `exists`: "file", "dir" or "any" for a path that must exist."""

    name: str
    many: bool = False
    required: bool = True
    exists: str | None = None


@dataclass(frozen=True)
class Train:
    """`train-X DATA -o OUTPUT`: calls function(data, output, config, training, events,
    **options) and returns a Run."""

    command: str
    summary: str
    function: str  # "module:train"
    help: str  # the command's --help text (with examples)
    data: Argument = Argument("data")
    output: str = "The model to write."  # what -o is
    options: tuple[Fields, ...] = ()  # settings passed as keywords besides the Config's
    exclude: tuple[str, ...] = ()  # Config settings that are not training's (a decoding's beam)
    # Early stopping's patience in epochs; None: the task does not train by epochs.
    patience: int | None = 3
    # A Keras fit (--precision, --jit, --deterministic, --checkpoint-steps); False: a fit
    # of another kind (scikit-learn's), with the other shared options only.
    keras: bool = True


@dataclass(frozen=True)
class Predict:
    """A command answering each input with a record (`X INPUTS...`), served over HTTP
    and run on Ray alike: load(path, **options) gives the Predictor."""

    command: str
    summary: str
    load: str  # "module:load"
    help: str
    inputs: str = "images"  # "images" (paths) or "texts"
    options: tuple[Fields, ...] = ()  # settings passed to load
    columns: dict[str, Callable | None] = field(default_factory=lambda: {"input": None})  # a table's
    model: str = "optional"  # "optional": dlkit ships one (or ImageNet's); "required"
    model_help: str = "A model written by the task's train- command [default: the shipped one]."
    # A library function run(items, model, options, engine, events) -> records, for side
    # outputs (a map, a grid, heat-maps); default: load and predict (dlkit.engines).
    run: str | None = None
    run_options: tuple[Fields, ...] = ()  # settings only `run` takes (side outputs)
    plain: str | None = None  # a column printed as plain lines unless --json (translate)
    serve: str | None = None  # what the server's /api/<command> answers; None: not served
    cli: bool = True  # False: the task writes this command by hand (listed in Task.commands)


@dataclass(frozen=True)
class Evaluate:
    """`evaluate-X DATA`: calls function(data, model, events=events, **options) -> metrics."""

    command: str
    summary: str
    function: str
    help: str
    data: Argument = Argument("data")
    options: tuple[Fields, ...] = ()
    model: str = "optional"
    model_help: str = "The model to evaluate [default: the shipped one]."


@dataclass(frozen=True)
class Task:
    """What a task package is, for everything that is not the task itself."""

    name: str  # the package's name: dlkit.tasks.<name>, tasks/<name>, the manifest's task
    summary: str
    config: type | None = None  # the Config train takes (None: no standard training)
    train: Train | None = None
    predict: tuple[Predict, ...] = ()
    evaluate: Evaluate | None = None
    # The recurrent or decoder models whose export is an encoder and a one-token step:
    # a function(folder) -> bool telling such a folder apart (by its files).
    exports_decoder: Callable[[str], bool] | None = None
    # Hand-written commands: {name: (module, summary)}; the module defines a Click command
    # named like the command (dashes as underscores).
    commands: dict[str, tuple[str, str]] = field(default_factory=dict)

    def command_table(self) -> dict[str, tuple[str, str]]:
        """{command: (where it comes from, summary)} in the order --help lists them;
        "verbs" for the generated ones."""
        found = {}
        for verb in (*self.predict, self.train, self.evaluate):
            if verb is not None and getattr(verb, "cli", True):
                found[verb.command] = ("verbs", verb.summary)
        found.update(self.commands)
        return found
