"""--engine ray: a real two-node Ray cluster on loopback, started and stopped here; the
records equal the local engine's, in order, and a worker killed mid-run loses or
repeats none of them."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DATA, PHOTOS, need, tsv_rows

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head on 127.0.0.1 and a second node joining it (one CPU each), as
    `ray start` makes them on real machines; actors write their pid to a folder so that
    a test can kill one. Token authentication is off: a loopback cluster of this test's
    own (a real cluster's token reaches dlkit through Ray's own settings)."""
    pids = tmp_path_factory.mktemp("ray-pids")
    os.environ.update(DLKIT_RAY_PID_DIR=str(pids), RAY_AUTH_MODE="disabled", RAY_DISABLE_USAGE_STATS="1")
    port = _free_port()
    common = ["--num-cpus=1", "--object-store-memory=150000000", "--node-ip-address=127.0.0.1"]
    try:
        subprocess.run(["ray", "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(["ray", "start", f"--address=127.0.0.1:{port}", *common], check=True, capture_output=True,
                       timeout=120)
        yield f"127.0.0.1:{port}", pids
    finally:
        subprocess.run(["ray", "stop", "--force"], capture_output=True, timeout=120)
        for name in ("DLKIT_RAY_PID_DIR", "RAY_AUTH_MODE", "RAY_DISABLE_USAGE_STATS"):
            os.environ.pop(name, None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _dlkit(*args, input: bytes | None = None, timeout: float = 600) -> tuple[int, list[dict], str]:
    result = subprocess.run([sys.executable, "-m", "dlkit", *map(str, args)], input=input, capture_output=True,
                            timeout=timeout)
    records = [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]
    return result.returncode, records, result.stderr.decode()


def _sentences(count: int) -> bytes:
    texts = [text.encode() for text, _ in tsv_rows(DATA / "sst2" / "test_is_glue_dev.tsv", count)]
    return b"\n".join(texts[:5] + [b"", b"caf\xe9 [/b]"] + texts[5:]) + b"\n"  # an empty and a non-UTF-8 line


@pytest.mark.slow
def test_sentiment_on_two_ray_nodes_equals_the_local_engine(cluster):
    address, _ = cluster
    stdin = _sentences(60)
    code, local, _ = _dlkit("sentiment", "--json", "-", input=stdin)
    ray_code, remote, stderr = _dlkit("sentiment", "--json", "-", "--engine", "ray", "--address", address,
                                      "--workers", "2", "-b", "8", input=stdin)
    assert (code, ray_code) == (1, 1), stderr  # the empty line is an error record in both
    assert remote == local and len(remote) == 62
    assert remote[5] == {"input": "", "error": "empty text"}


@pytest.mark.slow
def test_classify_on_ray_equals_the_local_engine(cluster, tmp_path):
    address, _ = cluster
    photos = [need(PHOTOS / name) for name in ("chelsea.png", "coffee.png", "rocket.jpg")] + [tmp_path / "gone.jpg"]
    code, local, _ = _dlkit("classify", "--json", *photos)
    ray_code, remote, stderr = _dlkit("classify", "--json", *photos, "--engine", "ray", "--address", address,
                                      "--workers", "2", "-b", "2")
    assert (code, ray_code) == (1, 1), stderr
    assert remote == local and remote[-1]["error"] == "no such file"


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_repeats_no_record(cluster, tmp_path):
    address, pids = cluster
    for old in pids.iterdir():
        old.unlink()
    # enough batches that the light predictors (thousands of lines a second) are still busy when one is killed
    texts = [f"a film number {i} that I {'loved' if i % 2 else 'hated'}" for i in range(40000)]
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join(texts) + "\n")
    with open(lines, "rb") as stdin:
        process = subprocess.Popen(
            [sys.executable, "-m", "dlkit", "sentiment", "--json", "-", "--engine", "ray", "--address", address,
             "--workers", "2", "-b", "4"], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    started = sorted(pids.iterdir())
    assert started, "no Ray worker started"
    time.sleep(2)  # let it answer some batches first
    os.kill(int(started[0].name), signal.SIGKILL)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err.decode()[-2000:]
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert [r["input"] for r in records] == texts  # every record once, in order
    assert len(list(pids.iterdir())) > len(started)  # Ray restarted the killed worker


def test_the_ray_engine_without_ray_says_how_to_install_it(cli_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    result, _, stderr = cli_run(["sentiment", "--engine", "ray", "good film"])
    assert result.exit_code == 1 and 'pip install "dlkit[ray]"' in stderr


def test_shards_need_the_ray_engine(cli_run, tmp_path):
    result, _, stderr = cli_run(["sentiment", "--output-dir", tmp_path / "out", "good film"])
    assert result.exit_code == 1 and "--output-dir writes Ray's shards" in stderr


@pytest.mark.slow
def test_records_can_be_written_as_shards(cluster, tmp_path):
    address, _ = cluster
    code, summary, stderr = _dlkit("sentiment", "--json", "--engine", "ray", "--address", address,
                                   "--output-dir", tmp_path / "shards", "good film", "dull film", "")
    assert code == 0, stderr
    assert summary == [{"input": "3 items", "output_dir": str(tmp_path / "shards"), "records": 3, "errors": 1,
                        "format": "jsonl"}]
    written = [json.loads(line) for shard in sorted(Path(tmp_path / "shards").iterdir())
               for line in shard.read_text().splitlines()]
    assert [r["input"] for r in written] == ["good film", "dull film", ""]  # shard names keep the order
    assert written[2] == {"input": "", "error": "empty text"}

    pyarrow = pytest.importorskip("pyarrow.parquet")
    code, _, stderr = _dlkit("sentiment", "--json", "--engine", "ray", "--address", address, "--output-dir",
                             tmp_path / "parquet", "--output-format", "parquet", "good film", "dull film")
    assert code == 0, stderr
    table = pyarrow.read_table(tmp_path / "parquet").to_pylist()
    assert [(r["input"], r["label"]) for r in table] == [("good film", "positive"), ("dull film", "negative")]


@pytest.mark.slow
def test_stylize_and_predict_svm_on_ray_equal_the_local_engine(cluster, tmp_path):
    """The commands that run a predictor but were written before --engine was everywhere."""
    from conftest import PETS, class_slice, tiny_stylizer

    from dlkit.tasks import svm

    address, _ = cluster
    ray_args = ("--engine", "ray", "--address", address, "--workers", "2")
    photos = [need(PHOTOS / name) for name in ("chelsea.png", "coffee.png")] + [tmp_path / "gone.jpg"]
    svm.train(str(class_slice(PETS / "train", tmp_path / "pets", 6)), str(tmp_path / "svm"),
              features=svm.FeaturesConfig(backbone="sobel"))
    code, local, _ = _dlkit("predict-svm", "--json", "--model", tmp_path / "svm", *photos)
    ray_code, remote, stderr = _dlkit("predict-svm", "--json", "--model", tmp_path / "svm", *photos, *ray_args)
    assert (code, ray_code) == (1, 1), stderr
    assert remote == local and remote[-1]["error"] == "no such file"

    stylizer = tiny_stylizer(tmp_path / "tiny.keras")
    _, local, _ = _dlkit("stylize", "--json", "--model", stylizer, *photos[:2], "-o", tmp_path / "here")
    ray_code, remote, stderr = _dlkit("stylize", "--json", "--model", stylizer, *photos[:2], "-o",
                                      tmp_path / "there", *ray_args)
    assert ray_code == 0, stderr
    assert [Path(r["output"]).name for r in remote] == [Path(r["output"]).name for r in local] == \
        ["chelsea.jpg", "coffee.jpg"]
    for name in ("chelsea.jpg", "coffee.jpg"):  # the same pictures, as JPEG writes them
        assert (tmp_path / "there" / name).read_bytes() == (tmp_path / "here" / name).read_bytes()
