"""The conventions every command shares: help, version, inputs, output, errors."""

import io
import json
import os
import subprocess
import sys

import pytest

from dlkit.cli import output
from dlkit.core import inputs
from dlkit.core.errors import DlkitError


def test_help_lists_commands_without_importing_tensorflow():
    code = (
        "import sys\n"
        "from dlkit.cli import main\n"
        "sys.argv = ['dlkit', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('TF_LOADED' if 'tensorflow' in sys.modules else 'TF_NOT_LOADED')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "classify" in result.stdout and "info" in result.stdout
    assert "TF_NOT_LOADED" in result.stdout


def test_version(cli_run):
    result, _, _ = cli_run(["--version"])
    assert result.exit_code == 0 and "dlkit, version" in result.stdout


def test_expand_paths_globs_dirs_and_stdin(tmp_path):
    (tmp_path / "a").mkdir()
    for name in ["a/1.jpg", "a/2.PNG", "a/notes.txt", "b.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    found = list(inputs.iter_paths([str(tmp_path / "a"), str(tmp_path / "*.jpg"), "-", str(tmp_path / "none*.jpg")],
                                   stdin=io.BytesIO(f"{tmp_path / 'b.jpg'}\n\n".encode())))
    assert [i.value for i in found] == [str(tmp_path / "a/1.jpg"), str(tmp_path / "a/2.PNG"), str(tmp_path / "b.jpg"),
                                        str(tmp_path / "b.jpg"), str(tmp_path / "none*.jpg")]
    assert [i.error for i in found] == [None] * 4 + ["no such file, and no file matches it as a pattern"]
    with pytest.raises(DlkitError, match="none\\*.jpg: no such file, and no file matches"):
        inputs.expand_paths([str(tmp_path / "a"), str(tmp_path / "none*.jpg")])


def test_iter_texts_reports_bad_utf8_and_keeps_going():
    items = list(inputs.iter_texts(["hello", "-"], stdin=io.BytesIO(b"caf\xc3\xa9\n\xff bad\n\nlast")))
    assert [i.value for i in items] == ["hello", "café", "", "", "last"]
    assert items[2].error and "line 2 is not UTF-8" in items[2].error
    assert all(i.error is None for i in items if i is not items[2])


def test_output_json_lines_and_errors():
    stream = io.StringIO()
    out = output.Output(json_lines=None, stdout=stream)  # StringIO is not a terminal
    out.emit({"input": "a", "score": float("nan")})
    out.error("b", "broken")
    assert out.close() == 1
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines == [{"input": "a", "score": None}, {"input": "b", "error": "broken"}]


def test_output_table():
    stream = io.StringIO()
    out = output.Output(json_lines=False, stdout=stream, columns={"input": None, "label": None})
    out.emit({"input": "cat.jpg", "label": "tabby", "extra": 1})
    assert out.close() == 0
    table = stream.getvalue()
    assert "tabby" in table and "cat.jpg" in table and "extra" not in table


