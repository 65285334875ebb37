"""Hostile model files and a shared server, tried as an attacker would: through the real
CLI and a served instance on loopback (started and stopped here). A model folder runs
no code and leads nowhere outside itself; one user's input fails no other request; a
body is stopped at the limit whatever its transfer encoding."""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import PETS, PHOTOS, ROOT, class_slice, need

requests = pytest.importorskip("requests")

GOOD = PHOTOS / "chelsea.png"
GOOD2 = PHOTOS / "coffee.png"


def _dds_pillow_cannot_read() -> bytes:
    """A DDS header with an unknown pixel format: Pillow raises NotImplementedError on
    it, whatever the file's name says."""
    header = struct.pack("<7I", 124, 0x1007, 8, 8, 0, 0, 0) + b"\0" * 44
    pixel_format = struct.pack("<2I4s5I", 32, 0x4, b"ZZZZ", 0, 0, 0, 0, 0)
    return b"DDS " + header + pixel_format + b"\0" * 20 + b"\0" * 256


# ---- 1. a model folder runs no code ------------------------------------------------------

def _runs_code(svm_file: Path, marker: Path) -> None:
    """Rewrites svm.skops so that loading it calls numpy.testing's helper that runs a
    string (exec), in place of the pipeline's `memory` setting (None either way)."""
    with zipfile.ZipFile(svm_file) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    code = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode", "is_json": True,
            "content": json.dumps(f"open({str(marker)!r}, 'w').write('ran')"), "__id__": 1}
    namespace = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode", "content": {},
                 "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                               "content": [], "__id__": 2}, "__id__": 3}
    schema["content"]["content"]["memory"] = {
        "__class__": "runstring", "__module__": "numpy.testing._private.utils",
        "__loader__": "ConstructorFromReduceNode", "__id__": 4,
        "content": {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                    "content": [code, namespace], "__id__": 5}}
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(svm_file, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.fixture(scope="module")
def sobel_svm(tmp_path_factory):
    """A Sobel SVM trained here in seconds (dlkit ships none)."""
    from dlkit.tasks import svm

    out = tmp_path_factory.mktemp("svm")
    svm.train(str(class_slice(PETS / "train", out / "pets", 8)), str(out / "svm"),
              features=svm.FeaturesConfig(backbone="sobel"))
    return out / "svm"


@pytest.mark.slow
def test_a_crafted_svm_file_runs_no_code(sobel_svm, tmp_path, light_run):
    import shutil

    folder, marker = tmp_path / "svm", tmp_path / "marker"
    shutil.copytree(sobel_svm, folder)
    _runs_code(folder / "svm.skops", marker)
    code, records, stderr = light_run(["predict-svm", "--model", folder, GOOD])
    assert not marker.exists()
    assert code == 1 and not records and "runstring" in stderr and "refusing to load" in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_an_svm_finds_its_features_model_in_its_folder(sobel_svm, tmp_path, light_run):
    """features.model names a file of the folder: resolved against the folder, never
    against the directory the command runs in (where another file of that name is)."""
    import shutil

    folder = tmp_path / "svm"
    shutil.copytree(sobel_svm, folder)
    config = json.loads((folder / "config.json").read_text())
    config["features"] = {**config["features"], "model": "features.keras"}
    (folder / "config.json").write_text(json.dumps(config))
    code, _, stderr = light_run(["predict-svm", "--model", folder, GOOD])
    assert code == 1 and str(folder / "features.keras") in stderr  # the folder's, named in full


# ---- 6. model folders: no device, no FIFO, no link out -----------------------------------

@pytest.mark.parametrize("breakage, words", [
    ("config.json -> /dev/zero", "link out of the model folder"),
    ("config.json is a FIFO", "not a regular file"),
    ("a link to /etc/passwd", "link out of the model folder"),
])
def test_a_model_folder_cannot_hang_fill_memory_or_lead_out(tmp_path, light_run, breakage, words):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(need(ROOT / "pretrained" / "sentiment-sst2"), folder)
    if breakage == "config.json -> /dev/zero":
        (folder / "config.json").unlink()
        (folder / "config.json").symlink_to("/dev/zero")
    elif breakage == "config.json is a FIFO":
        (folder / "config.json").unlink()
        os.mkfifo(folder / "config.json")
    else:
        (folder / "vocab.json").rename(folder / "vocab.old")
        (folder / "vocab.json").symlink_to("/etc/passwd")
    code, records, stderr = light_run(["sentiment", "--model", folder, "a fine film"], timeout=60)
    assert code == 1 and not records and words in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_a_config_json_is_read_with_a_size_cap(tmp_path, monkeypatch):
    from dlkit.core import files
    from dlkit.core.errors import DlkitError

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"pad": "x" * 5000}))
    monkeypatch.setattr(files, "MAX_JSON_BYTES", 4096)
    with pytest.raises(DlkitError, match="over the limit"):
        files.read_json(str(path), "model config")


