"""extract-features and predict-svm on ONNX Runtime: each kind of feature network's twin
against its Keras network on real photos, an SVM folder keeping its network's twin, and
the commands run where TensorFlow cannot be imported."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import PETS, PHOTOS, ROOT, class_slice, need

# Features of the two runtimes agree to this, relative to their largest value: ONNX
# Runtime fuses and reorders float32 work (measured: at most 6e-6 here).
TOLERANCE = 1e-4
# predict-svm rounds its scores to 4 decimals: equal scores may round one step apart.
SCORE_TOLERANCE = 1e-4 + 1e-9


def _photos() -> list[str]:
    shared = sorted(str(p) for p in need(PHOTOS).iterdir() if p.suffix != ".txt")
    return shared + [str(p) for name in ("cats", "dogs") for p in sorted((PETS / "validation" / name).iterdir())[:3]]


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(1.0, np.abs(b).max()))


@pytest.mark.slow
def test_every_kind_of_feature_network_matches_keras(tmp_path):
    """The shipped MobileNetV2's pooled features (the ImageNet twin's second output), a
    layer of it at another size, the Sobel baseline and a model file's vectors."""
    from dlkit.core import modelio
    from dlkit.core.runtime import keras
    from dlkit.tasks import svm

    encoder = keras.Sequential([keras.Input((48, 48, 3)), keras.layers.Rescaling(1 / 255),
                                keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.GlobalMaxPooling2D()])
    modelio.save_model(encoder, str(tmp_path / "encoder.keras"))
    paths = _photos()
    for config, dimensions in [(svm.FeaturesConfig(), 1280),
                               (svm.FeaturesConfig(layer="block_13_expand_relu", image_size=96), 576),
                               (svm.FeaturesConfig(backbone="sobel"), 256),
                               (svm.FeaturesConfig(model=str(tmp_path / "encoder.keras")), 8)]:
        light, heavy = svm.FeatureExtractor(config), svm.FeatureExtractor(config, runtime="keras")
        assert light.dimensions == heavy.dimensions == dimensions and light.meta == heavy.meta
        assert _relative(light.extract_dataset(paths).features, heavy.extract_dataset(paths).features) <= TOLERANCE
    assert (tmp_path / "encoder.features.onnx").exists()  # a model file's twin lives beside it


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A Sobel SVM and a MobileNetV2 one (224 px: the shipped twin's features), trained
    through the CLI on 8 cats and 8 dogs."""
    from click.testing import CliRunner

    from dlkit.cli import cli

    out = tmp_path_factory.mktemp("svm-twins")
    data = class_slice(PETS / "train", out / "pets", 8)
    for backbone in ("sobel", "mobilenet_v2"):
        result = CliRunner().invoke(cli, ["train-svm", str(data), "--backbone", backbone, "--folds", "2",
                                          "-o", str(out / backbone), "--json"])
        assert result.exit_code == 0, result.output
    return out


def _same(light: list[dict], heavy: list[dict]) -> None:
    assert [r["input"] for r in light] == [r["input"] for r in heavy]
    assert [r["label"] for r in light] == [r["label"] for r in heavy]
    for a, b in zip(light, heavy):
        assert max(abs(a["scores"][c] - b["scores"][c]) for c in b["scores"]) <= SCORE_TOLERANCE


@pytest.mark.slow
def test_an_svm_keeps_its_feature_twin_and_predicts_without_tensorflow(trained, light_run):
    from dlkit.core import twins
    from dlkit.tasks import svm

    # Sobel features: their twin is in the folder; MobileNetV2's at 224 are the shipped
    # ImageNet twin's, not copied
    kept = twins.Graph(str(trained / "sobel" / "features.onnx")).metadata
    assert kept["features"] == {"backbone": "sobel", "layer": "pooled", "image_size": 128}
    assert not (trained / "mobilenet_v2" / "features.onnx").exists()
    paths = _photos()
    for name in ("sobel", "mobilenet_v2"):
        heavy = list(svm.load(str(trained / name), runtime="keras").predict(paths))
        _same(list(svm.load(str(trained / name)).predict(paths)), heavy)
        code, records, stderr = light_run(["predict-svm", "--json", "--model", trained / name, *paths])
        assert code == 0, stderr
        _same(records, heavy)


def test_extract_features_without_tensorflow_gives_keras_features(light_run, tmp_path):
    from dlkit.tasks import svm

    data = class_slice(PETS / "validation", tmp_path / "pets", 2)
    code, _, stderr = light_run(["extract-features", data, "-o", tmp_path / "f.npz"])
    assert code == 0 and "4 feature vectors of 1280 values" in stderr, stderr
    with np.load(tmp_path / "f.npz", allow_pickle=False) as saved:
        assert saved["labels"].tolist() == ["cats", "cats", "dogs", "dogs"]
        heavy = svm.FeatureExtractor(svm.FeaturesConfig(), runtime="keras").extract_dataset(str(data))
        assert saved["paths"].tolist() == heavy.paths
        assert _relative(saved["features"], heavy.features) <= TOLERANCE


@pytest.mark.slow
def test_an_svm_folder_without_its_twin_is_converted_once_or_refused(trained, light_run, monkeypatch, tmp_path):
    from dlkit.tasks import svm

    old = tmp_path / "old"
    shutil.copytree(trained / "sobel", old)
    (old / "features.onnx").unlink()  # as train-svm wrote folders before twins
    monkeypatch.setenv("DLKIT_CACHE", str(tmp_path / "cache"))
    chelsea = need(PHOTOS / "chelsea.png")
    code, records, stderr = light_run(["predict-svm", "--model", old, chelsea])
    assert code == 1 and records == [] and "needs TensorFlow" in stderr and stderr.strip().count("\n") == 0
    expected = list(svm.load(str(old)).predict([str(chelsea)]))  # converted here, under the cache
    code, records, stderr = light_run(["predict-svm", "--json", "--model", old, chelsea])
    assert code == 0 and records == expected, stderr

    # a features.onnx that config.json does not describe is refused, naming both
    edited = tmp_path / "edited"
    shutil.copytree(trained / "sobel", edited)
    config = json.loads((edited / "config.json").read_text())
    config["features"]["image_size"] = 96  # the same 256 Sobel features, of smaller images
    (edited / "config.json").write_text(json.dumps(config))
    code, _, stderr = light_run(["predict-svm", "--model", edited, chelsea])
    assert code == 1 and str(edited / "features.onnx") in stderr and "'image_size': 96" in stderr


def test_the_svm_inference_modules_import_no_tensorflow():
    code = ("import sys, dlkit.tasks.svm.predict, dlkit.tasks.svm.cli; "
            "print([m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
