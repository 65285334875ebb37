"""`dlkit classify` on real photos with the MobileNetV2 ImageNet weights from ../shared/keras."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


CATS = {"tabby", "tiger_cat", "Persian_cat", "Siamese_cat", "Egyptian_cat"}


def test_real_photos_get_the_right_labels(cli_run, photos):
    result, records, _ = cli_run(["classify", photos / "chelsea.png", photos / "coffee.png"])
    assert result.exit_code == 0
    chelsea, coffee = records
    assert chelsea["input"].endswith("chelsea.png") and chelsea["label"] in CATS
    assert len(coffee["top"]) == 5
    assert {"espresso", "cup"} & {t["label"] for t in coffee["top"]}
    scores = [t["score"] for t in coffee["top"]]
    assert scores == sorted(scores, reverse=True) and coffee["score"] == scores[0]


def test_paths_from_stdin_and_folders(cli_run, photos):
    result, records, _ = cli_run(["classify", "-", "-k", "1"], input=f"{photos / 'chelsea.png'}\n")
    assert result.exit_code == 0 and [r["label"] in CATS for r in records] == [True]
    assert len(records[0]["top"]) == 1
    # a folder: its images only (its README .txt files are not picked up)
    result, records, _ = cli_run(["classify", photos, "-k", "1"])
    assert result.exit_code == 0
    assert len(records) == len([p for p in os.listdir(photos) if not p.endswith(".txt")])


def test_bad_items_are_reported_and_the_batch_goes_on(cli_run, photos, tmp_path):
    not_image = photos / "skimage_README.txt"
    truncated = tmp_path / "truncated.jpg"
    data = (photos / "rocket.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    deep = tmp_path / "chelsea16.png"  # 16-bit grey: must be scaled down, not clipped to white
    grey = np.asarray(Image.open(photos / "chelsea.png").convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(deep)
    assert Image.open(deep).mode.startswith("I")
    missing = tmp_path / "missing.jpg"

    args = ["classify", photos / "chelsea.png", not_image, truncated, deep, missing, photos / "coffee.png"]
    result, records, stderr = cli_run(args + ["--batch-size", "2"])
    assert result.exit_code == 1
    assert [r["input"] for r in records] == [str(a) for a in args[1:]]
    errors = {r["input"]: r["error"] for r in records if "error" in r}
    assert set(errors) == {str(not_image), str(truncated), str(missing)}
    assert "not an image" in errors[str(not_image)]
    assert "truncated" in errors[str(truncated)]
    assert errors[str(missing)] == "no such file"
    labels = {r["input"]: r["label"] for r in records if "label" in r}
    assert labels[str(photos / "chelsea.png")] in CATS
    assert str(deep) in labels  # 16-bit images are classified, not rejected
    assert stderr.count("error:") == 3 and "Traceback" not in stderr


def test_image_modes_load_as_rgb(photos, tmp_path):
    from dlkit.vision.images import load_image
    from dlkit.core.errors import ItemError

    rgb = Image.open(photos / "chelsea.png").convert("RGB")  # 451x300
    rgb.convert("CMYK").save(tmp_path / "cmyk.jpg")
    rgb.convert("P", palette=Image.ADAPTIVE).save(tmp_path / "palette.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    rgb.save(tmp_path / "rotated.jpg", exif=exif)
    for name in ["cmyk.jpg", "palette.png"]:
        array = load_image(str(tmp_path / name))
        assert array.shape == (300, 451, 3) and array.dtype == np.uint8
        assert abs(array.astype(float).mean() - np.asarray(rgb).mean()) < 12
    assert load_image(str(tmp_path / "rotated.jpg")).shape == (451, 300, 3)
    assert load_image(str(photos / "horse.png"), 64).shape == (64, 64, 3)  # RGBA on white
    assert load_image(str(photos / "horse.png")).mean() > 128
    with pytest.raises(ItemError, match="too large"):
        Image.new("L", (12000, 9000)).save(tmp_path / "huge.png")
        load_image(str(tmp_path / "huge.png"))


def test_table_output_in_a_terminal_style_run(cli_run, photos, tmp_path):
    result, records, _ = cli_run(["classify", photos / "chelsea.png", "--table", "-k", "2"])
    assert result.exit_code == 0 and records == []
    assert "┃ label" in result.stdout and "Egyptian_cat" in result.stdout
    # A path longer than its column is shortened from the left: its file name stays.
    deep = tmp_path / ("very-long-folder-name-" * 4) / "chelsea.png"
    deep.parent.mkdir()
    deep.write_bytes((photos / "chelsea.png").read_bytes())
    result, _, _ = cli_run(["classify", deep, "--table", "-k", "1"])
    cells = "".join(line.split("│")[1].strip() for line in result.stdout.splitlines() if "│" in line)
    assert "chelsea.png" in cells


def test_own_model_with_stored_class_names(cli_run, photos, tmp_path):
    from dlkit.core import layers, modelio
    from dlkit.core.runtime import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, layers.ClassNames(["light", "dark"])(x))
    path = tmp_path / "tiny.keras"
    modelio.save_model(model, str(path))
    assert os.listdir(tmp_path) == ["tiny.keras"]  # no temporary file left behind

    result, records, _ = cli_run(["classify", "--model", path, photos / "chelsea.png"])
    assert result.exit_code == 0
    assert records[0]["label"] in {"light", "dark"} and len(records[0]["top"]) == 2

    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    result, _, stderr = cli_run(["classify", "--model", broken, photos / "chelsea.png"])
    assert result.exit_code == 1 and "not a Keras model file" in stderr and "Traceback" not in stderr

    # stored class names that do not fit the outputs: a damaged model, refused on load
    wrong = tmp_path / "wrong.keras"
    modelio.save_model(keras.Model(inputs, layers.ClassNames(["a", "b", "c"])(x)), str(wrong))
    result, _, stderr = cli_run(["classify", "--model", wrong, photos / "chelsea.png"])
    assert result.exit_code == 1 and "names 3 classes but has 2 outputs" in stderr


def test_evaluate_gives_the_shared_classification_record(photos, tmp_path):
    """evaluate on class folders: dlkit.core.metrics.classification's record of the
    model's own predictions; a class neither in a folder nor predicted is left out, and
    the confusion-matrix PNG goes beside the model unless told where."""
    from dlkit.core import layers, modelio
    from dlkit.core.runtime import keras
    from dlkit.tasks.classifier import evaluate, load

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inputs, layers.ClassNames(["light", "dark", "never"])(dense(x)))
    dense.set_weights([np.array([[8.0, 0, 0], [0, 0, 0], [0, 0, 0]], np.float32),
                       np.array([-3.0, 0, -50], np.float32)])  # light when red is bright; never "never"
    path = tmp_path / "tiny.keras"
    modelio.save_model(model, str(path))
    data = tmp_path / "data"
    for name, files in [("light", ["coffee.png", "chelsea.png", "astronaut.png"]),
                        ("dark", ["camera.png", "coins.png", "hubble_deep_field.jpg", "horse.png"])]:
        (data / name).mkdir(parents=True)
        for file in files:
            (data / name / file).symlink_to(photos / file)

    metrics = evaluate(str(data), str(path))
    predicted = {r["input"]: r["label"] for r in load(str(path)).predict(
        [str(p) for name in ("light", "dark") for p in sorted((data / name).iterdir())])}
    truth = {p: os.path.basename(os.path.dirname(p)) for p in predicted}
    assert metrics["input"] == str(data) and metrics["model"] == str(path)
    assert metrics["examples"] == 7 and metrics["labels"] == ["light", "dark"]
    counts = [[sum(truth[p] == t and predicted[p] == q for p in truth) for q in ("light", "dark")]
              for t in ("light", "dark")]
    assert 0 < np.trace(counts) < 7 and counts[0] != counts[1]  # right and wrong answers: a telling matrix
    assert metrics["confusion_matrix"] == counts  # rows: the true class
    assert metrics["accuracy"] == round(sum(truth[p] == predicted[p] for p in truth) / 7, 6)
    assert {name: scores["support"] for name, scores in metrics["per_class"].items()} == {"light": 3, "dark": 4}
    assert set(metrics["per_class"]["light"]) == {"precision", "recall", "f1", "support"}
    assert metrics["per_class"]["dark"]["recall"] == round(counts[1][1] / 4, 6)
    assert 0 <= metrics["macro_f1"] <= 1 and 0 <= metrics["macro_precision"] <= 1 and 0 <= metrics["macro_recall"] <= 1
    assert metrics["confusion_plot"] == str(tmp_path / "tiny.confusion.png")
    assert (tmp_path / "tiny.confusion.png").stat().st_size > 1000

    elsewhere = tmp_path / "plots" / "pets.png"
    assert evaluate(str(data), load(str(path)), str(elsewhere))["confusion_plot"] == str(elsewhere)
    assert elsewhere.stat().st_size > 1000


def test_library_predictor_streams_records_like_the_cli(cli_run, photos):
    """load(None) is the ImageNet classifier; predict() answers plain paths in order."""
    from dlkit.tasks import classifier

    predictor = classifier.load(None, classifier.ClassifyConfig(top_k=2, batch_size=2))
    paths = [str(photos / "chelsea.png"), str(photos / "missing.png"), str(photos / "coffee.png")]
    records = list(predictor.predict(paths))
    assert [r["input"] for r in records] == paths
    assert records[1] == {"input": paths[1], "error": "no such file"}
    _, from_cli, _ = cli_run(["classify", "-k", "2", paths[0], paths[2]])
    assert [records[0], records[2]] == from_cli


@pytest.mark.slow
def test_weights_file_gives_the_same_predictions(cli_run, photos, tmp_path):
    from dlkit.vision import backbones

    path = tmp_path / "mnv2.weights.h5"
    backbones.build("mobilenet_v2").save_weights(str(path))
    _, from_cache, _ = cli_run(["classify", photos / "coffee.png"])
    _, from_file, _ = cli_run(["classify", "--weights", path, photos / "coffee.png"])
    assert from_file[0]["top"] == from_cache[0]["top"]


def test_other_backbones_build_and_preprocess():
    """No offline ImageNet weights exist for these, so their code paths run with weights=None."""
    from dlkit.vision import backbones

    for name in ["efficientnet_b0", "resnet50"]:
        model = backbones.build(name, include_top=False, input_size=64, weights=None, pooling="avg")
        x = backbones.get(name).preprocess(np.full((1, 64, 64, 3), 128.0, np.float32))
        assert model(x).shape[0] == 1


@pytest.mark.slow
def test_missing_weights_offline_names_the_file(photos, tmp_path):
    env = dict(os.environ, KERAS_HOME=str(tmp_path), https_proxy="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9")
    result = subprocess.run([sys.executable, "-m", "dlkit", "classify", "--backbone", "resnet50",
                             str(photos / "chelsea.png")], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "resnet50_weights_tf_dim_ordering_tf_kernels.h5" in result.stderr
    assert str(tmp_path / "models") in result.stderr and "Traceback" not in result.stderr


def test_shipped_models_are_checked_against_the_manifest(tmp_path, monkeypatch):
    from dlkit.core import files, modelio
    from dlkit.core.errors import DlkitError

    (tmp_path / "m.bin").write_bytes(b"weights")
    entry = {"name": "m", "file": "m.bin", "task": "demo", "sha256": files.sha256(str(tmp_path / "m.bin")),
             "metrics": {}, "source": "test"}
    files.write_json(str(tmp_path / "manifest.json"), {"models": [entry]})
    monkeypatch.setenv("DLKIT_PRETRAINED", str(tmp_path))
    assert modelio.pretrained_path("demo") == str(tmp_path / "m.bin")
    (tmp_path / "m.bin").write_bytes(b"tampered")
    with pytest.raises(DlkitError, match="damaged"):
        modelio.pretrained_path("demo")
    with pytest.raises(DlkitError, match="ships no model"):
        modelio.pretrained_path("other")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    from dlkit.core.files import atomic_path

    target = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(str(target)) as tmp:
            open(tmp, "w").write("half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_the_readme_first_command_answers_on_a_fresh_checkout_offline(tmp_path):
    """README.md's first command line, after its `pip install`, on a copy of what a clone
    holds (git's tracked files and those about to be: not ignored), in a light install
    (no TensorFlow) with no network and an empty Keras cache: a record for the example
    photo from each command, the cat named a cat. The photo, the shipped models and their
    twins must all be in the repository for this to pass."""
    import json
    import re
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    block = re.search(r"```bash\n(.*?)```", (root / "README.md").read_text(encoding="utf-8"), re.S).group(1)
    first = block.splitlines()[0].split("&&")
    commands = [part.split()[1:] for part in first if part.split()[0] == "dlkit"]
    assert commands and first[0].split()[:2] == ["pip", "install"]
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout.decode().split("\0")
    clone = tmp_path / "clone"
    for name in filter(None, listed):
        if (root / name).is_file():  # not a file deleted but not yet committed
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, clone / name)
    (tmp_path / "keras").mkdir()
    unreachable = "http://127.0.0.1:9"  # the discard port: nothing listens there
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "DLKIT_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(root / "tests" / "without_tensorflow"), str(clone)]),
           "https_proxy": unreachable, "http_proxy": unreachable, "HTTPS_PROXY": unreachable,
           "HTTP_PROXY": unreachable, "no_proxy": "", "NO_PROXY": ""}
    done = subprocess.run([sys.executable, "-c", "import sys, dlkit; assert dlkit.__file__.startswith(sys.argv[1])",
                           str(clone)], cwd=clone, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr  # the clone's dlkit runs, not the installed one
    for args in commands:
        done = subprocess.run([sys.executable, "-m", "dlkit", *args, "--json"], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        (record,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert record["input"] == "examples/cat.jpg"
        assert record.get("label") in CATS or "cat" in record.get("caption", "").lower().split()
    assert not list((tmp_path / "keras").rglob("*.h5"))  # nothing was downloaded, nor needed
