"""`dlkit export`: each supported format of each model kind, run by its own runtime and
compared with Keras on inputs other than those the command checked."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import DATA, PETS, ROOT, class_slice, need, tiny_stylizer

pytestmark = pytest.mark.slow  # servers, exports and worker processes: minutes in all

PRETRAINED = ROOT / "pretrained"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A LeNet-5 classifier and a fast stylizer, trained here in seconds."""
    from dlkit.tasks import classifier

    out = tmp_path_factory.mktemp("trained")
    pets = class_slice(PETS / "train", out / "pets", 16)
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


# The shipped sentiment model's int8 layers multiply int8 tensors, which LiteRT's
# converter refuses; the message names the operation.
@pytest.mark.parametrize("kind, words", [("sentiment-sst2", r"as tflite: 'tfl\.fully_connected' op operand"),
                                         ("stylizer", "Flex delegate"),
                                         ("translator-en-fr", "cannot export"), ("captioner", "cannot export")])
def test_what_litert_cannot_run_is_refused_and_nothing_is_written(kind, words, trained, tmp_path):
    """Recurrent models and the any-size stylizer need TensorFlow ops in LiteRT."""
    from dlkit import export
    from dlkit.core.errors import DlkitError

    target = tmp_path / "model.tflite"
    with pytest.raises(DlkitError, match=words):
        export.export(_model(kind, trained), str(target), "tflite")
    assert list(tmp_path.iterdir()) == []


def _greedy(runtime, encoder_inputs, decoding, steps=30):
    """Greedy decoding with an export's encode and step, as a user of the export would
    write it: the start id, then the best allowed id each step, until the end id."""
    out = runtime["encode"](encoder_inputs)
    states = sorted(k for k in out if k.startswith("state_"))
    values = {k: v for k, v in out.items()}
    batch = len(next(iter(encoder_inputs.values())))
    tokens, rows, done = np.full(batch, decoding["bos"], np.int32), [[] for _ in range(batch)], np.zeros(batch, bool)
    for t in range(steps):
        result = runtime["step"]({"tokens": tokens, **values})
        log_probs = result["log_probs"].copy()
        log_probs[:, decoding.get("banned", [])] = -np.inf
        if t == 0:
            log_probs[:, decoding["eos"]] = -np.inf  # never an empty output (dlkit's min_length 1)
        tokens = log_probs.argmax(-1).astype(np.int32)
        for i, token in enumerate(tokens):
            if not done[i]:
                done[i] = token == decoding["eos"]
                rows[i] += [] if done[i] else [int(token)]
        values.update({k: result[f"next_{k}"] for k in states})
        if done.all():
            break
    return rows


@pytest.mark.parametrize("format", ["saved_model", "onnx"])
def test_translator_exports_its_encoder_and_step_and_they_translate(format, tmp_path):
    """A runtime that knows nothing of dlkit decodes with the two exported functions and
    the subword model in the folder, and gets dlkit's greedy translations."""
    import json

    from dlkit import export
    from dlkit.tasks import translator
    from dlkit.tasks.translator.data import Subwords

    if format == "onnx":
        pytest.importorskip("tf2onnx", reason="ONNX export needs the [export] extra")
    folder = need(PRETRAINED / "translator-en-fr")
    report = export.export(str(folder), str(tmp_path / "out"), format)
    assert report["max_difference"] <= report["tolerance"]
    assert report["inputs"]["encode"] == ["source"] and report["inputs"]["step"][0] == "tokens"
    extra = tmp_path / "out" / ("assets.extra" if format == "saved_model" else "")
    decoding = json.loads((extra / "decoding.json").read_text())
    source, target = Subwords.read(str(extra / "source.spm")), Subwords.read(str(extra / "target.spm"))
    sentences = ["I am hungry.", "Where is the station?", "She reads a book."]
    ids = [row + [decoding["eos"]] for row in source.encode(sentences)]
    padded = np.zeros((len(ids), max(map(len, ids))), np.int32)
    for i, row in enumerate(ids):
        padded[i, : len(row)] = row
    rows = _greedy(export._decoder_runtime(str(tmp_path / "out"), format), {"source": padded}, decoding)
    expected = [t.text for t in translator.load(str(folder)).translate(sentences, beam_size=1)]
    assert [target.decode(r) for r in rows] == expected
    assert all(expected)


@pytest.mark.parametrize("format", ["saved_model", "onnx"])
def test_captioner_exports_cnn_encoder_and_step_and_they_caption(format, tmp_path):
    """The exported encoder takes the photo's pixels (the CNN inside), and greedy
    decoding with the exported step gives the words dlkit's greedy search gives."""
    import json

    from PIL import Image

    from dlkit import export
    from dlkit.tasks import captioner

    if format == "onnx":
        pytest.importorskip("tf2onnx", reason="ONNX export needs the [export] extra")
    folder = need(PRETRAINED / "captioner")
    report = export.export(str(folder), str(tmp_path / "out"), format)
    assert report["inputs"]["encode"] == ["pixels"] and report["max_difference"] <= report["tolerance"]
    extra = tmp_path / "out" / ("assets.extra" if format == "saved_model" else "")
    decoding = json.loads((extra / "decoding.json").read_text())
    words = json.loads((extra / "vocab.json").read_text())["tokens"]
    model = captioner.load(str(folder))
    side = model.config.image_size
    photos = [DATA / "photos" / name for name in ("chelsea.png", "rocket.jpg")]
    pixels = np.stack([np.asarray(Image.open(need(p)).convert("RGB").resize((side, side), Image.BILINEAR),
                                  np.float32) for p in photos])
    rows = _greedy(export._decoder_runtime(str(tmp_path / "out"), format), {"pixels": pixels}, decoding)
    # vocab.json lists the words after the two reserved ids (padding, unknown)
    exported = [" ".join(words[i - 2] for i in row) for row in rows]
    expected = [" ".join(c.words) for c in model.describe(pixels, beam_size=1)]
    assert exported == expected and all(exported)


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


@pytest.mark.slow
def test_a_tflite_export_keeps_litert_start_up_lines_off_stderr(tmp_path):
    """LiteRT announces its XNNPACK delegate on file descriptor 2 while the export is
    checked; the command's stderr holds only dlkit's own lines."""
    process = subprocess.run([sys.executable, "-m", "dlkit", "export", "mobilenet_v2", "--format", "tflite",
                              "-o", tmp_path / "m.tflite", "--json"], capture_output=True, text=True, env=os.environ)
    assert process.returncode == 0 and (tmp_path / "m.tflite").exists(), process.stderr
    assert "XNNPACK" not in process.stderr and "Traceback" not in process.stderr, process.stderr
