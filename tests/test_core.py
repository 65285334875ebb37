"""The shared core: settings declared once, streaming inputs, the Predictor's records,
safe output, early output checks, locks and model-archive limits. No TensorFlow here
except where a test loads a model."""

import dataclasses
import io
import os
import threading
import time
import zipfile
from dataclasses import dataclass

import click
import pytest
from click.testing import CliRunner

from dlkit.cli.output import Output
from dlkit.core import config as settings
from dlkit.core import files, inputs
from dlkit.core.config import from_params, options, setting
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.task import Predictor


@dataclass
class Demo:
    # why each default is what it is: the comments a Config keeps
    units: int = setting(64, "Units per direction.", min=1)
    rate: float | None = setting(None, "Learning rate.", flags=("--lr",), min=0, min_open=True)
    arch: str = setting("lstm", "Cell.", choices=("lstm", "gru"))
    attention: bool = setting(True, "Attend.")
    widths: tuple[int, ...] = setting((3, 4), "Filter widths.")
    batch_size: int = setting(32, "Batch.", flags=("-b", "--batch-size"), min=1)
    derived: int = setting(0, cli=False)
    towns: int = setting(15000, "Smallest towns.", choices=(5000, 15000))


def _command(config_class):
    seen = {}

    @click.command()
    @options(config_class)
    def command(**params):
        seen["config"] = from_params(config_class, params)
        seen["rest"] = params

    return command, seen


def test_config_fields_become_options_and_come_back():
    command, seen = _command(Demo)
    result = CliRunner().invoke(command, ["--units", "8", "--lr", "0.5", "--arch", "gru", "--no-attention",
                                          "--widths", "5,7", "-b", "4", "--towns", "5000"])
    assert result.exit_code == 0, result.output
    assert seen["config"] == Demo(units=8, rate=0.5, arch="gru", attention=False, widths=(5, 7), batch_size=4,
                                  towns=5000)  # a number chosen among numbers comes back a number
    assert seen["rest"] == {}
    help_text = CliRunner().invoke(command, ["--help"]).output
    assert "Units per direction." in help_text and "[default: 64; x>=1]" in help_text
    assert "--derived" not in help_text  # cli=False
    assert CliRunner().invoke(command, ["--units", "0"]).exit_code == 2
    assert CliRunner().invoke(command, ["--arch", "rnn"]).exit_code == 2


def test_adding_a_field_to_a_config_adds_its_option():
    extended = dataclasses.make_dataclass(
        "Extended", [("warmup", int, setting(2, "Warm-up epochs.", min=0))], bases=(Demo,))
    command, seen = _command(extended)
    assert "--warmup" in CliRunner().invoke(command, ["--help"]).output
    assert CliRunner().invoke(command, ["--warmup", "5"]).exit_code == 0
    assert seen["config"].warmup == 5 and seen["config"].units == 64


def test_validate_names_the_field_and_the_file():
    with pytest.raises(DlkitError, match="--units must be a finite number|--units must be an int"):
        settings.validate(Demo(units=float("nan")))
    with pytest.raises(DlkitError, match=r"--lr must be above 0"):
        settings.validate(Demo(rate=0.0))
    with pytest.raises(DlkitError, match=r"m/config.json: batch_size must be at least 1, not 0"):
        settings.load(Demo, {"batch_size": 0}, "m/config.json")
    with pytest.raises(DlkitError, match=r"arch must be one of lstm, gru"):
        settings.load(Demo, {"arch": "rnn"}, "m/config.json")
    with pytest.raises(DlkitError, match="expected a JSON object"):
        settings.load(Demo, ["units"], "m/config.json")
    # keys from older versions are ignored, JSON lists become tuples
    assert settings.load(Demo, {"widths": [1], "gone": 3}, "m").widths == (1,)


class Doubler(Predictor):
    batch_size = 3

    def __init__(self):
        self.batches = []

    def predict_batch(self, values):
        self.batches.append(list(values))
        return [ItemError("odd one out") if v == "bad" else {"double": v * 2} for v in values]