# ---- 2, 4, 5. the CLI: bad bytes and bad images are items, not crashes --------------------

def test_translate_answers_every_argument_when_one_is_not_utf8(light_run):
    code, records, stderr = light_run(["translate", "I am hungry.", os.fsdecode(b"I am \xff hungry."), "--json"])
    assert [r["input"] for r in records] == ["I am hungry.", "I am \\xff hungry."]
    assert "faim" in records[0]["translation"].lower() and "not UTF-8" in records[1]["error"]
    assert code == 1 and "Traceback" not in stderr


@pytest.mark.parametrize("task", ["sentiment", "geolocate"])
def test_json_output_is_valid_utf8_whatever_the_arguments(task):
    done = subprocess.run([sys.executable, "-m", "dlkit", task, "a fine day in Paris", b"caf\xe9 \xff", "--json"],
                          capture_output=True, timeout=300, cwd=ROOT)
    lines = done.stdout.decode("utf-8").splitlines()  # raises on a raw byte
    records = [json.loads(line) for line in lines]
    assert len(records) == 2 and "error" not in records[0]
    assert records[1]["input"] == "caf\\xe9 \\xff" and "not UTF-8" in records[1]["error"]


def test_an_image_pillow_cannot_decode_is_one_error_record(tmp_path, light_run):
    odd = tmp_path / "odd.png"  # a DDS file, whatever its name says
    odd.write_bytes(_dds_pillow_cannot_read())
    code, records, stderr = light_run(["classify", need(GOOD), odd, GOOD2, "--json"])
    assert [r["input"] for r in records] == [str(GOOD), str(odd), str(GOOD2)]
    assert "label" in records[0] and "label" in records[2]
    assert "NotImplementedError" in records[1]["error"]
    assert code == 1 and "Traceback" not in stderr