def test_info(cli_run):
    result, _, _ = cli_run(["info", "--device", "cpu"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1  # piped: one JSON line, as every command's records
    assert report["device"] == "cpu" and report["tensorflow"] and report["keras_cache"]
    assert report["strategy"] == "OneDeviceStrategy" and report["replicas"] == 1


@pytest.mark.slow
def test_info_reports_mirrored_replicas_over_logical_cpus():
    env = dict(os.environ, DLKIT_CPU_DEVICES="2")
    result = subprocess.run([sys.executable, "-m", "dlkit", "info", "--strategy", "mirrored", "--device", "cpu"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["strategy"] == "MirroredStrategy" and report["replicas"] == 2


def test_device_gpu_without_gpu_is_a_clear_error(cli_run):
    from dlkit.core.runtime import tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    result, _, stderr = cli_run(["info", "--device", "gpu"])
    assert result.exit_code == 1
    # inference's runtime is asked first: it has no CUDA provider on a machine without GPU
    assert "--device gpu: onnxruntime has no CUDA provider" in stderr and "Traceback" not in stderr


def test_console_script_runs_quietly(photos):
    """The installed `python -m dlkit` prints results only: no TensorFlow start-up noise."""
    result = subprocess.run([sys.executable, "-m", "dlkit", "classify", str(photos / "coffee.png"), "-k", "2"],
                            capture_output=True, text=True, env=os.environ)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["top"][0]["label"]
    assert result.stderr.strip() == ""


def test_a_table_at_80_columns_shows_every_file_name(cli_run, photos, tmp_path, monkeypatch):
    """The classify table used to squeeze the input column to nothing at 80 columns (and
    cut labels): long paths are now shortened from the left, long cells wrap, and a
    column that does not fit goes, named below the table."""
    folder = tmp_path / "a-folder-with-a-rather-long-name" / "holiday-photos-from-the-summer-of-2023"
    folder.mkdir(parents=True)
    names = ["chelsea.png", "coffee.png", "motorcycle_left.png", "skimage_README.txt"]
    for name in names:
        (folder / name).symlink_to(photos / name)
    monkeypatch.setenv("COLUMNS", "80")
    result, _, _ = cli_run(["classify", *(folder / n for n in names), "--table"])
    assert result.exit_code == 1  # the README is not an image
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    for name in names:
        assert any(name in line for line in lines), result.stdout
    assert "Egyptian_cat" in result.stdout and "espresso" in result.stdout  # labels whole
    assert "not an image" in result.stdout


def test_table_columns_fit_the_width():
    text = "a long review of a film that goes on and on about the acting, the plot and the music"
    widths = output.fit_columns({"input": [text], "label": ["positive"], "top": ["x" * 200]}, 40)
    assert list(widths) == ["input", "label"] and sum(widths.values()) + 3 * 2 + 1 <= 40  # the last column goes
    widths = output.fit_columns({"input": [text], "label": ["positive"], "top": ["x" * 200]}, 80)
    assert widths["label"] == len("positive") and sum(widths.values()) + 3 * 3 + 1 == 80  # the rest wraps
    assert output.shorten_path("/data/photos/holiday/chelsea.png", 21) == "…/holiday/chelsea.png"
    assert output.shorten_path("/data/photos/holiday/chelsea.png", 20) == "…/chelsea.png"  # at a folder boundary
    assert output.shorten_path(text, 20) == text  # a text wraps instead
    assert output.shorten_path("/data/flickr8k/", 12) == "…/flickr8k/"  # a folder's name counts as its file name


def test_one_wide_record_is_shown_a_field_a_line(monkeypatch):
    """A training's summary has a dozen fields: rather than leave some out, one record
    that does not fit across is shown down the page."""
    monkeypatch.setenv("COLUMNS", "80")
    stream = io.StringIO()
    out = output.Output(json_lines=False, stdout=stream)
    record = {"input": "flickr8k/", **{f"metric_{i}": 0.5 for i in range(12)}, "curves": "captioner.curves.png"}
    out.emit(record)
    out.close()
    lines = stream.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    for key in record:
        assert any(line.startswith(f"│ {key} ") for line in lines), stream.getvalue()


@pytest.mark.parametrize("args", [
    pytest.param(["classify", "{photos}/coffee.png", "{photos}/chelsea.png"], id="classify"),
    pytest.param(["sentiment", "a good film", "a dull film"], id="sentiment"),
    # gensim's analogy evaluation over 50,000 vectors: minutes on a busy machine
    pytest.param(["word2vec", "evaluate", "{data}/glove/glove.6B.50d.50k.bin"], id="word2vec-evaluate",
                 marks=pytest.mark.slow),
])
def test_a_closed_pipe_exits_0(args, data, photos):
    """`dlkit ... | head -n 1`: the reader has gone; the command stops quietly with 0."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first record: every write fails
    try:
        result = subprocess.run([sys.executable, "-m", "dlkit",
                                 *(a.format(photos=photos, data=data) for a in args)],
                                stdout=write, stderr=subprocess.PIPE, text=True, env=os.environ, timeout=300)
    finally:
        os.close(write)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


def test_info_in_a_light_install_names_inference_and_what_training_needs(light_run):
    code, records, stderr = light_run(["info"])
    assert code == 0, stderr
    assert records[0]["onnxruntime"] and "CPUExecutionProvider" in records[0]["inference_providers"]
    assert records[0]["tensorflow"] is None and "dlkit[train]" in records[0]["training"]
