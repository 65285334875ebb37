"""Nothing lost, nothing crashes (issue 16): hostile names and texts, streaming stdin,
early output checks, one writer per output, checked model folders and archives,
signals. Each test goes through the real command line."""

import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from conftest import PHOTOS, ROOT, need

PRETRAINED = ROOT / "pretrained"


def _interruptible() -> None:
    # A job started in the background by a non-interactive shell (a CI script run with
    # `&`) inherits SIGINT ignored, and Python then leaves it ignored: the child gets the
    # default back, as a command typed in a terminal has it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _dlkit(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlkit", *map(str, args)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_interruptible, **kwargs)


def _read_line(stream, timeout: float) -> bytes:
    """One line from a pipe, or b"" if none comes within `timeout` seconds."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else b""


# ---- 1. markup in names and texts ------------------------------------------------------

def test_markup_in_a_bad_name_is_reported_and_the_batch_goes_on(cli_run):
    photo = need(PHOTOS / "chelsea.png")
    result, records, stderr = cli_run(["classify", "--json", "missing[/x].jpg", photo])
    assert result.exit_code == 1
    assert [r["input"] for r in records] == ["missing[/x].jpg", str(photo)]
    assert records[0]["error"].startswith("no such file") and records[1]["label"]
    assert "missing[/x].jpg: no such file" in stderr


@pytest.mark.slow
def test_markup_and_bad_bytes_in_texts_keep_every_record(cli_run):
    result, records, _ = cli_run(["sentiment", "--json", "-"], input=b"good film\ncaf\xe9 [/b]\nawful film\n")
    assert result.exit_code == 1
    assert [r.get("label") for r in records] == ["positive", None, "negative"]
    assert "not UTF-8" in records[1]["error"]
    noise = random.Random(0).randbytes(1 << 20)
    result, records, _ = cli_run(["sentiment", "--json", "-"], input=noise)
    assert len(records) == noise.count(b"\n") + (not noise.endswith(b"\n"))


# ---- 2. names that are not UTF-8 -------------------------------------------------------

def test_a_name_that_is_not_utf8_is_classified_and_shown_escaped(cli_run, tmp_path):
    photo = need(PHOTOS / "chelsea.png")
    folder = tmp_path / "d"
    folder.mkdir()
    shutil.copy(photo, folder / os.fsdecode(b"bad\xff.png"))
    shutil.copy(photo, folder / "ok.png")
    result, records, _ = cli_run(["classify", "--json", folder])
    assert result.exit_code == 0
    assert [Path(r["input"]).name for r in records] == ["bad\\xff.png", "ok.png"]
    assert records[0]["label"] == records[1]["label"]


# ---- 3. stdin is streamed --------------------------------------------------------------

@pytest.mark.slow
def test_classify_answers_the_first_path_before_stdin_closes():
    photo = need(PHOTOS / "chelsea.png")
    process = _dlkit("classify", "--json", "-")
    try:
        process.stdin.write(f"{photo}\n".encode())
        process.stdin.flush()
        first = _read_line(process.stdout, timeout=180)  # TensorFlow's start-up included
        assert first, "no record while stdin was still open"
        assert json.loads(first)["input"] == str(photo)
        process.stdin.write(f"{photo}\n".encode())
        process.stdin.close()
        rest = process.stdout.read().splitlines()
        assert len(rest) == 1 and process.wait(60) == 0
    finally:
        process.kill()


# ---- 4. outputs checked before any work ------------------------------------------------

def test_a_bad_output_is_refused_before_training(cli_run, tmp_path):
    photos = tmp_path / "photos"
    for label in ("a", "b"):
        (photos / label).mkdir(parents=True)
    result, _, stderr = cli_run(["train-classifier", photos, "-o", tmp_path / "m.h5"])
    assert result.exit_code == 1 and "must end in .keras" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]  # no checkpoint, no model


def test_a_bad_stylize_output_is_refused_before_the_optimisation(cli_run, tmp_path):
    photo = need(PHOTOS / "chelsea.png")
    for target, message in ((tmp_path / "out.gif", "unknown image format"), ("/proc/x.jpg", "cannot write")):
        result, _, stderr = cli_run(["stylize", photo, photo, "-o", target, "--iterations", "1000"])
        assert result.exit_code == 1 and message in stderr
        assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


# ---- 5. one training per output --------------------------------------------------------

def test_a_second_training_with_the_same_output_is_refused(cli_run, tmp_path):
    data = tmp_path / "train.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"good film {i}\t1\nbad film {i}\t0\n" for i in range(20)))
    target = tmp_path / "model"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from dlkit.core.files import OutputLock; "
         f"lock = OutputLock({str(target)!r}); print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result, _, stderr = cli_run(["train-sentiment", data, "-o", target, "--arch", "ngrams", "--epochs", "1"])
        assert result.exit_code == 1
        assert f"is being written by dlkit (pid {holder.pid})" in stderr
    finally:
        holder.kill()
        holder.wait()
    assert not target.exists()


# ---- 6. model folders are checked on load ----------------------------------------------

def _copy_shipped(name: str, tmp_path: Path) -> Path:
    source = need(PRETRAINED / name)
    target = tmp_path / name
    shutil.copytree(source, target)
    return target


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


@pytest.mark.slow
@pytest.mark.parametrize("breakage, message", [
    ("vocab-list", "vocab.json"),
    ("vocab-too-big", "vocab.json"),
    ("max-length", "max_length"),
    ("labels-swapped", "labels"),
])
def test_a_broken_sentiment_folder_gets_one_line(cli_run, tmp_path, breakage, message):
    folder = _copy_shipped("sentiment-sst2", tmp_path)
    if breakage == "vocab-list":
        _edit_json(folder / "vocab.json", lambda v: v["tokens"])
    elif breakage == "vocab-too-big":
        _edit_json(folder / "vocab.json", lambda v: {"tokens": v["tokens"] + [f"w{i}" for i in range(100_000)]})
    elif breakage == "max-length":
        _edit_json(folder / "config.json", lambda c: _set_everywhere(c, "max_length", -5))
    else:
        _edit_json(folder / "config.json", lambda c: {**c, "labels": list(reversed(c["labels"]))})
    result, records, stderr = cli_run(["sentiment", "--json", "--model", folder, "a fine film"])
    assert result.exit_code == 1 and records == []
    assert message in stderr and "Traceback" not in stderr
    assert len([line for line in stderr.splitlines() if line.strip()]) == 1


def _set_everywhere(data, key, value):
    """Sets `key` wherever it occurs in a nested config."""
    if isinstance(data, dict):
        return {k: (value if k == key else _set_everywhere(v, key, value)) for k, v in data.items()}
    return data


@pytest.mark.slow
def test_a_translator_config_with_batch_size_zero_is_refused(cli_run, tmp_path):
    folder = _copy_shipped("translator-en-fr", tmp_path)
    _edit_json(folder / "config.json", lambda c: _set_everywhere(c, "batch_size", 0))
    result, _, stderr = cli_run(["translate", "--model", folder, "Hello."])
    assert result.exit_code == 1
    assert "config.json" in stderr and "batch_size must be at least 1" in stderr


# ---- 7. archives that unpack to far more than their size -------------------------------

def test_a_model_archive_bomb_is_refused_before_unpacking(cli_run, tmp_path):
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"\0" * (256 << 20))
    photo = need(PHOTOS / "chelsea.png")
    result, _, stderr = cli_run(["classify", "--model", bomb, photo])
    assert result.exit_code == 1 and "refused, the archive unpacks" in stderr


# ---- 8. signals and small things -------------------------------------------------------

@pytest.mark.slow
def test_sigterm_during_a_batch_keeps_the_records_and_exits_143():
    process = _dlkit("sentiment", "--json", "-")
    try:
        process.stdin.write(b"a wonderful film\n")
        process.stdin.flush()
        first = _read_line(process.stdout, timeout=180)
        assert json.loads(first)["label"] == "positive"
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 143
        assert "terminated" in process.stderr.read().decode()
    finally:
        process.kill()


def test_ctrl_c_before_the_first_record_exits_130_with_one_line(tmp_path):
    need(PHOTOS)
    process = _dlkit("classify", "-")  # waits for paths on stdin (the light start-up takes about a second)
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    code = process.wait(60)
    stderr = process.stderr.read().decode()
    assert code == 130, stderr
    assert "interrupted" in stderr and "Aborted!" not in stderr and "Traceback" not in stderr


def test_folders_that_hold_nothing_are_reported(cli_run, tmp_path):
    (tmp_path / "x.jpg").mkdir()
    (tmp_path / "empty").mkdir()
    result, records, stderr = cli_run(["classify", "--json", tmp_path / "x.jpg", tmp_path / "empty"])
    assert result.exit_code == 1
    assert [Path(r["input"]).name for r in records] == ["x.jpg", "empty"]
    assert all("a folder with no files to read" in r["error"] for r in records)


def test_a_weight_that_is_not_a_number_is_refused(cli_run, tmp_path):
    photo = need(PHOTOS / "chelsea.png")
    result, _, stderr = cli_run(["stylize", photo, photo, "-o", tmp_path / "o.jpg", "--style-weight", "nan"])
    assert result.exit_code in (1, 2) and "style" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "o.jpg").exists()
