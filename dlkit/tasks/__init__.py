"""The tasks: one package each, never importing another task, and the one registry.

A task package's `__init__` is cheap (no TensorFlow): it describes the task in `TASK`
(dlkit.core.task.Task), from which the command line, the server, Ray and export work.
Adding a task is a package here and one line below.
"""

import importlib
import importlib.util

from dlkit.core.task import Task

TASKS = (
    "classifier",
    "svm",
    "visualize",
    "autoencoder",
    "stylize",
    "captioner",
    "translator",
    "sentiment",
    "word2vec",
    "geolocator",
)


def described() -> dict[str, Task]:
    """{task name: its description}, in registry order."""
    return {name: importlib.import_module(f"dlkit.tasks.{name}").TASK for name in TASKS}


def commands() -> dict[str, tuple[Task, str, str]]:
    """{command name: (task, where it comes from, summary)} in the order `dlkit --help`
    lists them; "verbs" for the generated ones, else the hand-written command's module."""
    return {name: (task, source, summary) for task in described().values()
            for name, (source, summary) in task.command_table().items()}


def predictors() -> dict[str, tuple[Task, "object"]]:
    """{predict command: (task, its Predict)} of every task: what serving and Ray answer."""
    return {spec.command: (task, spec) for task in described().values() for spec in task.predict}


def import_layers() -> None:
    """Imports every task's custom Keras layers (dlkit/tasks/<task>/layers.py), so that
    code loading any dlkit model in safe mode knows them all."""
    for task in TASKS:
        name = f"dlkit.tasks.{task}.layers"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
