"""The standard commands of every task, made from its description (dlkit.core.task.Task):

    train-X DATA -o OUTPUT     the task's Config, the shared training options, a Run's summary
    X INPUTS...                --model, the load options, --engine local|ray, one record per input
    evaluate-X DATA            --model, the evaluation options, one metrics record

Each command parses its options into the task's settings classes and calls the task's
public functions, which do all the work; what is here is only the command line's part:
options, start-up, output and exit codes, written once for every task. Nothing here
imports TensorFlow: the entry points are imported when a command runs.
"""

import dataclasses

import click

from dlkit import engines
from dlkit.cli.common import (device_option, engine_options, events, handle_errors, output_options, start,
                              start_light)
from dlkit.cli.common import engine as engine_from
from dlkit.cli.output import Output, error_line
from dlkit.core import files
from dlkit.core.config import from_params, option_name, options
from dlkit.core.inputs import iter_paths, iter_texts, shown
from dlkit.core.task import Argument, Evaluate, Fields, Predict, Task, Train, entry
from dlkit.core.training_config import TrainConfig
from dlkit.vision.folders import image_count

# The shared training options that only a Keras fit has (its steps' precision,
# compilation and checkpoints).
KERAS_ONLY = ("precision", "jit", "deterministic", "checkpoint_steps")


def command(task: Task, name: str) -> click.Command:
    """The generated command `name` of `task`."""
    if task.train and task.train.command == name:
        return train_command(task)
    if task.evaluate and task.evaluate.command == name:
        return evaluate_command(task.evaluate)
    for spec in task.predict:
        if spec.command == name:
            return predict_command(spec)
    raise KeyError(name)


# ---- Options ------------------------------------------------------------------------------

def _argument(spec: Argument):
    kind = {"file": click.Path(exists=True, dir_okay=False), "dir": click.Path(exists=True, file_okay=False),
            "any": click.Path(exists=True)}.get(spec.exists) if spec.exists else None
    return click.argument(spec.name, nargs=-1 if spec.many else 1, required=spec.required, type=kind)


def _fields(groups: tuple[Fields, ...]):
    def decorate(fn):
        for group in reversed(groups):
            fn = options(group.config, only=tuple(group.names()))(fn)
        return fn

    return decorate


def _values(groups: tuple[Fields, ...], params: dict) -> dict:
    """{keyword: value} of the options `groups` added, checked by their Config classes:
    each setting by its name, or a group's Config under its keyword."""
    values = {}
    for group in groups:
        names = group.names()
        mine = {name: params.pop(name) for name in list(params) if name in names or name.split("__")[0] in names}
        config = from_params(group.config, mine)
        if group.keyword:
            values[group.keyword] = config
        else:
            values.update({name: getattr(config, name) for name in names})
    return values


def _batch_size(settings: dict) -> int:
    """The predictor's batch size among its settings (Ray's batches are as large)."""
    for value in (settings, *settings.values()):
        size = value.get("batch_size") if isinstance(value, dict) else getattr(value, "batch_size", None)
        if isinstance(size, int):
            return size
    return 32


def _check_outputs(groups: tuple[Fields, ...], values: dict) -> None:
    """Side outputs (settings declared with output=...) checked before any work."""
    for group in groups:
        for field in dataclasses.fields(group.config):
            kind = field.metadata.get("output")
            if kind and values.get(field.name):
                files.check_output(values[field.name], folder=kind == "dir",
                                   suffixes=() if kind in ("dir", "file") else tuple(kind),
                                   what=option_name(field).lstrip("-").replace("-", " "))


def _model_option(kind: str, help: str):
    # Not checked by Click: the task's load names what is wrong with a model path in one line.
    return click.option("--model", type=click.Path(), required=kind == "required", default=None, help=help)


def _emit(records, json_lines: bool | None, columns: dict | None = None) -> None:
    out = Output(json_lines, columns=columns)
    for record in records:
        out.emit(record)
    raise SystemExit(out.close())


# ---- train-X --------------------------------------------------------------------------------

def _training_fields(spec: Train) -> tuple[str, ...]:
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    if not spec.keras:
        names = [n for n in names if n not in KERAS_ONLY]
    if spec.patience is None:
        names.remove("patience")
    return tuple(names)