# ---- the server -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss(pid: int) -> int:
    """Resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`dlkit serve` in its own process with its own temporary folder, 2 MB bodies."""
    pytest.importorskip("fastapi")
    need(GOOD)
    temp, log = tmp_path_factory.mktemp("server-tmp"), tmp_path_factory.mktemp("server-log") / "stderr"
    port = _free_port()
    with open(log, "w") as stderr:  # a file, not a pipe: a pipe nobody reads would stop the server once full
        process = subprocess.Popen([sys.executable, "-m", "dlkit", "serve", "--tasks", "sentiment,translate,classify",
                                    "--port", str(port), "--max-upload-mb", "2", "--max-items", "40",
                                    "--batch-wait-ms", "50"],
                                   stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT,
                                   env={**os.environ, "TMPDIR": str(temp)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            requests.get(f"{url}/health", timeout=1).raise_for_status()
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"dlkit serve did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
    yield url, process, temp
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert "Traceback" not in log.read_text()


def test_a_poisoned_text_fails_no_other_request(served):
    url, _, _ = served
    innocent = [f"I am hungry number {n}." for n in range(30)]
    poisoned = '{"texts": ["I am \\ud800 hungry."]}'  # a lone surrogate, as JSON may carry one

    def post(text):
        return requests.post(f"{url}/api/translate", json={"texts": [text]}, timeout=120)

    for _ in range(2):
        with ThreadPoolExecutor(31) as pool:
            answers = [pool.submit(post, t) for t in innocent[:15]]
            bad = pool.submit(requests.post, f"{url}/api/translate", data=poisoned,
                              headers={"Content-Type": "application/json"}, timeout=120)
            answers += [pool.submit(post, t) for t in innocent[15:]]
        assert [a.result().status_code for a in answers] == [200] * 30
        assert all("translation" in a.result().json()["records"][0] for a in answers)
        record = bad.result().json()["records"][0]
        assert bad.result().status_code == 200 and "surrogate" in record["error"]


def test_a_model_failing_on_one_item_fails_only_that_item():
    """A model that raises on one text (as SentencePiece did): the batch is answered
    again item by item, so the concurrent requests batched with it all get 200."""
    pytest.importorskip("fastapi")
    from dlkit.core.task import Predictor
    from dlkit.serve.app import create_app
    from dlkit.serve.limits import ServeConfig
    from dlkit.serve.server import background

    class Fussy(Predictor):
        def predict_batch(self, values):
            if "boom" in values:
                raise RuntimeError("internal tokenizer failure")
            return [{"label": "ok"} for _ in values]

    predictor = Fussy()
    with background(create_app({"sentiment": predictor}, ServeConfig(batch_wait_ms=100))) as url:
        with ThreadPoolExecutor(21) as pool:
            answers = list(pool.map(lambda t: requests.post(f"{url}/api/sentiment", json={"texts": [t]}, timeout=60),
                                    [f"text {n}" for n in range(10)] + ["boom"] + [f"text {n}" for n in range(10)]))
        calls = requests.get(f"{url}/health").json()["tasks"]["sentiment"]["calls"]
    assert [a.status_code for a in answers] == [200] * 21
    records = [a.json()["records"][0] for a in answers]
    assert [r.get("label") for r in records if r["input"] != "boom"] == ["ok"] * 20
    assert "RuntimeError: internal tokenizer failure" in records[10]["error"]
    assert calls < 21  # they were batched together, and still answered apart


def test_a_request_the_model_fails_as_a_whole_fails_alone():
    """A model raising a failure that is not an item's (DlkitError) on one request: the
    batcher answers the requests gathered with it one by one, so only that one fails,
    with a JSON 500 and no traceback in the answer."""
    pytest.importorskip("fastapi")
    from dlkit.core.errors import DlkitError
    from dlkit.core.task import Predictor
    from dlkit.serve.app import create_app
    from dlkit.serve.limits import ServeConfig
    from dlkit.serve.server import background

    class Broken(Predictor):
        def predict_batch(self, values):
            if "kaput" in values:
                raise DlkitError("the model broke")
            return [{"label": "ok"} for _ in values]

    with background(create_app({"sentiment": Broken()}, ServeConfig(batch_wait_ms=100))) as url:
        with ThreadPoolExecutor(11) as pool:
            answers = list(pool.map(lambda t: requests.post(f"{url}/api/sentiment", json={"texts": [t]}, timeout=60),
                                    [f"text {n}" for n in range(5)] + ["kaput"] + [f"text {n}" for n in range(5)]))
    assert [a.status_code for a in answers] == [200] * 5 + [500] + [200] * 5
    assert answers[5].json() == {"error": "the model broke"}


def _chunks(head: bytes, megabytes: int):
    yield head
    block = b"A" * 1_000_000
    for _ in range(megabytes):
        yield block


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_a_200_mb_chunked_body_is_stopped_at_the_limit(served, kind):
    url, process, temp = served
    requests.get(f"{url}/health")  # warm: what the first request allocates is not counted
    rss, spooled = _rss(process.pid), _folder_bytes(temp)
    if kind == "json":
        task, head, media = "sentiment", b'{"texts": ["', "application/json"
    else:
        task, head = "classify", (b'--b0undary\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n'
                                  b"Content-Type: image/png\r\n\r\n")
        media = "multipart/form-data; boundary=b0undary"
    started = time.monotonic()
    try:  # no Content-Length: requests sends a generator chunked
        response = requests.post(f"{url}/api/{task}", data=_chunks(head, 200), headers={"Content-Type": media},
                                 timeout=120)
        status, error = response.status_code, response.json()["error"]
    except requests.ConnectionError:  # the server closed before the client finished sending
        pytest.fail("the server dropped the connection without its 413")
    assert status == 413 and "over the limit of 2,000,000" in error
    assert time.monotonic() - started < 60
    assert _rss(process.pid) - rss < 20 * 2**20
    assert _folder_bytes(temp) - spooled < 3 * 2**20
    assert requests.get(f"{url}/health").status_code == 200  # and it goes on serving


def test_one_unreadable_photo_among_good_ones_gets_its_own_error_record(served):
    url, _, _ = served
    files = [("files", ("good.png", need(GOOD).read_bytes())), ("files", ("odd.png", _dds_pillow_cannot_read())),
             ("files", ("notes.txt", b"not a photo")), ("files", ("good2.png", GOOD2.read_bytes()))]
    response = requests.post(f"{url}/api/classify", files=files, timeout=120)
    assert response.status_code == 200, response.text
    records = response.json()["records"]
    assert [r["input"] for r in records] == ["good.png", "odd.png", "notes.txt", "good2.png"]
    assert "label" in records[0] and "label" in records[3]
    assert "NotImplementedError" in records[1]["error"] and "not an image" in records[2]["error"]


def test_precise_404_and_405_with_allow(served):
    url, _, _ = served
    for method in ("GET", "PUT", "DELETE"):
        answer = requests.request(method, f"{url}/api/sentiment", timeout=30)
        assert answer.status_code == 405 and answer.headers["allow"] == "POST", (method, answer.text)
        assert "POST" in answer.json()["error"]
    answer = requests.post(f"{url}/health", timeout=30)
    assert answer.status_code == 405 and "GET" in answer.headers["allow"]
    answer = requests.get(f"{url}/api/summarize", timeout=30)
    assert answer.status_code == 404 and "unknown task 'summarize'" in answer.json()["error"]


def test_a_body_of_another_type_is_415(served):
    url, _, _ = served
    answer = requests.post(f"{url}/api/sentiment", data="a fine film", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415 and "application/json" in answer.json()["error"]
    answer = requests.post(f"{url}/api/classify", json={"texts": ["x"]})
    assert answer.status_code == 415 and "multipart/form-data" in answer.json()["error"]


def test_the_openapi_document_states_the_limits_and_the_error_answers(served):
    url, _, _ = served
    document = requests.get(f"{url}/openapi.json").json()
    for task in ("sentiment", "translate", "classify"):
        answers = document["paths"][f"/api/{task}"]["post"]["responses"]
        assert {"200", "400", "413", "415", "422", "504"} <= set(answers)
    texts = document["components"]["schemas"]["Texts"]["properties"]["texts"]
    assert texts["maxItems"] == 40 and texts["minItems"] == 1 and texts["items"]["maxLength"] == 10_000
    assert "2 MB" in document["info"]["description"]


def test_docs_work_offline(served):
    """/docs is a page of this server: nothing in it is fetched from elsewhere."""
    url, _, _ = served
    page = requests.get(f"{url}/docs", timeout=30)
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "http://" not in page.text and "https://" not in page.text and "cdn" not in page.text.lower()


@pytest.mark.slow
def test_a_schema_driven_fuzz_finds_no_server_error(served):
    """Schemathesis, from the served OpenAPI document, on the text routes (bounded):
    no 5xx, no status code the document does not state, the content types it states."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

    url, _, _ = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    checks = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance]
    for operation in schema.get_all_operations():
        operation = operation.ok()
        if operation.path == "/api/translate":
            continue  # the same route as sentiment's, for a model ten times slower

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(base_url=url, checks=checks, timeout=60)

        check()


@pytest.mark.parametrize("task, folder, owner", [("translate", "sentiment-sst2", "sentiment"),
                                                 ("sentiment", "translator-en-fr", "translator"),
                                                 ("translate", "captioner", "captioner"),
                                                 ("sentiment", "geolocator", "geolocator")])
def test_another_tasks_folder_is_refused_in_one_line_naming_its_task(light_run, task, folder, owner):
    code, records, stderr = light_run([task, "--model", need(ROOT / "pretrained" / folder), "I am hungry."])
    assert code == 1 and not records and len(stderr.strip().splitlines()) == 1
    assert folder in stderr and f"(it is a dlkit {owner} model)" in stderr and "Traceback" not in stderr


def test_a_written_folder_names_its_task_when_given_to_another(tmp_path, cli_run):
    """Folders written from now on say in config.json which task wrote them (the shipped
    ones are found through the manifest): the shipped sentiment model written again
    through write_folder, then given to geolocate."""
    import shutil

    from dlkit.core import modelio

    shipped = need(ROOT / "pretrained" / "sentiment-sst2")
    files = {p.name: lambda path, p=p: shutil.copy(p, path) for p in shipped.iterdir() if p.name != "config.json"}
    folder = tmp_path / "mine"
    modelio.write_folder(str(folder), "sentiment", None, json.loads((shipped / "config.json").read_text()), files)
    assert json.loads((folder / "config.json").read_text())["task"] == "sentiment"
    result, records, stderr = cli_run(["geolocate", "--model", folder, "Paris"])
    assert result.exit_code == 1 and not records
    assert "is not a dlkit geolocator" in stderr and "(it is a dlkit sentiment model)" in stderr
    result, records, _ = cli_run(["sentiment", "--model", folder, "What a lovely film."])
    assert result.exit_code == 0 and records[0]["label"] == "positive"


# ---- 6. any Keras image classifier classifies -----------------------------------------------

@pytest.mark.slow
def test_a_plain_keras_classifier_of_non_square_images_classifies(tmp_path, cli_run):
    """A Sequential saved as .keras, taking 24x40 photos and naming no classes: its twin
    is made on first use and the photos are resized to its shape."""
    import numpy as np

    from dlkit.core.runtime import keras

    model = keras.Sequential([keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model(np.zeros((1, 24, 40, 3)))
    model.save(tmp_path / "plain.keras")
    result, records, stderr = cli_run(["classify", "--model", tmp_path / "plain.keras", need(GOOD), GOOD2, "--json"])
    assert result.exit_code == 0, stderr
    assert [r["label"] for r in records] == [r["top"][0]["label"] for r in records]
    assert all(r["label"] in {"class_0", "class_1", "class_2"} for r in records)
