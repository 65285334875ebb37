"""The tasks the server answers, each through its package's public `load` (or, for
extract-features, its FeatureExtractor): the same predictors, and so the same records,
as the commands of the same names."""

from dataclasses import dataclass

from dlkit.core.errors import DlkitError


@dataclass(frozen=True)
class Served:
    package: str  # dlkit.tasks.<package>
    kind: str  # "image" (multipart uploads) or "text" (JSON texts)
    summary: str
    shipped: bool  # served without --model: dlkit ships the model (or it is ImageNet's)


SERVED = {
    "classify": Served("classifier", "image", "ImageNet labels (or your classifier's) of photos.", True),
    "caption": Served("captioner", "image", "A sentence describing each photo.", True),
    "stylize": Served("stylize", "image", "Photos repainted by a fast stylizer (PNG data URLs).", False),
    "extract-features": Served("svm", "image", "CNN feature vectors of photos.", True),
    "predict-svm": Served("svm", "image", "Labels of photos from a trained SVM.", False),
    "translate": Served("translator", "text", "Translations of sentences.", True),
    "sentiment": Served("sentiment", "text", "The sentiment of texts.", True),
    "geolocate": Served("geolocator", "text", "Where news texts are about: lat, lon, nearest city.", True),
}
# Served when --tasks is not given: every task whose model ships with dlkit.
DEFAULT_TASKS = tuple(name for name, served in SERVED.items() if served.shipped)


def check_tasks(tasks: tuple[str, ...], models: dict[str, str]) -> None:
    """Refuses unknown task names and tasks that need a model file not given, before
    anything is loaded."""
    for name in (*tasks, *models):
        if name not in SERVED:
            raise DlkitError(f"unknown task {name!r}; choose from {', '.join(SERVED)}")
    for name in tasks:
        if not SERVED[name].shipped and name not in models:
            raise DlkitError(f"{name} needs a model: --model {name}=PATH")
    if "extract-features" in models:
        raise DlkitError("extract-features takes no --model (it serves the ImageNet backbone's features)")


def load(name: str, path: str | None):
    """The Predictor of task `name` (the model at `path`; None: the shipped one)."""
    import importlib

    package = importlib.import_module(f"dlkit.tasks.{SERVED[name].package}")
    if name == "extract-features":
        return package.FeatureExtractor(package.FeaturesConfig())
    return package.load(path)