def test_predictor_gives_one_record_per_item_in_order():
    items = ["a", inputs.Item("line 2", "", "line 2 is not UTF-8"), "bad", "b", "c"]
    records = list(Doubler().predict(items))
    assert records == [{"input": "a", "double": "aa"}, {"input": "line 2", "error": "line 2 is not UTF-8"},
                       {"input": "bad", "error": "odd one out"}, {"input": "b", "double": "bb"},
                       {"input": "c", "double": "cc"}]


def test_a_slow_producer_gets_answers_before_its_input_ends():
    """A batch closes when input pauses: the first record arrives while the producer is
    still waiting to send the rest."""
    released = threading.Event()

    def producer():
        yield "first"
        released.wait(10)
        yield "second"

    predictor = Doubler()
    stream = predictor.predict(producer(), idle=0.05)
    started = time.monotonic()
    first = next(stream)
    assert first == {"input": "first", "double": "firstfirst"} and not released.is_set()
    assert time.monotonic() - started < 5
    released.set()
    assert list(stream) == [{"input": "second", "double": "secondsecond"}]


def test_stdin_lines_are_read_as_they_come_and_bad_lines_become_errors():
    stream = io.BytesIO(b"good\ncaf\xe9\n" + b"x" * (inputs.MAX_LINE_BYTES + 10) + b"\nlast\n")
    items = list(inputs.iter_texts(["-"], stdin=stream))
    assert [i.value for i in items if not i.error] == ["good", "last"]
    assert [i.error for i in items if i.error] == [
        "line 2 is not UTF-8 (unexpected end of data at byte 3)",
        f"line 3 is longer than {inputs.MAX_LINE_BYTES:,} bytes"]
    assert items[1].input == "caf\\xe9"