def train_command(task: Task) -> click.Command:
    spec = task.train
    shared = _training_fields(spec)
    config_fields = Fields(task.config, exclude=(*shared, *spec.exclude))

    @click.command(spec.command, help=spec.help, short_help=spec.summary)
    @_argument(spec.data)
    @click.option("-o", "--output", "output_path", required=True, type=click.Path(), help=spec.output)
    @_fields((config_fields, *spec.options))
    @options(TrainConfig, only=shared, defaults={"patience": spec.patience})
    @output_options
    @device_option
    @handle_errors
    def train(json_lines, quiet, verbose, device, output_path, **params):
        data = params.pop(spec.data.name)
        training = from_params(TrainConfig, {k: params.pop(k) for k in shared if k in params})
        extra = _values(spec.options, params)
        # A Config setting that is also a training setting (the seed of a data split)
        # follows the training option.
        names = {f.name for f in dataclasses.fields(task.config)}
        config = from_params(task.config, params, **{name: getattr(training, name) for name in shared
                                                     if name in names and getattr(training, name) is not None})
        report = events(quiet)
        start(device, training.seed, training.strategy)
        run = entry(spec.function)(list(data) if spec.data.many else data, output_path, config, training, report,
                                   **extra)
        _emit([run.summary], json_lines)

    return train


# ---- X INPUTS... ---------------------------------------------------------------------------

def predict_command(spec: Predict) -> click.Command:
    @click.command(spec.command, help=spec.help, short_help=spec.summary)
    @click.argument("inputs", nargs=-1, required=True)
    @_model_option(spec.model, spec.model_help)
    @_fields((*spec.options, *spec.run_options))
    @engine_options
    @output_options
    @device_option
    @handle_errors
    def predict(inputs, model, json_lines, quiet, verbose, device, **params):
        settings = _values(spec.options, params)
        side = _values(spec.run_options, params)
        _check_outputs(spec.run_options, side)
        engine = engine_from(params)
        report = events(quiet)
        start_light(device)
        records = predictions(spec, inputs, model, {**settings, **side}, engine, report)
        if spec.plain and json_lines is None:
            raise SystemExit(_plain(records, spec.plain, report))
        if spec.inputs != "images":  # texts stream from pipes, where a bar says little
            _emit(records, json_lines, spec.columns)
        with report.progress(image_count(inputs), spec.command) as advance:
            _emit(_counted(records, advance), json_lines, spec.columns)

    return predict


def predictions(spec: Predict, inputs, model: str | None, settings: dict, engine: "engines.EngineConfig",
                events):
    """The records of a predict command: the task's own run (side outputs), or its
    predictor here or on Ray."""
    items = iter_paths(inputs) if spec.inputs == "images" else iter_texts(inputs)
    if spec.run:
        return entry(spec.run)(items, model, settings, engine, events)
    return engines.predictions(spec.load, {"path": model, **settings}, items, engine,
                               _batch_size(settings), events)


def _counted(records, advance):
    for record in records:
        yield record
        advance()


def _plain(records, column: str, report) -> int:
    """One line per record, its `column` (an empty line for a failed one, which keeps its
    place); errors and a record's "warning" (the item is beyond what the model knows) on
    stderr. Returns the exit code."""
    stdout = click.get_text_stream("stdout")  # held: the Ray engine sends Ray's own notes to stderr
    failed = 0
    for record in records:
        if "error" in record:
            failed += 1
            error_line(record["error"])
        if "warning" in record:
            name = shown(str(record["input"]))
            report.warning(f"{name[:60]}{'...' if len(name) > 60 else ''}: {record['warning']}")
        click.echo(record.get(column, ""), file=stdout)
    return 1 if failed else 0


# ---- evaluate-X -----------------------------------------------------------------------------

def evaluate_command(spec: Evaluate) -> click.Command:
    @click.command(spec.command, help=spec.help, short_help=spec.summary)
    @_argument(spec.data)
    @_model_option(spec.model, spec.model_help)
    @_fields(spec.options)
    @output_options
    @device_option
    @handle_errors
    def evaluate(model, json_lines, quiet, verbose, device, **params):
        data = params.pop(spec.data.name)
        settings = _values(spec.options, params)
        _check_outputs(spec.options, settings)
        report = events(quiet)
        start_light(device)  # evaluation runs the light predictors; what needs TensorFlow imports it
        _emit([entry(spec.function)(list(data) if spec.data.many else data, model, events=report, **settings)],
              json_lines)

    return evaluate
