"""The contract every registered task keeps: one name, a Config that validates and
round-trips through a model folder, the standard commands with the shared options, and
a predictor that streams one record per item, in order, with an error record for a bad
item. It runs over dlkit.tasks' registry, so a new task is covered by registering it."""

import dataclasses
import io
import json

import click
import numpy as np
import pytest
from conftest import PETS, PHOTOS, ROOT, class_slice, need, tiny_stylizer

from dlkit import tasks
from dlkit.core import config as settings
from dlkit.core.inputs import iter_paths, iter_texts
from dlkit.core.task import entry

DESCRIBED = tasks.described()
PREDICTORS = tasks.predictors()


def _options(command: click.Command) -> set[str]:
    return {flag for param in command.params for flag in getattr(param, "opts", ())}


def _command(name: str) -> click.Command:
    from dlkit.cli import cli

    return cli.get_command(click.Context(cli), name)


def test_one_name_per_task():
    """The package, its recipe folder, its test file and the manifest use the task's name."""
    for name, task in DESCRIBED.items():
        assert task.name == name
        assert (ROOT / "dlkit" / "tasks" / name).is_dir()
        assert list((ROOT / "tests").glob(f"test_{name}*.py")), f"no tests/test_{name}*.py"
        if task.train:
            assert (ROOT / "tasks" / name / "README.md").is_file(), f"no tasks/{name}/README.md"
    manifest = json.loads((ROOT / "pretrained" / "manifest.json").read_text())
    assert {entry_["task"] for entry_ in manifest["models"]} <= set(DESCRIBED)


@pytest.mark.parametrize("name", [n for n, t in DESCRIBED.items() if t.config is not None])
def test_config_validates_and_round_trips_through_a_model_folder(name, tmp_path):
    config_class = DESCRIBED[name].config
    config = settings.validate(config_class())
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
    again = settings.load(config_class, json.loads((tmp_path / "config.json").read_text()), "config.json")
    assert again == config
    bounded = next(f for f in dataclasses.fields(config_class) if f.metadata.get("min") is not None)
    broken = {**dataclasses.asdict(config), bounded.name: bounded.metadata["min"] - 1}
    with pytest.raises(Exception, match=f"config.json: {bounded.name}"):
        settings.load(config_class, broken, "config.json")


@pytest.mark.parametrize("name", list(DESCRIBED))
def test_commands_exist_with_the_shared_options(name):
    task = DESCRIBED[name]
    for command_name in task.command_table():
        assert _command(command_name) is not None, command_name
    if task.train:
        options = _options(_command(task.train.command))
        assert {"-o", "--output", "--seed", "--resume", "--strategy", "--workdir", "--device", "--json",
                "--quiet"} <= options
        if task.train.keras:
            assert {"--precision", "--jit", "--checkpoint-steps"} <= options
        if task.train.patience is not None:  # trained by epochs
            assert {"--epochs", "--patience"} <= options
        assert not {"--lr", "--dim", "--val-fraction", "--text-col"} & {
            o for p in _command(task.train.command).params if not getattr(p, "hidden", False) for o in p.opts}
    for spec in task.predict:
        if spec.cli:
            assert {"--model", "--engine", "--workers", "--json", "--device"} <= _options(_command(spec.command))
    if task.evaluate:
        assert {"--model", "--json"} <= _options(_command(task.evaluate.command))


def _inputs(spec):
    """Two good items around a bad one, as the commands read them: a missing photo, a
    line of stdin that is not UTF-8."""
    if spec.inputs == "images":
        return list(iter_paths([str(PHOTOS / "chelsea.png"), str(PHOTOS / "no-such-photo.jpg"),
                                str(PHOTOS / "coffee.png")]))
    lines = b"The river flooded the town of Lafayette.\n\xff\xfe [b]\nWhat a wonderful film.\n"
    return list(iter_texts(["-"], stdin=io.BytesIO(lines)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist):
    """{command: model path} for the predictors whose task ships no model: each trained
    here in seconds (a two-step stylizer, a Sobel SVM, a one-epoch autoencoder)."""
    from dlkit.core.training_config import TrainConfig
    from dlkit.tasks import autoencoder, svm

    out = tmp_path_factory.mktemp("trained")
    svm.train(str(class_slice(PETS / "train", out / "pets", 6)), str(out / "svm"),
              features=svm.FeaturesConfig(backbone="sobel"))
    autoencoder.train([str(class_slice(mnist / "train", out / "digits", 10))], str(out / "ae.keras"),
                      autoencoder.Config(epochs=1), TrainConfig(seed=1))
    return {"stylize": tiny_stylizer(out / "tiny.keras"), "predict-svm": str(out / "svm"),
            "reconstruct": str(out / "ae.keras")}


@pytest.mark.slow
@pytest.mark.parametrize("command", list(PREDICTORS))
def test_predictor_streams_one_record_per_item_in_order(command, trained):
    """Every registered predictor, as the command line, the server and Ray load it."""
    _, spec = PREDICTORS[command]
    need(PHOTOS)
    items = _inputs(spec)
    records = list(entry(spec.load)(path=trained.get(command)).predict(items))
    assert [r["input"] for r in records] == [item.input for item in items]
    assert "error" in records[1] and "error" not in records[0] and "error" not in records[2]


@pytest.mark.slow
@pytest.mark.parametrize("command", list(PREDICTORS))
def test_every_inference_command_runs_without_tensorflow(command, trained, light_run, tmp_path):
    """Each predict command in a subprocess where importing tensorflow, keras or tf2onnx
    fails, as in the light install: the same records (two good, one error, in order) on
    the models' ONNX twins."""
    _, spec = PREDICTORS[command]
    need(PHOTOS)
    model = ["--model", trained[command]] if command in trained else []
    side = ["-o", tmp_path / "out"] if command == "stylize" else []  # stylize writes pictures
    if command == "extract-features":  # writes a features file, and names the bad image on stderr
        code, _, stderr = light_run([command, PHOTOS / "chelsea.png", PHOTOS / "no-such-photo.jpg",
                                     PHOTOS / "coffee.png", "-o", tmp_path / "f.npz"])
        assert code == 1 and "no-such-photo.jpg" in stderr and "Traceback" not in stderr, stderr
        with np.load(tmp_path / "f.npz") as saved:
            assert len(saved["features"]) == 2
        return
    if spec.inputs == "images":
        inputs = [PHOTOS / "chelsea.png", PHOTOS / "no-such-photo.jpg", PHOTOS / "coffee.png"]
        code, records, stderr = light_run([command, *inputs, *model, *side, "--json"])
    else:
        lines = b"The river flooded the town of Lafayette.\n\xff\xfe [b]\nWhat a wonderful film.\n"
        code, records, stderr = light_run([command, "-", *model, "--json"], input=lines)
    assert code == 1, stderr  # the bad item
    assert len(records) == 3 and "error" in records[1], stderr
    assert "error" not in records[0] and "error" not in records[2], records
    assert "Traceback" not in stderr
