"""Shared test setup: the real data in ../shared and an offline Keras cache.

TensorFlow is not imported here, so that tests can check what `dlkit --help` imports.
"""

import csv
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


@pytest.fixture
def light_run():
    """Runs `dlkit ARGS` in a subprocess as in a light install, where importing
    tensorflow, keras or tf2onnx fails (tests/without_tensorflow); returns (exit code,
    stdout records, stderr text)."""
    from lightness import light_subprocess

    def run(args, input: str | bytes | None = None, timeout=300):
        done = light_subprocess(["-m", "dlkit", *args], input, timeout)
        stdout, stderr = done.stdout.decode(), done.stderr.decode(errors="replace")
        records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        return done.returncode, records, stderr

    return run


# ---- Small slices of ../shared: every test builds its data with these -------------------------

PETS = DATA / "cats_and_dogs"  # train/ and validation/, each cats/ and dogs/


def link(source: Path, target: Path) -> Path:
    """`target` made a symbolic link to the file `source` of ../shared (its folder made)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(need(source))
    return target


def file_slice(source: Path, target: Path, count: int | None = None, skip: int = 0) -> Path:
    """The folder `target` with links to `count` files of `source` (all when None), in
    name order after the first `skip`."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(need(source).iterdir())[skip:None if count is None else skip + count]:
        link(path, target / path.name)
    return target


def class_slice(source: Path, target: Path, per_class: int, skip: int = 0) -> Path:
    """Class folders with `per_class` linked images of each class of `source` (after the
    first `skip`): e.g. class_slice(PETS / "train", folder, 16), a class-folder data set
    small enough to train on here."""
    for name in sorted(os.listdir(need(source))):
        file_slice(source / name, target / name, per_class, skip)
    return target


def text_lines(source: Path, count: int | None = None, skip: int = 0, header: bool = False) -> list[str]:
    """Lines of a text file of ../shared, ends kept (split at newlines only): its first
    line if `header`, then `count` lines (all when None) after the first `skip`."""
    with open(need(source), encoding="utf-8") as f:
        rows = f.readlines()
    first = rows[:1] if header else []
    start = len(first) + skip
    return first + rows[start:None if count is None else start + count]


def lines_slice(source: Path, target: Path, count: int | None = None, skip: int = 0, header: bool = False,
                extra: tuple[str, ...] | list[str] = ()) -> Path:
    """The file `target` with `text_lines(source, count, skip, header)`, then the lines
    `extra` (malformed ones, say): sentence pairs, SST-2 rows, JSON Lines articles."""
    lines = text_lines(source, count, skip, header)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(lines + [line + "\n" for line in extra]), encoding="utf-8")
    return target


def tsv_rows(source: Path, count: int | None = None, skip: int = 0) -> list[tuple[str, str]]:
    """(text, label) of a two-column TSV with a header (SST-2's), text stripped: `count`
    rows (all when None) after the first `skip`."""
    return [(text.strip(), label) for text, label in
            (line.rstrip("\n").split("\t") for line in text_lines(source, count, skip + 1))]


def flickr_slice(target: Path, count: int, extra_rows: tuple | list = ()) -> list[list[str]]:
    """The first `count` images of ../shared's Flickr8k with their captions, as Kaggle
    ships them: target/Images/ (links) and target/captions.txt (its header, their
    image,caption rows, then `extra_rows`). Returns their rows."""
    source = need(DATA / "flickr8k")
    with open(source / "captions.txt", encoding="utf-8", newline="") as f:
        header, *rows = csv.reader(f)
    names = list(dict.fromkeys(r[0] for r in rows))[:count]
    keep = [r for r in rows if r[0] in names]
    for name in names:
        link(source / "Images" / name, target / "Images" / name)
    with open(target / "captions.txt", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *keep, *extra_rows])
    return keep


def glove_text(binary: Path, target: Path, words: int) -> Path:
    """The first `words` vectors of a word2vec-binary file in GloVe's text format (no
    header line)."""
    from gensim.models import KeyedVectors

    vectors = KeyedVectors.load_word2vec_format(str(need(binary)), binary=True, limit=words)
    with open(target, "w", encoding="utf-8") as f:
        for word in vectors.index_to_key:
            f.write(word + " " + " ".join(f"{x:.5f}" for x in vectors[word]) + "\n")
    return target


@pytest.fixture(scope="session")
def mnist(tmp_path_factory) -> Path:
    """../shared's MNIST as PNG class folders, written once by `dlkit import-mnist`:
    train/ (8,000) and test/ (2,000), 0/ to 9/ in each. Slice it with class_slice."""
    from click.testing import CliRunner

    from dlkit.cli import cli

    source = need(DATA / "mnist")
    out = tmp_path_factory.mktemp("digits") / "mnist"
    result = CliRunner().invoke(cli, ["import-mnist", str(source), str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"input": str(source), "output": str(out), "train": 8000, "test": 2000}
    return out


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
    stylize.train(str(DATA / "style" / "style" / "mosaic.jpg"), str(path),
                  stylize.StylizerConfig(backbone="mobilenet_v2", steps=2, steps_per_epoch=2, image_size=64,
                                         batch_size=1, width=4, seed=1),
                  images=str(DATA / "style" / "content"))
    return str(path)
