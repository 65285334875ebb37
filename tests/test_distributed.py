"""Training that scales and survives: multi-worker runs of a real `dlkit train-classifier`
and a run killed with SIGKILL that resumes from its checkpoint (LeNet-5 on MNIST)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import class_slice

pytestmark = pytest.mark.slow  # servers, exports and worker processes: minutes in all

EPOCHS = 10


@pytest.fixture(scope="module")
def digits(mnist, tmp_path_factory):
    """60 MNIST digits per class, as PNG class folders written by `dlkit import-mnist`."""
    return class_slice(mnist / "train", tmp_path_factory.mktemp("digits") / "small", 60)


def _train(digits, out, *extra):
    return [sys.executable, "-m", "dlkit", "train-classifier", str(digits), "-o", str(out), "--arch", "lenet5",
            "--no-augment", "--batch-size", "16", "--seed", "1", "--patience", "50", "--json", *extra]


def test_a_killed_run_resumes_from_its_checkpoint(digits, tmp_path):
    out = tmp_path / "lenet.keras"
    metadata = tmp_path / "lenet.keras.ckpt" / "backup" / "training_metadata.json"
    first = subprocess.Popen(_train(digits, out, "--epochs", str(EPOCHS)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and first.poll() is None:
        if metadata.exists() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 2:
            break
        time.sleep(0.2)
    assert first.poll() is None, "training ended before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert not out.exists()  # no half-written model
    done = json.loads(metadata.read_text())["epoch"]

    second = subprocess.run(_train(digits, out, "--epochs", str(EPOCHS), "--resume"), capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    resumed_at = int(re.search(r"resuming from .* \(epoch (\d+)\)", second.stderr).group(1))
    assert resumed_at >= done >= 2
    epochs_run = re.findall(rf"epoch (\d+)/{EPOCHS}:", second.stderr)
    assert [int(e) for e in epochs_run] == list(range(resumed_at + 1, EPOCHS + 1))  # no epoch redone
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["epochs"] == EPOCHS  # the history covers the epochs before the kill too
    assert out.exists() and not (tmp_path / "lenet.keras.ckpt").exists()
    assert summary["val_accuracy"] > 0.5  # ten classes: chance is 0.1


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_worker_training_on_localhost_saves_one_model(digits, tmp_path, cli_run):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    out = tmp_path / "lenet.keras"
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(_train(digits, out, "--epochs", "2", "--strategy", "multi-worker"),
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    results = [p.communicate(timeout=300) for p in processes]
    for process, (stdout, stderr) in zip(processes, results):
        assert process.returncode == 0, stderr[-2000:]
    chief = json.loads(results[0][0].strip().splitlines()[-1])
    assert chief["epochs"] == 2
    # one model, its ONNX twin and its curves; no checkpoints or temporary files of either worker left
    assert sorted(os.listdir(tmp_path)) == ["lenet.curves.png", "lenet.keras", "lenet.onnx"]
    result, records, _ = cli_run(["classify", "--model", out, next((digits / "3").iterdir())])
    assert result.exit_code == 0 and records[0]["label"] in [str(d) for d in range(10)]