def test_paths_with_hostile_names_are_opened_and_shown_escaped(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    bad = os.fsdecode(b"bad\xff.jpg")
    (folder / bad).write_bytes(b"x")
    (folder / "ok.jpg").write_bytes(b"x")
    (tmp_path / "x.jpg").mkdir()  # a folder with an image's name
    (tmp_path / "empty").mkdir()
    items = list(inputs.iter_paths([str(folder), str(tmp_path / "x.jpg"), str(tmp_path / "empty"),
                                    str(tmp_path / "no*.png")]))
    assert [os.path.basename(i.input) for i in items[:2]] == ["bad\\xff.jpg", "ok.jpg"]
    assert os.path.exists(items[0].value)  # the real name, to open
    assert [i.error for i in items[2:]] == [items[2].error, items[3].error, "no such file, and no file matches it as a pattern"]
    assert all("a folder with no files to read" in i.error for i in items[2:4])
    # paths on stdin: bytes, so a name that is not UTF-8 still opens
    stdin_items = list(inputs.iter_paths(["-"], stdin=io.BytesIO(os.fsencode(items[0].value) + b"\n\n")))
    assert [i.value for i in stdin_items] == [items[0].value]


def test_records_and_messages_are_not_read_as_markup():
    stdout, stderr = io.StringIO(), io.StringIO()
    from rich.console import Console

    out = Output(json_lines=True, stdout=stdout, stderr=Console(file=stderr))
    out.error("missing[/x].jpg", "no such file [bold]")
    out.emit({"input": "caf\u00e9 [/b]", "label": "ok"})
    assert out.close() == 1
    assert stdout.getvalue().splitlines()[1] == '{"input": "café [/b]", "label": "ok"}'
    assert "missing[/x].jpg: no such file [bold]" in stderr.getvalue()
    table = io.StringIO()
    tabled = Output(json_lines=False, stdout=table)
    tabled.emit({"input": "[/i] odd", "label": "[red]x"})
    tabled.close()
    assert "[/i] odd" in table.getvalue() and "[red]x" in table.getvalue()


def test_outputs_are_checked_before_any_work(tmp_path):
    assert files.check_output(str(tmp_path / "new" / "m.keras"), (".keras",)) == str(tmp_path / "new" / "m.keras")
    with pytest.raises(DlkitError, match=r"must end in \.keras"):
        files.check_output(str(tmp_path / "m.h5"), (".keras",))
    with pytest.raises(DlkitError, match="cannot write"):
        files.check_output("/proc/x.jpg", (".jpg",))
    with pytest.raises(DlkitError, match="cannot write"):  # a folder that could not be made there either
        files.check_output("/proc/[b]new[/b]/x.jpg", (".jpg",))
    (tmp_path / "taken").mkdir()
    with pytest.raises(DlkitError, match="must be a file"):
        files.check_output(str(tmp_path / "taken"))


def test_a_second_writer_of_the_same_output_is_refused(tmp_path):
    """The lock is held by another process: a second run is refused with its pid."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dlkit.core.files import OutputLock; "
         f"lock = OutputLock({str(tmp_path / 'm.keras')!r}); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DlkitError, match=rf"being written by dlkit \(pid {holder.pid}\)"):
            files.OutputLock(str(tmp_path / "m.keras"))
    finally:
        holder.kill()
        holder.wait()
    files.OutputLock(str(tmp_path / "m.keras")).release()  # a killed holder leaves no lock behind
    assert not (tmp_path / "m.keras.lock").exists()


def test_atomic_path_leaves_nothing_when_interrupted(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_path(str(target)) as tmp:
            open(tmp, "w").write("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_classification_scores_a_hand_counted_example(tmp_path):
    """truth a a a b b c, predicted a b c b b c, in the label order c a b (d never occurs):
    a: precision 1/1, recall 1/3, F1 1/2; b: 2/3, 2/2, 4/5; c: 1/2, 1/1, 2/3."""
    from dlkit.core import metrics

    record = metrics.classification(list("aaabbc"), list("abcbbc"), ["c", "a", "b", "d"])
    assert record["labels"] == ["c", "a", "b", "d"] and record["examples"] == 6
    assert record["confusion_matrix"] == [[1, 0, 0, 0],  # rows: the true label, in "labels" order
                                          [1, 1, 1, 0],
                                          [0, 0, 2, 0],
                                          [0, 0, 0, 0]]
    assert record["per_class"] == {
        "c": {"precision": 0.5, "recall": 1.0, "f1": 0.666667, "support": 1},
        "a": {"precision": 1.0, "recall": 0.333333, "f1": 0.5, "support": 3},
        "b": {"precision": 0.666667, "recall": 1.0, "f1": 0.8, "support": 2},
        "d": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}}
    assert record["accuracy"] == 0.666667
    assert record["macro_f1"] == 0.655556  # (1/2 + 4/5 + 2/3) / 3: d, absent, has nothing to score
    assert metrics.macro(record, "precision") == 0.722222 and metrics.macro(record, "recall") == 0.777778
    assert "confusion_plot" not in record

    # labels that occur nowhere can be left out; labels met but not named are added
    assert metrics.classification(list("aaabbc"), list("abcbbc"), ["c", "a", "b", "d"],
                                  keep_absent=False)["labels"] == ["c", "a", "b"]
    unnamed = metrics.classification(["a", "a"], ["a", "z"], ["a"])
    assert unnamed["labels"] == ["a", "z"] and unnamed["confusion_matrix"] == [[1, 1], [0, 0]]
    empty = metrics.classification([], [], ["a", "b"])
    assert empty["examples"] == 0 and empty["accuracy"] == 0.0 and empty["confusion_matrix"] == [[0, 0], [0, 0]]

    # the picture goes to its own key, written atomically; the matrix stays numbers
    plot = tmp_path / "out" / "confusion.png"
    drawn = metrics.classification(list("aaabbc"), list("abcbbc"), ["c", "a", "b"], plot=str(plot), title="t")
    assert drawn["confusion_plot"] == str(plot) and drawn["confusion_matrix"][1] == [1, 1, 1]
    assert plot.stat().st_size > 1000 and os.listdir(plot.parent) == ["confusion.png"]


def test_the_metrics_module_imports_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from dlkit.core import metrics; metrics.classification(['a'], ['b'], ['a', 'b']); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_class_names_layers_saved_as_the_old_label_head_still_load(tmp_path):
    """Multi-task heads were ClassNames' copy LabelHead ("dlkit>LabelHead" in model files
    saved before they were merged): such a file loads in safe mode, as ClassNames."""
    import json

    import numpy as np

    from dlkit.core import layers, modelio
    from dlkit.core.runtime import keras

    inputs = keras.Input((4,))
    digit = keras.layers.Dense(3, activation="softmax")(inputs)
    tags = keras.layers.Dense(2, activation="sigmoid")(inputs)
    model = keras.Model(inputs, {"digit": layers.ClassNames(["0", "1", "2"], name="digit")(digit),
                                 "tags": layers.ClassNames(["even", "odd"], True, [0.3, 0.6], name="tags")(tags)})
    new = tmp_path / "new.keras"
    modelio.save_model(model, str(new))
    with zipfile.ZipFile(new) as archive:
        config = json.loads(archive.read("config.json"))
        parts = {name: archive.read(name) for name in archive.namelist()}
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "ClassNames":  # as dlkit.tasks.classifier.layers wrote it
            layer.update(class_name="LabelHead", module="dlkit.tasks.classifier.layers",
                         registered_name="dlkit>LabelHead")
            layer["config"].setdefault("multi", False)
            layer["config"].setdefault("thresholds", None)
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(old, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, json.dumps(config) if name == "config.json" else data)
    assert b"dlkit>LabelHead" in zipfile.ZipFile(old).read("config.json")

    loaded = modelio.load_model(str(old))
    heads = {layer.name: layer for layer in loaded.layers if isinstance(layer, layers.ClassNames)}
    assert (heads["digit"].names, heads["digit"].multi, heads["digit"].thresholds) == (["0", "1", "2"], False, None)
    assert (heads["tags"].names, heads["tags"].multi, heads["tags"].thresholds) == (["even", "odd"], True, [0.3, 0.6])
    x = np.random.default_rng(0).random((2, 4)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0)["tags"], model.predict(x, verbose=0)["tags"], atol=1e-6)
    assert layers.class_names(loaded) is None  # several heads: no one list of class names
    # a single-label model's file names no head settings, as before
    single = keras.Model(inputs, layers.ClassNames(["0", "1", "2"])(digit))
    saved = single.layers[-1].get_config()
    assert saved["names"] == ["0", "1", "2"] and "multi" not in saved and "thresholds" not in saved
    assert layers.class_names(single) == ["0", "1", "2"]


def test_a_model_archive_that_unpacks_to_far_more_than_its_size_is_refused(tmp_path):
    from dlkit.core import modelio

    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.weights.h5", b"\0" * (64 << 20))
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(DlkitError, match="refused, the archive unpacks"):
        modelio.load_model(str(bomb))
    many = tmp_path / "many.keras"
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(modelio.MAX_ARCHIVE_MEMBERS + 1):
            archive.writestr(f"f{i}", b"")
    with pytest.raises(DlkitError, match="holds 1,001 files"):
        modelio.load_model(str(many))
    (tmp_path / "plain.keras").write_text("not a zip")
    with pytest.raises(DlkitError, match="not a Keras model file"):
        modelio.load_model(str(tmp_path / "plain.keras"))


def test_any_bytes_as_path_names_give_one_printable_item_each():
    """Hypothesis: whatever bytes name a file on stdin, each non-blank line is one item
    whose `value` opens that very name and whose `input` can be written as JSON and shown."""
    import json

    pytest.importorskip("hypothesis")
    from hypothesis import assume, given, settings as hsettings, strategies as st

    names = st.lists(st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\n", b"_").replace(b"\0", b"_")),
                     min_size=1, max_size=8)

    @hsettings(max_examples=200, deadline=None)
    @given(names)
    def check(lines):
        # a name that is a folder ("." or "..") stands for the files in it: not this property
        assume(not any(os.path.isdir(os.fsdecode(line.strip())) for line in lines if line.strip()))
        items = list(inputs.iter_paths(["-"], stdin=io.BytesIO(b"\n".join(lines) + b"\n")))
        kept = [line.strip() for line in lines if line.strip()]
        assert [os.fsencode(i.value) for i in items] == kept
        for item in items:
            json.dumps({"input": item.input}, ensure_ascii=False).encode("utf-8")  # no lone surrogates
            assert item.input.isprintable()

    check()
