"""The tasks the server answers: every predict command a task's description marks as
served (dlkit.core.task.Predict.serve), each through the same load function as the
command of the same name, and so with the same records."""

from dataclasses import dataclass

from dlkit import tasks
from dlkit.core.errors import DlkitError
from dlkit.core.task import Predict, entry


@dataclass(frozen=True)
class Served:
    spec: Predict

    @property
    def kind(self) -> str:
        """"image" (multipart uploads) or "text" (JSON texts)."""
        return "image" if self.spec.inputs == "images" else "text"

    @property
    def summary(self) -> str:
        return self.spec.serve

    @property
    def shipped(self) -> bool:
        """Served without --model: dlkit ships the model (or it is ImageNet's)."""
        return self.spec.model == "optional"


# Every served predict command, in registry order.
SERVED = {name: Served(spec) for name, (_, spec) in tasks.predictors().items() if spec.serve}
# Served when --tasks is not given: every task whose model ships with dlkit.
DEFAULT_TASKS = tuple(name for name, served in SERVED.items() if served.shipped)


def check_tasks(names: tuple[str, ...], models: dict[str, str]) -> None:
    """Refuses unknown task names and tasks that need a model file not given, before
    anything is loaded."""
    for name in (*names, *models):
        if name not in SERVED:
            raise DlkitError(f"unknown task {name!r}; choose from {', '.join(SERVED)}")
    for name in names:
        if not SERVED[name].shipped and name not in models:
            raise DlkitError(f"{name} needs a model: --model {name}=PATH")


def load(name: str, path: str | None):
    """The Predictor of task `name` (the model at `path`; None: the shipped one)."""
    return entry(SERVED[name].spec.load)(path=path)
