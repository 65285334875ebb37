"""`dlkit export`: each supported format of each model kind, run by its own runtime and
compared with Keras on inputs other than those the command checked."""

import os

import numpy as np
import pytest

from conftest import DATA, ROOT, need, pets_slice, tiny_stylizer

pytestmark = pytest.mark.slow  # servers, exports and worker processes: minutes in all

PRETRAINED = ROOT / "pretrained"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A LeNet-5 classifier and a fast stylizer, trained here in seconds."""
    from dlkit.tasks import classifier

    out = tmp_path_factory.mktemp("trained")
    pets = pets_slice(out / "pets", 16)
    classifier.train(str(pets), str(out / "lenet.keras"),
                     classifier.TrainClassifierConfig(arch="lenet5", epochs=1, augment=False))
    return {"classifier": str(out / "lenet.keras"), "stylizer": tiny_stylizer(out / "mosaic.keras")}


def _model(kind, trained):
    if kind in trained:
        return trained[kind]
    if kind == "imagenet":
        need(DATA.parent / "keras")
        return "mobilenet_v2"
    return str(need(PRETRAINED / kind))


def _target(tmp_path, format):
    return str(tmp_path / ("exported" if format == "saved_model" else f"exported.{format}"))


def _check_parity(model, target, format):
    """The exported file against Keras on fresh inputs (another seed than the command's)."""
    from dlkit import export

    network = export.resolve(model)
    inputs = export.sample_inputs(network, count=3, seed=7)
    expected = [np.asarray(x) for x in export._as_list(network(export.structured(network, inputs), training=False))]
    got = export.run_exported(target, format, network, inputs)
    assert export.max_difference(expected, got) <= export.TOLERANCE[format]
    return expected


SUPPORTED = [
    ("imagenet", "saved_model"), ("imagenet", "tflite"), ("imagenet", "onnx"),
    ("classifier", "saved_model"), ("classifier", "tflite"), ("classifier", "onnx"),
    ("stylizer", "saved_model"), ("stylizer", "onnx"),
    ("geolocator", "saved_model"), ("geolocator", "tflite"), ("geolocator", "onnx"),
    ("sentiment-sst2", "saved_model"), ("sentiment-sst2", "onnx"),
    ("translator-en-fr", "saved_model"), ("translator-en-fr", "onnx"),
    ("captioner", "saved_model"), ("captioner", "onnx"),
]


@pytest.mark.parametrize("kind, format", SUPPORTED)
def test_export_matches_keras(kind, format, trained, tmp_path):
    from dlkit import export

    if format == "onnx":
        pytest.importorskip("tf2onnx", reason="ONNX export needs the [export] extra")
        pytest.importorskip("onnxruntime", reason="ONNX export needs the [export] extra")
    model, target = _model(kind, trained), _target(tmp_path, format)
    report = export.export(model, target, format)
    assert os.path.exists(target) and report["max_difference"] <= report["tolerance"]
    expected = _check_parity(model, target, format)
    assert all(np.isfinite(e).all() for e in expected)
    assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(target)]  # no staging folder left


@pytest.mark.parametrize("kind, words", [("sentiment-sst2", "Flex delegate"), ("stylizer", "Flex delegate"),
                                         ("translator-en-fr", "cannot export"), ("captioner", "cannot export")])
def test_what_litert_cannot_run_is_refused_and_nothing_is_written(kind, words, trained, tmp_path):
    """Recurrent models and the any-size stylizer need TensorFlow ops in LiteRT."""
    from dlkit import export
    from dlkit.core.errors import DlkitError

    target = tmp_path / "model.tflite"
    with pytest.raises(DlkitError, match=words):
        export.export(_model(kind, trained), str(target), "tflite")
    assert list(tmp_path.iterdir()) == []


def test_the_command_prints_the_difference(cli_run, tmp_path):
    target = tmp_path / "geo.onnx"
    pytest.importorskip("tf2onnx", reason="ONNX export needs the [export] extra")
    result, records, stderr = cli_run(["export", need(PRETRAINED / "geolocator"), "--format", "onnx",
                                       "-o", target, "--json"])
    assert result.exit_code == 0, stderr
    assert records[0]["max_difference"] <= records[0]["tolerance"] == 1e-3
    assert records[0]["inputs"]["doc"] == [None, 100] and target.exists()


def test_bad_exports_are_refused_before_any_work(cli_run, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    cases = [
        (["export", "no-such-model", "--format", "onnx", "-o", tmp_path / "a.onnx"], "no such model"),
        (["export", "mobilenet_v2", "--format", "tflite", "-o", tmp_path / "a.onnx"], "must end in .tflite"),
        (["export", "mobilenet_v2", "--format", "saved_model", "-o", tmp_path / "full"], "has files"),
        (["export", tmp_path, "--format", "onnx", "-o", tmp_path / "b.onnx"], "no model.keras"),
    ]
    for args, words in cases:
        result, _, stderr = cli_run(args)
        assert result.exit_code == 1 and words in stderr, stderr
