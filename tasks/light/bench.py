"""Light inference (ONNX twins on ONNX Runtime) against the Keras path, measured in one
run on this machine, as ratios (the machines are shared and noisy: only ratios measured
side by side mean anything).

    python tasks/light/bench.py                 # everything, about 10 minutes on 2 cores
    python tasks/light/bench.py --only one-photo,serve

- one-photo: `dlkit classify photo.jpg` as a whole command against a bare onnxruntime
  script running the same shipped MobileNetV2 twin on the same photo (target <= 1.5x),
  and its peak RSS (target <= 300 MB);
- classify, extract-features: photos/s from files through the light predictor against
  bare Keras `model.predict` on the same photos decoded beforehand (target >= 1.2x);
- sentiment (lines/s, >= 1.0x), translate and caption (sentences or photos/s, >= 1.5x):
  the light predictor against the same predictor on Keras (runtime="keras");
- serve: the peak RSS of `dlkit serve --tasks classify,sentiment` after answering both
  (target < 400 MB).

Needs dlkit[train] (for the Keras side) and ../shared (DLKIT_SHARED); without a
KERAS_HOME, the Keras side reads a copy of ../shared/keras made for the run.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DLKIT_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT / "tasks"))
sys.path.insert(0, str(ROOT / "tests"))

import keras_home  # noqa: E402
from throughput import compare  # noqa: E402

PHOTO = SHARED / "data" / "photos" / "chelsea.png"
FLICKR = SHARED / "data" / "flickr8k" / "Images"
# The bare script a user would write for one photo: decode, resize, run, best label.
BARE = """
import sys, numpy as np, onnxruntime
from PIL import Image
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
pixels = np.asarray(Image.open(sys.argv[2]).convert("RGB").resize((224, 224), Image.BILINEAR), np.float32)[None]
print(int(session.run(None, {session.get_inputs()[0].name: pixels})[0].argmax()))
"""


def peak_run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of a command run to its end."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode})")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def one_photo(repeats: int) -> dict:
    from dlkit.core import modelio

    twin = os.path.join(modelio.pretrained_path("classifier", "mobilenet_v2-imagenet"), "model.onnx")
    bare, light = [], []
    for _ in range(repeats):  # alternating, so that both see the same load on the machine
        bare.append(peak_run([sys.executable, "-c", BARE, twin, str(PHOTO)]))
        light.append(peak_run([sys.executable, "-m", "dlkit", "classify", str(PHOTO), "--json"]))
    wall_bare, wall_light = (statistics.median(t for t, _ in runs) for runs in (bare, light))
    return {"bare_onnxruntime_s": round(wall_bare, 2), "dlkit_classify_s": round(wall_light, 2),
            "ratio": round(wall_light / wall_bare, 2), "target_ratio": "<= 1.5",
            "dlkit_peak_rss_mb": round(max(m for _, m in light)), "bare_peak_rss_mb": round(max(m for _, m in bare)),
            "target_rss_mb": "<= 300"}


def photos(count: int) -> list[str]:
    return sorted(str(p) for p in FLICKR.glob("*.jpg"))[:count]


def decoded(paths: list[str], size: int):
    import numpy as np

    from dlkit.vision.images import load_image

    return np.stack([load_image(p, size) for p in paths]).astype("float32")


def image_throughput(count: int, rounds: int) -> dict:
    """classify and extract-features from files (light) against bare Keras predict on
    the same photos decoded beforehand."""
    from dlkit.export import _with_preprocessing
    from dlkit.tasks import classifier, svm
    from dlkit.vision import backbones

    paths = photos(count)
    pixels = decoded(paths, 224)
    keras_classifier = _with_preprocessing(backbones.get("mobilenet_v2"))
    light = classifier.load()
    bare_s, light_s = compare(lambda: keras_classifier.predict(pixels, batch_size=32, verbose=0),
                              lambda: list(light.predict(paths)), rounds)
    results = {"classify": {"keras_predict_photos_s": round(count / bare_s, 1),
                            "light_from_files_photos_s": round(count / light_s, 1),
                            "ratio": round(bare_s / light_s, 2), "target_ratio": ">= 1.2"}}
    keras_extractor = svm.extractor(runtime="keras")
    light_extractor = svm.extractor()
    bare_s, light_s = compare(lambda: keras_extractor.network(pixels),
                              lambda: list(light_extractor.predict(paths)), rounds)
    results["extract-features"] = {"keras_predict_photos_s": round(count / bare_s, 1),
                                   "light_from_files_photos_s": round(count / light_s, 1),
                                   "ratio": round(bare_s / light_s, 2), "target_ratio": ">= 1.2"}
    return results


def _versus(load, items: list, rounds: int, unit: str, target: str) -> dict:
    light, keras = load(runtime="onnx"), load(runtime="keras")
    keras_s, light_s = compare(lambda: list(keras.predict(items)), lambda: list(light.predict(items)), rounds)
    return {f"keras_{unit}_s": round(len(items) / keras_s, 1), f"light_{unit}_s": round(len(items) / light_s, 1),
            "ratio": round(keras_s / light_s, 2), "target_ratio": target}


def texts(count: int) -> dict:
    from dlkit.tasks import sentiment, translator

    sst = (SHARED / "data" / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    lines = [row.split("\t")[0] for row in sst][:count]
    english = [row.split("\t")[0] for row in
               (SHARED / "data" / "anki" / "fra.txt").read_text(encoding="utf-8").splitlines()[::500]][:200]
    return {"sentiment": _versus(sentiment.load, lines, 2, "lines", ">= 1.0"),
            "translate": _versus(translator.load, english, 1, "sentences", ">= 1.5")}


def captions(count: int) -> dict:
    from dlkit.tasks import captioner

    return {"caption": _versus(captioner.load, photos(count), 1, "photos", ">= 1.5")}


def serve() -> dict:
    """Peak RSS of the server with classify and sentiment, after one request to each."""
    port = 8765
    process = subprocess.Popen([sys.executable, "-m", "dlkit", "serve", "--tasks", "classify,sentiment",
                                "--port", str(port), "-q"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        text = json.dumps({"texts": ["What a lovely film."]}).encode()
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/sentiment", text,
                                                      {"Content-Type": "application/json"}), timeout=60)
        boundary = "dlkitbench"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"cat.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + PHOTO.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/api/classify", body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"}), timeout=60)
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    finally:
        process.terminate()
        process.wait()
    return {"serve_classify_sentiment_peak_rss_mb": round(peak / 1024), "target_mb": "< 400"}


PARTS = {"one-photo": lambda a: one_photo(a.repeats), "images": lambda a: image_throughput(a.photos, a.rounds),
         "texts": lambda a: texts(a.lines), "caption": lambda a: captions(a.captions), "serve": lambda a: serve()}


def main() -> None:
    if not os.environ.get("KERAS_HOME"):
        import tempfile

        os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="dlkit-bench-keras-")
        keras_home.seed(SHARED / "keras", Path(os.environ["KERAS_HOME"]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each whole command (one-photo)")
    parser.add_argument("--photos", type=int, default=256, help="photos for classify and extract-features")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each throughput (best kept)")
    parser.add_argument("--lines", type=int, default=2000, help="SST-2 dev lines for sentiment")
    parser.add_argument("--captions", type=int, default=48, help="Flickr8k photos to caption")
    args = parser.parse_args()
    for part in args.only.split(","):
        print(json.dumps({part: PARTS[part](args)}), flush=True)


if __name__ == "__main__":
    main()
