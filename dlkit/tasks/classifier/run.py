"""The classifier's public train and evaluate: class folders (.training), or a labels CSV
with a head per column (.multitask), chosen by `labels` here, so that the library and
`dlkit train-classifier --labels` answer alike."""

from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.task import Run
from dlkit.core.training_config import TrainConfig
from dlkit.tasks.classifier import multitask, training
from dlkit.tasks.classifier.config import TrainClassifierConfig


def train(data: str, output: str, config: TrainClassifierConfig | None = None,
          train_config: TrainConfig | None = None, events: Events = SILENT, labels: str | None = None,
          task_weights: "str | dict | None" = None, callbacks: list | None = None) -> Run:
    """Trains on the class folders in `data` (see training.train), or, with `labels` (a
    CSV naming images in `data`), one head per column on a frozen backbone, each
    column's loss weighted by `task_weights` (see multitask.train)."""
    if labels:
        return multitask.train(data, labels, output, config, train_config, task_weights, events)
    if task_weights:
        raise DlkitError("--task-weights applies to the columns of --labels")
    return training.train(data, output, config, train_config, events, callbacks)


def evaluate(data: str, model=None, confusion_png: str | None = None, batch_size: int = 32,
             labels: str | None = None, events: Events = SILENT) -> dict:
    """A classifier's scores on the class folders in `data` (see training.evaluate), or,
    with `labels`, each head's on the images that CSV names (see multitask.evaluate)."""
    if labels:
        return multitask.evaluate(data, labels, model, events)
    return training.evaluate(data, model, confusion_png, batch_size, events)
