"""Shared test setup: the real data in ../shared and an offline Keras cache.

TensorFlow is not imported here, so that tests can check what `dlkit --help` imports.
"""

import json
import os
import tempfile
from pathlib import Path

import keras_home
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DLKIT_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"
PHOTOS = DATA / "photos"


def _seed_keras_home():
    """Point KERAS_HOME at a writable copy of ../shared/keras unless the caller set one."""
    if os.environ.get("KERAS_HOME") or not (SHARED / "keras").is_dir():
        return
    home = Path(tempfile.mkdtemp(prefix="dlkit-keras-"))
    keras_home.seed(SHARED / "keras", home)
    os.environ["KERAS_HOME"] = str(home)


_seed_keras_home()
# Cached image features (captioning) go to a fresh folder, not the user's ~/.cache.
os.environ.setdefault("DLKIT_CACHE", tempfile.mkdtemp(prefix="dlkit-cache-"))


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is missing (set DLKIT_SHARED to the shared data folder)")
    return path


@pytest.fixture
def photos() -> Path:
    return need(PHOTOS)


@pytest.fixture
def data() -> Path:
    return need(DATA)


@pytest.fixture
def cli_run():
    """Runs `dlkit ARGS` in-process; returns (result, stdout records, stderr text)."""
    from click.testing import CliRunner

    from dlkit.cli import cli

    def run(args, input=None):
        result = CliRunner().invoke(cli, [str(a) for a in args], input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        records = [json.loads(line) for line in result.stdout.splitlines()
                   if line.startswith("{") and line.endswith("}")]
        return result, records, result.stderr

    return run


def pets_slice(folder: Path, per_class: int) -> Path:
    """The first `per_class` cats and dogs of ../shared's training set, linked into
    folder/cats and folder/dogs: a class-folder data set small enough to train on here."""
    source = need(DATA / "cats_and_dogs") / "train"
    for label in ("cats", "dogs"):
        (folder / label).mkdir(parents=True)
        for name in sorted(os.listdir(source / label))[:per_class]:
            (folder / label / name).symlink_to(source / label / name)
    return folder


def class_slice(source: Path, target: Path, per_class: int, skip: int = 0) -> Path:
    """Class folders with `per_class` symlinked images of each class of `source` (after
    the first `skip`)."""
    for name in sorted(os.listdir(source)):
        os.makedirs(target / name)
        for file in sorted(os.listdir(source / name))[skip:skip + per_class]:
            os.symlink(source / name / file, target / name / file)
    return target


def interrupt_at(epoch: int):
    """A Keras callback that stops a training as Ctrl-C would, as `epoch` begins."""
    from dlkit.core.runtime import keras

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, begun, logs=None):
            if begun == epoch:
                raise KeyboardInterrupt

    return Interrupt()


def tiny_stylizer(path: Path) -> str:
    """A fast stylizer trained in seconds (two steps at 64 px): dlkit ships none."""
    from dlkit.tasks import stylize

    need(DATA / "style")
    stylize.train(str(DATA / "style" / "content"), str(path),
                  stylize.StylizerConfig(backbone="mobilenet_v2", steps=2, steps_per_epoch=2, image_size=64,
                                         batch_size=1, width=4, seed=1),
                  style=str(DATA / "style" / "style" / "mosaic.jpg"))
    return str(path)
