"""A first run without a network: an empty Keras cache (KERAS_HOME) and downloads that
cannot reach their server (a proxy on a closed local port, so the test means the same
on a machine that has a network). Each command runs as a user runs it, in its own
process: Keras reads KERAS_HOME once, when it is imported."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import DATA, need

import pytest

pytestmark = pytest.mark.slow  # fresh processes that start TensorFlow

MOBILENET = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"
MOBILENET_NO_TOP = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
CLASS_INDEX = "imagenet_class_index.json"
RESNET = "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


def _seeded(name: str) -> Path:
    """A file of the offline cache the tests run with (conftest seeds it)."""
    return need(Path(os.environ["KERAS_HOME"]) / "models" / name)


def _dlkit(home: Path, *args, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, KERAS_HOME=str(home), https_proxy=UNREACHABLE, http_proxy=UNREACHABLE,
               HTTPS_PROXY=UNREACHABLE, HTTP_PROXY=UNREACHABLE, no_proxy="", NO_PROXY="")
    return subprocess.run([sys.executable, "-m", "dlkit", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_offline_classify_needs_no_download_and_names_every_missing_file_once(tmp_path, photos):
    """The shipped MobileNetV2 twin labels a photo with an empty Keras cache and no
    network. Another network is converted on first use, from Keras' downloads: offline,
    one message names every file it needs once, with its URL (the advice once named the
    weights only, and a user who saved them hit a second error for the class names), and
    nothing reaches stdout (Keras announces a download there)."""
    home = tmp_path / "keras"
    home.mkdir()
    result = _dlkit(home, "classify", photos / "coffee.png", "--json")
    assert result.returncode == 0 and result.stdout.count("\n") == 1, result.stderr
    assert '"label": "espresso"' in result.stdout and not list(home.rglob("*.h5"))

    result = _dlkit(home, "classify", photos / "coffee.png", "--json", "--backbone", "resnet50")
    assert result.returncode == 1 and result.stdout == ""
    error = _one_error_line(result)
    for name in (RESNET, CLASS_INDEX):
        assert error.count(name) == 1, error
    assert f"https://storage.googleapis.com/tensorflow/keras-applications/resnet/{RESNET}" in error
    assert str(home / "models") in error

    # --weights PATH replaces the download of the weights, not the class names: the
    # message names the one file still missing; saving it is enough.
    weights = shutil.copyfile(_seeded(MOBILENET), tmp_path / MOBILENET)
    result = _dlkit(home, "classify", photos / "coffee.png", "--json", "--weights", weights)
    assert result.returncode == 1 and result.stdout == ""
    error = _one_error_line(result)
    assert CLASS_INDEX in error and MOBILENET not in error
    (home / "models").mkdir(exist_ok=True)
    shutil.copyfile(_seeded(CLASS_INDEX), home / "models" / CLASS_INDEX)
    result = _dlkit(home, "classify", photos / "coffee.png", "--json", "--weights", weights)
    assert result.returncode == 0 and result.stdout.count("\n") == 1, result.stderr
    assert '"label": "espresso"' in result.stdout


def test_a_download_that_works_reports_on_stderr_only(tmp_path):
    """Online, Keras' download line and progress still reach the user, on stderr."""
    code = (
        "import sys\n"
        "from dlkit.vision import backbones\n"
        f"backbones.CLASS_INDEX = ({CLASS_INDEX!r}, {_seeded(CLASS_INDEX).as_uri()!r}, backbones.CLASS_INDEX[2])\n"
        "print(len(backbones.imagenet_labels()), file=sys.stderr)\n"
    )
    home = tmp_path / "keras"
    env = dict(os.environ, KERAS_HOME=str(home))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "Downloading data from file://" in result.stderr and "1000" in result.stderr
    assert (home / "models" / CLASS_INDEX).exists()


def test_offline_stylize_offers_the_backbone_that_works(tmp_path):
    """stylize and train-stylizer have no --weights: the message offers --backbone
    mobilenet_v2 (with its URL when that is missing too), and that works offline."""
    style = need(DATA / "style")
    content, painting = style / "content" / "chelsea.png", style / "style" / "candy.jpg"
    home = tmp_path / "keras"
    home.mkdir()
    result = _dlkit(home, "train-stylizer", painting, "--images", style / "content", "-o", tmp_path / "s.keras")
    assert result.returncode == 1 and result.stdout == ""
    error = _one_error_line(result)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in error
    assert "--backbone mobilenet_v2, which needs only https://" in error and MOBILENET_NO_TOP in error
    assert "--weights" not in error
    assert sorted(os.listdir(tmp_path)) == ["keras"]  # no lock or checkpoint folder left behind

    (home / "models").mkdir(exist_ok=True)
    shutil.copyfile(_seeded(MOBILENET_NO_TOP), home / "models" / MOBILENET_NO_TOP)
    out = tmp_path / "out.jpg"
    result = _dlkit(home, "stylize", content, painting, "-o", out)
    error = _one_error_line(result)
    assert result.returncode == 1 and "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5" in error
    assert error.endswith("or pass --backbone mobilenet_v2, whose weights are there already.")
    result = _dlkit(home, "stylize", content, painting, "-o", out, "--backbone", "mobilenet_v2", "--size", "48",
                    "--iterations", "3", "--json")
    assert result.returncode == 0 and out.exists() and result.stdout.startswith("{"), result.stderr
