"""The shared trainer: checkpoints, resuming, history, and multi-replica equivalence."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


def _data(tf, n=256):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(32)


def _model(keras, trainer):
    with trainer.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
        model.compile(keras.optimizers.Adam(0.01), "mse", **trainer.compile_options())
    return model


def test_fit_checkpoints_resumes_and_cleans_up(tmp_path):
    from dlkit.core.runtime import keras, tf
    from dlkit.core.training import TrainConfig, Trainer

    out = str(tmp_path / "m.keras")
    trainer = Trainer(TrainConfig(seed=1, patience=None), out)
    model = _model(keras, trainer)
    history = trainer.fit(model, _data(tf), _data(tf, 64), epochs=2)
    assert len(history["loss"]) == 2 and history["val_loss"][-1] < history["val_loss"][0] * 1.5
    assert trainer.resumed_epoch() == 2  # checkpoint left for a rerun

    # the same run asked for 4 epochs resumes at epoch 2: two more, history continuous
    trainer = Trainer(TrainConfig(seed=1, patience=None, resume=True), out)
    model = _model(keras, trainer)
    history = trainer.fit(model, _data(tf), _data(tf, 64), epochs=4)
    assert len(history["loss"]) == 4 and history["loss"][3] < history["loss"][0]
    trainer.save(model, out)
    trainer.finish()
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]


def test_stale_checkpoint_without_resume_starts_over(tmp_path):
    from dlkit.core.runtime import keras, tf
    from dlkit.core.training import TrainConfig, Trainer

    out = str(tmp_path / "m.keras")
    trainer = Trainer(TrainConfig(seed=1, patience=None), out)
    trainer.fit(_model(keras, trainer), _data(tf), None, epochs=1)
    trainer = Trainer(TrainConfig(seed=1, patience=None), out)
    assert trainer.resumed_epoch() == 0


class _Recorded:
    """Events that keep what they were told."""

    def __init__(self):
        self.messages, self.warnings = [], []

    def message(self, text):
        self.messages.append(text)

    def warning(self, text):
        self.warnings.append(text)

    def progress(self, total, description):
        import contextlib

        return contextlib.nullcontext(lambda *args, **fields: None)


def test_resume_without_a_checkpoint_says_it_starts_over(tmp_path):
    from dlkit.core.training import TrainConfig, Trainer

    events = _Recorded()
    Trainer(TrainConfig(seed=1, patience=None, resume=True), str(tmp_path / "m.keras"), events)
    assert events.warnings == [f"--resume: no checkpoint in {tmp_path / 'm.keras.ckpt'}; starting from the beginning"]
    events = _Recorded()
    Trainer(TrainConfig(seed=1, patience=None), str(tmp_path / "n.keras"), events)  # no --resume: nothing to say
    assert events.warnings == []


def test_each_epoch_corrects_the_estimate_from_whole_epochs_as_measured(monkeypatch):
    """The first steps cannot see validation or checkpoints; each epoch's line says how
    long the rest takes at the epochs' measured pace (the first, which also compiles,
    counts only until later ones are timed)."""
    from dlkit.core import training

    clock = [0.0]
    monkeypatch.setattr(training.time, "perf_counter", lambda: clock[0])
    events = _Recorded()
    bar = training.ProgressBar(epochs=4, steps_per_epoch=2, events=events)
    bar.on_train_begin()
    for epoch, seconds in enumerate([100.0, 40.0, 50.0, 45.0]):
        bar.on_epoch_begin(epoch)
        clock[0] += seconds
        bar.on_epoch_end(epoch, {"loss": 1.0})
    bar.on_train_end()
    assert [m.split("; ")[-1] for m in events.messages] == ["about 5 min to go", "about 80 s to go",
                                                            "about 45 s to go", "epoch 4/4: loss 1.0"]


MIRRORED = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_training import _data, _model
from dlkit.core import runtime
runtime.setup("cpu")
from dlkit.core.runtime import keras, tf
from dlkit.core.training import TrainConfig, Trainer
losses = {}
for strategy in ["one-device", "mirrored"]:
    trainer = Trainer(TrainConfig(seed=3, strategy=strategy, patience=None), sys.argv[2] + strategy + ".keras")
    model = _model(keras, trainer)
    history = trainer.fit(model, trainer.distribute(_data(tf)), None, epochs=3)
    losses[strategy] = {"replicas": trainer.replicas, "loss": history["loss"]}
print(json.dumps(losses))
"""


@pytest.mark.slow
def test_mirrored_over_two_cpu_devices_matches_one_device(tmp_path):
    env = dict(os.environ, DLKIT_CPU_DEVICES="2")
    result = subprocess.run([sys.executable, "-c", MIRRORED, os.path.dirname(__file__), str(tmp_path) + "/"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    losses = json.loads(result.stdout.strip().splitlines()[-1])
    assert losses["mirrored"]["replicas"] == 2 and losses["one-device"]["replicas"] == 1
    np.testing.assert_allclose(losses["mirrored"]["loss"], losses["one-device"]["loss"], rtol=1e-3)
