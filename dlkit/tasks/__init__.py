"""The tasks: one package each, never importing another task.

A task package's `__init__` is cheap (no TensorFlow): it names the task's commands, so
that `dlkit --help` can list them; its `cli` module holds those commands and imports
the task's models only when a command runs. Adding a task is a package here and one
line below.
"""

import importlib

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


def commands() -> dict[str, tuple[str, str]]:
    """{command name: (task, summary)} in the order `dlkit --help` lists them."""
    found = {}
    for task in TASKS:
        package = importlib.import_module(f"dlkit.tasks.{task}")
        for name, summary in package.COMMANDS.items():
            found[name] = (task, summary)
    return found


def import_layers() -> None:
    """Imports every task's custom Keras layers (dlkit/tasks/<task>/layers.py), so that
    code loading any dlkit model in safe mode knows them all."""
    import importlib.util

    for task in TASKS:
        name = f"dlkit.tasks.{task}.layers"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
