"""The sentiment model's ONNX twin: the same labels as Keras on real SST-2 sentences, the
command without TensorFlow (nor gensim), a folder without a twin refused there and
converted on first use where TensorFlow is installed, int8 models included."""

import shutil

import numpy as np
import pytest

from conftest import DATA, ROOT, tsv_rows
from lightness import HEAVY, light_probe

SHIPPED = ROOT / "pretrained" / "sentiment-sst2"


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    """500 SST-2 dev sentences (after the 300 test_sentiment.py uses)."""
    return [text for text, _ in tsv_rows(DATA / "sst2" / "dev.tsv", 500, skip=300)]


def test_the_twin_labels_sst2_as_keras_does(sentences):
    from dlkit.tasks.sentiment import predict

    light, keras = predict.load(), predict.load(runtime="keras")
    assert light.path == keras.path and str(SHIPPED) in light.path
    onnx_p, keras_p = light.probabilities(sentences), keras.probabilities(sentences)
    assert onnx_p.shape == (500, 2)
    assert (onnx_p.argmax(1) == keras_p.argmax(1)).all()
    assert np.abs(onnx_p - keras_p).max() <= 1e-4  # measured 2.4e-7 on 2,000 dev sentences
    records = list(light.predict(sentences[:50]))
    assert [r["label"] for r in records] == [r["label"] for r in keras.predict(sentences[:50])]
    assert {r["label"] for r in records} == {"negative", "positive"}


def test_the_command_runs_without_tensorflow_or_gensim(sentences):
    from dlkit.tasks.sentiment import predict

    lines = sentences[:20] + [""]
    code, records, imported, stderr = light_probe(["sentiment", "--json", "-"], "\n".join(lines) + "\n")
    assert code == 1  # the empty line
    assert not imported & HEAVY and "onnxruntime" in imported, imported
    expected = list(predict.load(runtime="keras").predict(sentences[:20]))
    assert [r["label"] for r in records[:20]] == [r["label"] for r in expected]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(records, expected)) <= 1e-4
    assert records[20] == {"input": "", "error": "empty text"} and "Traceback" not in stderr


def test_a_folder_without_a_twin_is_refused_light_and_converted_on_first_use(cli_run, light_run, tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(SHIPPED, folder, ignore=shutil.ignore_patterns("model.onnx"))
    code, records, stderr = light_run(["sentiment", "--model", folder, "--json", "A moving story"])
    assert code == 1 and not records and len(stderr.strip().splitlines()) == 1, stderr
    assert "has no current ONNX twin" in stderr and "pip install 'dlkit[train]'" in stderr
    assert not (folder / "model.onnx").exists()

    result, records, _ = cli_run(["sentiment", "--model", folder, "--json", "A moving story"])  # TensorFlow here
    assert result.exit_code == 0 and records[0]["label"] == "positive"
    assert (folder / "model.onnx").exists()
    code, again, _ = light_run(["sentiment", "--model", folder, "--json", "A moving story"])
    assert code == 0 and again == records


@pytest.mark.slow
def test_an_int8_model_gets_a_twin_of_its_own(cli_run, light_run, sentences, tmp_path):
    """dlkit quantize keeps Dense and Embedding weights as int8; the twin keeps them so
    (MatMulInteger) and answers as the int8 Keras model does. (The shipped model is int8
    already: a small float one is trained here.)"""
    import onnx

    from dlkit.tasks.sentiment import predict

    data = tmp_path / "train.tsv"
    rows = tsv_rows(DATA / "sst2" / "train.tsv", 2000)
    data.write_text("sentence\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows))
    result, _, stderr = cli_run(["train-sentiment", data, "-o", tmp_path / "float", "--epochs", "1", "--units", "8",
                                 "--vocab-size", "3000", "--max-length", "30", "--seed", "1"])
    assert result.exit_code == 0, stderr
    result, _, stderr = cli_run(["quantize", tmp_path / "float", "-o", tmp_path / "int8", "--json"])
    assert result.exit_code == 0, stderr
    # the float model's twin came along with the folder: stale, so refused without TensorFlow
    code, _, stderr = light_run(["sentiment", "--model", tmp_path / "int8", "A moving story"])
    assert code == 1 and "has no current ONNX twin" in stderr
    light = predict.load(str(tmp_path / "int8"))  # converted here
    ops = {node.op_type for node in onnx.load(str(tmp_path / "int8" / "model.onnx")).graph.node}
    assert "MatMulInteger" in ops
    onnx_p = light.probabilities(sentences)
    keras_p = predict.load(str(tmp_path / "int8"), runtime="keras").probabilities(sentences)
    assert (onnx_p.argmax(1) == keras_p.argmax(1)).all() and np.abs(onnx_p - keras_p).max() <= 1e-4
