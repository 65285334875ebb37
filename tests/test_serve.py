"""`dlkit serve`: every task over HTTP on a free loopback port, with real photos and
sentences from ../shared; limits refused with 4xx JSON; concurrent requests batched."""

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="dlkit serve needs the [serve] extra: pip install -e '.[serve]'")
requests = pytest.importorskip("requests")

from conftest import DATA, PETS, PHOTOS, class_slice, need, text_lines, tiny_stylizer  # noqa: E402

pytestmark = pytest.mark.slow  # servers, exports and worker processes: minutes in all

SENTENCES = ["What a wonderful, moving film.", "A dull, lifeless mess of a movie."]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A fast stylizer and a Sobel SVM, trained here in seconds: dlkit ships neither."""
    from dlkit.tasks import svm

    out = tmp_path_factory.mktemp("tiny")
    pets = class_slice(PETS / "train", out / "pets", 12)
    svm.train(str(pets), str(out / "svm"), features=svm.FeaturesConfig(backbone="sobel"))
    tiny_stylizer(out / "mosaic.keras")
    return {"stylize": str(out / "mosaic.keras"), "predict-svm": str(out / "svm")}


@pytest.fixture(scope="module")
def server(tiny_models):
    """Every task, loaded once, served on a free loopback port for the module."""
    from dlkit.core import runtime
    from dlkit.serve.app import create_app
    from dlkit.serve.limits import ServeConfig
    from dlkit.serve.models import SERVED
    from dlkit.serve.server import background, load_predictors

    need(PHOTOS)
    runtime.setup("cpu")
    predictors = load_predictors(tuple(SERVED), tiny_models)
    # Small limits, so that breaking them needs no large upload; a longer batch wait, so
    # that the concurrent requests below surely meet in the queue.
    config = ServeConfig(max_upload_mb=2, max_pixels=1_000_000, max_text_chars=5000, max_items=8,
                         batch_wait_ms=50)
    app = create_app(predictors, config)
    with background(app) as url:
        yield url, predictors


def _post_photos(url, task, *paths):
    files = [("files", (os.path.basename(p), open(p, "rb").read())) for p in paths]
    return requests.post(f"{url}/api/{task}", files=files, timeout=120)


def _post_texts(url, task, texts):
    return requests.post(f"{url}/api/{task}", json={"texts": texts}, timeout=120)


def _records(response):
    assert response.status_code == 200, response.text
    return response.json()["records"]


def test_image_tasks_answer_the_records_of_the_cli(server, cli_run):
    url, _ = server
    chelsea, coffee = str(PHOTOS / "chelsea.png"), str(PHOTOS / "coffee.png")
    served = _records(_post_photos(url, "classify", chelsea, coffee))
    _, cli, _ = cli_run(["classify", chelsea, coffee, "--json"])
    assert [r["label"] for r in served] == [r["label"] for r in cli]
    assert [r["input"] for r in served] == ["chelsea.png", "coffee.png"]
    assert served[0]["label"] in {"tabby", "tiger_cat", "Egyptian_cat"}
    assert served[0]["score"] == pytest.approx(cli[0]["score"], abs=1e-4)

    caption = _records(_post_photos(url, "caption", chelsea))[0]
    _, cli, _ = cli_run(["caption", chelsea, "--json"])
    assert caption["caption"] == cli[0]["caption"] and len(caption["caption"].split()) >= 3

    features = _records(_post_photos(url, "extract-features", chelsea))[0]["features"]
    assert len(features) == 1280 and max(features) > 0  # MobileNetV2's pooled block

    svm = _records(_post_photos(url, "predict-svm", chelsea))[0]
    assert svm["label"] in {"cats", "dogs"} and set(svm["scores"]) == {"cats", "dogs"}


def test_stylize_returns_the_painted_photo(server):
    from PIL import Image

    url, _ = server
    record = _records(_post_photos(url, "stylize", str(PHOTOS / "chelsea.png")))[0]
    assert record["image"].startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(record["image"].split(",", 1)[1])))
    assert image.format == "PNG" and image.size == (record["width"], record["height"])
    assert max(image.size) <= 512  # stylize's default --size


def test_text_tasks_answer_the_records_of_the_cli(server, cli_run):
    url, _ = server
    sentiment = _records(_post_texts(url, "sentiment", SENTENCES))
    assert [r["label"] for r in sentiment] == ["positive", "negative"]
    _, cli, _ = cli_run(["sentiment", *SENTENCES, "--json"])
    assert sentiment == cli

    translation = _records(_post_texts(url, "translate", ["I am hungry."]))[0]
    assert "faim" in translation["translation"].lower()

    news = json.loads(text_lines(DATA / "geo_news" / "articles.jsonl", 1)[0])
    place = _records(_post_texts(url, "geolocate", ["Flooding closed roads across Louisiana", news["text"]]))
    assert 25 < place[0]["lat"] < 35 and -100 < place[0]["lon"] < -85  # Louisiana
    assert {"lat", "lon", "place", "country"} <= set(place[1])


def test_an_unusable_photo_is_an_error_record_among_the_others(server, tmp_path):
    url, _ = server
    truncated = tmp_path / "truncated.jpg"
    whole = need(PETS / "train" / "cats" / "cat.1.jpg").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])  # the header is intact: refused only when decoded
    notes = str(PHOTOS / "skimage_README.txt")
    records = _records(_post_photos(url, "classify", str(PHOTOS / "chelsea.png"), str(truncated), notes))
    assert "label" in records[0]
    assert records[1]["input"] == "truncated.jpg" and "truncated" in records[1]["error"]
    assert records[2]["input"] == "skimage_README.txt" and "not an image" in records[2]["error"]


@pytest.mark.parametrize("case, status, words", [
    ("not multipart", 415, "multipart/form-data"),
    ("too large", 413, "over the limit"),
    ("too many pixels", 413, "pixels"),
    ("too many files", 413, "at most 8"),
    ("no file", 422, "files"),
    ("empty text", 422, "empty"),
    ("no texts", 422, "no text"),
    ("long text", 413, "characters"),
    ("not json", 400, "not JSON"),
    ("unknown task", 404, "unknown task"),
])
def test_bad_requests_are_refused_with_a_json_error(server, tmp_path, case, status, words):
    from PIL import Image

    url, _ = server
    if case == "not multipart":
        response = requests.post(f"{url}/api/classify", json={"files": ["chelsea.png"]})
    elif case == "too large":
        response = requests.post(f"{url}/api/caption", files=[("files", ("big.jpg", b"\xff" * 3_000_000))])
    elif case == "too many pixels":
        big = tmp_path / "big.png"
        Image.new("RGB", (1200, 1000)).save(big)  # 1.2 Mpx, a small file
        response = _post_photos(url, "classify", str(big))
    elif case == "too many files":
        small = tmp_path / "small.png"
        Image.new("RGB", (32, 32)).save(small)
        response = _post_photos(url, "classify", *[str(small)] * 9)
    elif case == "no file":
        response = requests.post(f"{url}/api/classify", files={"photo": ("cat.jpg", b"1")})  # not "files"
    elif case == "empty text":
        response = _post_texts(url, "sentiment", ["fine", "  "])
    elif case == "no texts":
        response = _post_texts(url, "translate", [])
    elif case == "long text":
        response = _post_texts(url, "geolocate", ["word " * 1100])
    elif case == "not json":
        response = requests.post(f"{url}/api/sentiment", data="hello", headers={"Content-Type": "application/json"})
    else:
        response = _post_texts(url, "summarize", ["a text"])
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert words.lower() in response.json()["error"].lower()


def test_concurrent_requests_share_model_calls(server):
    url, _ = server
    texts = [f"The {n}th film of the festival was {'wonderful' if n % 2 else 'awful'}." for n in range(24)]
    before = requests.get(f"{url}/health").json()["tasks"]["sentiment"]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda t: _records(_post_texts(url, "sentiment", [t]))[0], texts))
    after = requests.get(f"{url}/health").json()["tasks"]["sentiment"]
    # each client got the answer to its own text, and fewer model calls than requests were made
    assert [a["input"] for a in answers] == texts
    assert [a["label"] for a in answers] == ["positive" if n % 2 else "negative" for n in range(24)]
    assert after["requests"] - before["requests"] == 24
    assert after["calls"] - before["calls"] < 24 / 2


def test_page_docs_and_health(server):
    url, predictors = server
    page = requests.get(url)
    assert page.status_code == 200 and 'id="photo"' in page.text and 'id="translation"' in page.text
    assert requests.get(f"{url}/docs").status_code == 200
    paths = requests.get(f"{url}/openapi.json").json()["paths"]
    assert {f"/api/{name}" for name in predictors} <= set(paths)
    assert set(requests.get(f"{url}/health").json()["tasks"]) == set(predictors)


def test_a_request_past_its_timeout_gets_a_504():
    from dlkit.core.task import Predictor
    from dlkit.serve.app import create_app
    from dlkit.serve.limits import ServeConfig
    from dlkit.serve.server import background

    class Slow(Predictor):
        def predict_batch(self, values):
            time.sleep(1.0)
            return [{"label": "slow"} for _ in values]

    with background(create_app({"sentiment": Slow()}, ServeConfig(timeout=0.2))) as url:
        response = _post_texts(url, "sentiment", ["anything"])
    assert response.status_code == 504 and "0.2 s" in response.json()["error"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_command_serves_until_sigterm(tmp_path):
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "dlkit", "serve", "--tasks", "sentiment", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except requests.ConnectionError:
                time.sleep(0.3)
        else:
            pytest.fail(f"dlkit serve did not start: {process.communicate()[1][-2000:]}")
        assert list(health["tasks"]) == ["sentiment"]
        assert _records(_post_texts(f"http://127.0.0.1:{port}", "sentiment", SENTENCES[:1]))[0]["label"] == "positive"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode in (0, 143), stderr
    assert "Traceback" not in stderr


def test_the_command_refuses_tasks_it_cannot_serve(cli_run):
    result, _, stderr = cli_run(["serve", "--tasks", "sentiment,summarize"])
    assert result.exit_code == 1 and "unknown task 'summarize'" in stderr
    result, _, stderr = cli_run(["serve", "--tasks", "stylize"])
    assert result.exit_code == 1 and "--model stylize=PATH" in stderr
    result, _, stderr = cli_run(["serve", "--model", "stylize"])
    assert result.exit_code == 1 and "TASK=PATH" in stderr
