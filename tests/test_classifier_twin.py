"""`dlkit classify` on ONNX Runtime: the twins of the ImageNet MobileNetV2 (shipped), of
classifiers trained here and of a multi-head model, against Keras on real photos, and
the command run where TensorFlow cannot be imported."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import PETS, PHOTOS, ROOT, class_slice, need

CATS = {"tabby", "tiger_cat", "Persian_cat", "Siamese_cat", "Egyptian_cat"}
# Scores of the two runtimes agree to this: ONNX Runtime fuses and reorders float32 work
# (measured: at most 4.4e-6 on the probabilities of 212 photos).
TOLERANCE = 1e-4


def _photos() -> list[str]:
    """The shared photos and a few cats and dogs."""
    shared = sorted(str(p) for p in need(PHOTOS).iterdir() if p.suffix != ".txt")
    pets = [str(p) for name in ("cats", "dogs") for p in sorted((need(PETS) / "validation" / name).iterdir())[:4]]
    return shared + pets


def _same_records(light: list[dict], heavy: list[dict]) -> None:
    """The same labels; every score within TOLERANCE."""
    assert len(light) == len(heavy)
    for a, b in zip(light, heavy):
        assert a.keys() == b.keys() and a["input"] == b["input"]
        for key, value in b.items():
            if isinstance(value, float):
                assert abs(a[key] - value) <= TOLERANCE, (key, a, b)
            elif key == "top":
                assert [t["label"] for t in a[key]] == [t["label"] for t in value]
                assert max(abs(s["score"] - t["score"]) for s, t in zip(a[key], value)) <= TOLERANCE
            elif key.endswith("_scores"):
                assert a[key].keys() == value.keys()
                assert max(abs(a[key][k] - value[k]) for k in value) <= TOLERANCE
            else:
                assert a[key] == value, (key, a, b)


@pytest.mark.slow
def test_the_shipped_imagenet_twin_labels_photos_as_keras_does():
    from dlkit.tasks import classifier

    paths = _photos()
    light = classifier.load(None, classifier.ClassifyConfig(top_k=5))
    heavy = classifier.load(None, classifier.ClassifyConfig(top_k=5), runtime="keras")
    assert light.input_size == heavy.input_size == 224 and light.labels == heavy.labels
    _same_records(list(light.predict(paths)), list(heavy.predict(paths)))
    # the probabilities themselves, every class
    from dlkit.vision.images import load_image

    images = np.stack([load_image(p, 224) for p in paths])
    assert np.abs(light.outputs(images) - heavy.outputs(images)).max() <= TOLERANCE


def test_imagenet_classify_runs_without_tensorflow(light_run, monkeypatch, tmp_path):
    chelsea = need(PHOTOS / "chelsea.png")
    code, records, stderr = light_run(["classify", "--json", "-k", "3", chelsea, tmp_path / "missing.jpg"])
    assert code == 1 and records[0]["label"] in CATS and len(records[0]["top"]) == 3, stderr
    assert records[1] == {"input": str(tmp_path / "missing.jpg"), "error": "no such file"}

    # another backbone has no twin yet: converting it needs TensorFlow, said in one line
    code, _, stderr = light_run(["classify", "--backbone", "resnet50", chelsea])
    assert code == 1 and "needs TensorFlow" in stderr and "dlkit[train]" in stderr
    assert stderr.strip().count("\n") == 0 and "Traceback" not in stderr

    # a damaged shipped twin is refused, not run
    shipped = tmp_path / "pretrained"
    shutil.copytree(ROOT / "pretrained", shipped)
    with open(shipped / "mobilenet_v2" / "model.onnx", "r+b") as f:
        f.seek(1000)
        f.write(b"\0" * 16)
    monkeypatch.setenv("DLKIT_PRETRAINED", str(shipped))
    code, records, stderr = light_run(["classify", chelsea])
    assert code == 1 and records == [] and "damaged" in stderr and "Traceback" not in stderr


def test_the_classify_modules_import_no_tensorflow():
    code = ("import sys, dlkit.tasks.classifier.predict, dlkit.tasks.classifier.classify; "
            "print([m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


@pytest.fixture(scope="module")
def lenet(mnist, tmp_path_factory):
    """A LeNet-5 trained by train-classifier on 20 digits a class (its twin beside it),
    and ten unseen digits."""
    from dlkit.core.training import TrainConfig
    from dlkit.tasks import classifier

    out = tmp_path_factory.mktemp("lenet")
    data = class_slice(mnist / "train", out / "train", 20)
    model = out / "lenet.keras"
    classifier.train(str(data), str(model), classifier.TrainClassifierConfig(arch="lenet5", augment=False, epochs=2),
                     TrainConfig(seed=1))
    unseen = [str(sorted((mnist / "test" / str(d)).iterdir())[0]) for d in range(10)]
    return model, unseen


def test_train_classifier_writes_a_checked_twin_that_classifies_without_tensorflow(lenet, light_run):
    from dlkit.core import twins
    from dlkit.tasks import classifier

    model, digits = lenet
    graph = twins.Graph(str(model.with_suffix(".onnx")))
    assert graph.metadata["labels"] == [str(d) for d in range(10)] and graph.metadata["input_size"] == 28
    assert graph.metadata["max_difference"] <= graph.metadata["tolerance"]
    heavy = list(classifier.load(str(model), runtime="keras").predict(digits))
    light = list(classifier.load(str(model)).predict(digits))
    _same_records(light, heavy)
    code, records, stderr = light_run(["classify", "--json", "--model", model, *digits])
    assert code == 0, stderr
    _same_records(records, heavy)


def test_a_model_without_a_twin_is_converted_once_where_tensorflow_is(light_run, tmp_path):
    """A plain Keras Sequential (no ClassNames) written before twins existed: refused in
    one line without TensorFlow, converted on first use with it, then light."""
    from dlkit.core import modelio
    from dlkit.core.runtime import keras
    from dlkit.tasks import classifier

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])
    path = tmp_path / "plain.keras"
    modelio.save_model(model, str(path))
    photos = [need(PHOTOS / "chelsea.png"), PHOTOS / "coffee.png"]
    code, records, stderr = light_run(["classify", "--model", path, *photos])
    assert code == 1 and records == [] and "needs TensorFlow" in stderr and stderr.strip().count("\n") == 0
    assert not (tmp_path / "plain.onnx").exists()

    heavy = list(classifier.load(str(path), runtime="keras").predict(map(str, photos)))
    assert list(classifier.load(str(path)).predict(map(str, photos)))  # converted here, beside the model
    assert (tmp_path / "plain.onnx").exists()
    code, records, stderr = light_run(["classify", "--json", "--model", path, *photos])
    assert code == 0, stderr
    assert {t["label"] for t in records[0]["top"]} == {"class_0", "class_1", "class_2"}
    _same_records(records, heavy)

    # retrained since: the twin is older than its model and is made again
    model.layers[-1].set_weights([w + 1 for w in model.layers[-1].get_weights()])
    modelio.save_model(model, str(path))
    code, _, stderr = light_run(["classify", "--model", path, *photos])
    assert code == 1 and "no current ONNX twin" in stderr


@pytest.mark.slow
def test_a_multi_head_twin_maps_its_outputs_to_the_heads(mnist, tmp_path, light_run):
    """The model answers a dict in the CSV's order ("digit", then "big") and Keras' ONNX
    export would order it by name: the twin's outputs are a list in the order its
    metadata lists the heads, and each head's record (3 classes; 1 label) matches Keras'."""
    import csv

    from dlkit.core import twins
    from dlkit.core.training import TrainConfig
    from dlkit.tasks import classifier

    rows = [[f"{d}/{name}", str(d % 3), "big" if d >= 5 else ""]
            for d in range(10) for name in sorted(os.listdir(mnist / "train" / str(d)))[:4]]
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([["image", "digit", "big"], *rows])
    model = tmp_path / "heads.keras"
    classifier.train(str(mnist / "train"), str(model),
                     classifier.TrainClassifierConfig(image_size=32, weights=None, epochs=2, augment=False),
                     TrainConfig(seed=1), labels=str(tmp_path / "labels.csv"))
    heads = twins.Graph(str(tmp_path / "heads.onnx")).metadata["heads"]
    assert [h["name"] for h in heads] == ["big", "digit"] and [h["multi"] for h in heads] == [True, False]
    assert heads[0]["names"] == ["big"] and len(heads[0]["thresholds"]) == 1 and heads[1]["names"] == ["0", "1", "2"]

    digits = [str(p) for d in range(10) for p in sorted((mnist / "test" / str(d)).iterdir())[:1]]
    heavy = list(classifier.load(str(model), runtime="keras").predict(digits))
    _same_records(list(classifier.load(str(model)).predict(digits)), heavy)
    code, records, stderr = light_run(["classify", "--json", "--model", model, *digits])
    assert code == 0, stderr
    _same_records(records, heavy)
    assert set(records[0]) == {"input", "digit", "digit_score", "big", "big_scores"}
