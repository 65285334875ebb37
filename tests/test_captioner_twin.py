"""The captioner's ONNX twin: the captions Keras writes for real photos, greedy and beam;
the command without TensorFlow (its attention map too); a folder without a twin refused
there and converted on first use where TensorFlow is installed."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import DATA, PHOTOS, ROOT, need
from lightness import HEAVY, light_probe

SHIPPED = ROOT / "pretrained" / "captioner"
# The shipped captioner is int8 (dlkit quantize): its layers quantize their inputs on the
# fly, and a CNN feature that ONNX Runtime computes 1e-5 (of the scale) away from
# TensorFlow's can round to the next int8 step. Measured on 312 photos (the first 300 of
# Flickr8k and ../shared/data/photos): scores of the same captions within 0.019; 1 caption
# in 312 greedy, 3 with beam 3, differ where two words tie within that (none of these).
SCORE_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def pictures() -> list[str]:
    """The shared photos (and the two text files among them) and 16 Flickr8k photos."""
    flickr = sorted(need(DATA / "flickr8k" / "Images").iterdir())[:16]
    return [str(p) for p in sorted(need(PHOTOS).iterdir()) + flickr]


@pytest.fixture(scope="module")
def runtimes():
    from dlkit.tasks.captioner import predict

    return predict.load(runtime="onnx"), predict.load(runtime="keras")


@pytest.mark.slow
@pytest.mark.parametrize("beam", [1, 3])
def test_the_twin_captions_photos_as_keras_does(pictures, runtimes, beam):
    from dlkit.tasks.captioner.predict import Caption

    light, keras = runtimes
    onnx_captions, keras_captions = light.captions(pictures, beam), keras.captions(pictures, beam)
    described = [(a, b) for a, b in zip(onnx_captions, keras_captions) if isinstance(b, Caption)]
    assert len(described) == len(pictures) - 2  # the two README files are not images, in both
    assert [a.text for a, _ in described] == [b.text for _, b in described]
    assert max(abs(a.score - b.score) for a, b in described) <= SCORE_TOLERANCE
    assert len({a.text for a, _ in described}) > len(described) // 2  # photos told apart


@pytest.mark.slow
def test_the_command_runs_without_tensorflow(pictures, runtimes, tmp_path):
    photos = [p for p in pictures if p.endswith((".jpg", ".png"))][:4] + [str(PHOTOS / "skimage_README.txt")]
    code, records, imported, stderr = light_probe(["caption", "--json", "--beam-size", "2", *photos], "")
    assert code == 1 and "Traceback" not in stderr, stderr  # the README is no image
    assert not imported & HEAVY and "onnxruntime" in imported, imported
    expected = list(runtimes[1].captions(photos[:4], beam_size=2))
    assert [r["input"] for r in records] == photos
    assert [r["caption"] for r in records[:4]] == [c.text for c in expected]
    assert max(abs(r["score"] - c.score) for r, c in zip(records, expected)) <= SCORE_TOLERANCE
    assert "not an image" in records[4]["error"]

    picture = tmp_path / "attention.png"
    code, records, _, stderr = light_probe(["caption", "--json", "--beam-size", "2", photos[0], "--attention-map",
                                            picture], "")
    assert code == 0 and records[0]["caption"] == expected[0].text, stderr
    assert picture.stat().st_size > 5000 and records[0]["attention_map"] == str(picture)  # a photo per word


@pytest.mark.slow
def test_a_folder_without_a_twin_is_refused_light_and_converted_on_first_use(light_run, tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(SHIPPED, folder, ignore=shutil.ignore_patterns("*.onnx"))
    photo = PHOTOS / "chelsea.png"
    code, records, stderr = light_run(["caption", "--model", folder, "--json", photo])
    assert code == 1 and not records and len(stderr.strip().splitlines()) == 1, stderr
    assert "has no current ONNX twin" in stderr and "pip install 'dlkit[train]'" in stderr
    assert not list(folder.glob("*.onnx"))

    # in a new process where TensorFlow is installed, as a user would run it
    done = subprocess.run([sys.executable, "-m", "dlkit", "caption", "--model", str(folder), "--json", str(photo)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0 and records[0]["caption"].endswith("."), done.stderr
    assert sorted(p.name for p in folder.glob("*.onnx")) == ["model.encoder.onnx", "model.step.onnx"]
    code, again, stderr = light_run(["caption", "--model", folder, "--json", photo])
    assert code == 0 and again == records, stderr
