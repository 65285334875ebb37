"""Training that every `dlkit train-*` command shares.

It runs unchanged on a CPU, a GPU, several GPUs (MirroredStrategy) and several machines
(MultiWorkerMirroredStrategy configured by TF_CONFIG), in float32 or mixed precision, and
survives interruptions: Keras' BackupAndRestore checkpoints into a work folder every
epoch (or every N steps) and the same command picks up from there.

    trainer = Trainer(TrainConfig(seed=1), output="model.keras")
    with trainer.scope():
        model = build(); model.compile(..., **trainer.compile_options())
    history = trainer.fit(model, trainer.distribute(train), trainer.distribute(val), epochs=10)
    trainer.save(model, "model.keras")
"""

import contextlib
import json
import os
import shutil
import time

from dlkit.core import files, modelio, runtime
from dlkit.core.config import validate
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.runtime import keras, tf
from dlkit.core.training_config import STRATEGIES, TrainConfig

# ---- Distribution ----------------------------------------------------------------------

def make_strategy(name: str) -> "tf.distribute.Strategy":
    gpus = tf.config.list_logical_devices("GPU")
    if name in ("auto", "one-device"):
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise DlkitError("--strategy multi-worker needs the TF_CONFIG environment variable (see README)")
        return runtime.multi_worker_strategy or tf.distribute.MultiWorkerMirroredStrategy()
    raise DlkitError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def worker() -> tuple[int, bool]:
    """(this worker's index, whether it is the chief) from TF_CONFIG; (0, True) alone."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    index = int(task.get("index", 0))
    kind = task.get("type", "chief")
    has_chief = "chief" in config.get("cluster", {})
    return index, kind == "chief" or (kind == "worker" and index == 0 and not has_chief)


# ---- Training --------------------------------------------------------------------------

class Trainer:
    """Owns the strategy, precision, checkpoints and the final save of one training run."""

    def __init__(self, config: TrainConfig, output: str, events: Events = SILENT):
        validate(config)
        self.config = config
        self.output = output
        self.events = events
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        if config.seed is not None:
            runtime.set_seed(config.seed)
        elif config.deterministic:
            raise DlkitError("--deterministic needs --seed")
        keras.mixed_precision.set_global_policy(config.precision)
        self.strategy = make_strategy(config.strategy)
        self.index, self.is_chief = worker()
        workdir = config.workdir or output.rstrip("/") + ".ckpt"
        # Workers must not overwrite each other's checkpoints in a shared folder.
        self.workdir = workdir if self.is_chief else os.path.join(workdir, f"worker-{self.index}")
        self.resume = config.resume or config.workdir is not None
        self._lock = files.OutputLock(output) if self.is_chief else None
        self._prepare_workdir()

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def scope(self):
        """Build and compile the model inside this, so its variables are placed right."""
        return self.strategy.scope()

    def compile_options(self) -> dict:
        return {"jit_compile": self.config.jit}

    def distribute(self, dataset: "tf.data.Dataset | None") -> "tf.data.Dataset | None":
        """Shard by element across workers: works for any dataset, not only file-based ones."""
        if dataset is None:
            return None
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return dataset.with_options(options)

    def resumed_epoch(self) -> int:
        """The epoch a resumed run starts at (0 for a fresh run)."""
        path = os.path.join(self.workdir, "backup", "training_metadata.json")
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return int(json.load(f).get("epoch", 0))

    def fit(
        self,
        model: "keras.Model",
        train: "tf.data.Dataset",
        validation: "tf.data.Dataset | None",
        epochs: int,
        callbacks: list | None = None,
        monitor: str = "val_loss",
        mode: str = "min",
    ) -> dict:
        """Trains with checkpoints and early stopping; returns the whole history (resumed
        epochs included) as {metric: [per-epoch values]}, plus "seconds"."""
        backup = keras.callbacks.BackupAndRestore(
            os.path.join(self.workdir, "backup"),
            save_freq=self.config.checkpoint_steps or "epoch",
            double_checkpoint=True,  # a kill during a save leaves the previous one usable
            delete_checkpoint=False,  # removed by finish(), after the final model is saved
        )
        log = _HistoryLog(os.path.join(self.workdir, "history.json"))
        extra = [backup, log, keras.callbacks.TerminateOnNaN()]
        if self.config.patience and (validation is not None or not monitor.startswith("val_")):
            extra.append(keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=self.config.patience,
                                                       restore_best_weights=True))
        if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3 builds the model's metrics from the first distributed batch, and that
            # fails under multi-worker strategies (keras-team/keras#20585): build them from a
            # local batch instead and skip Keras' own attempt.
            with self.strategy.scope():
                model._symbolic_build(data_batch=next(iter(train.take(1))))
            model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
            _average_scalar_logs_across_workers()
        start = time.perf_counter()
        try:
            model.fit(train, validation_data=validation, epochs=epochs, verbose=0, shuffle=False,
                      callbacks=[*(callbacks or []), *extra])
        except BaseException:
            # Stopped (Ctrl-C, SIGTERM, an error): the checkpoint stays for --resume, the
            # lock goes, so that the rerun is not refused.
            self.release()
            raise
        history = log.history
        history["seconds"] = log.seconds + (time.perf_counter() - start)
        log.save(history["seconds"])
        return history

    def save(self, model: "keras.Model", path: str) -> None:
        """Writes the final model atomically (the chief only, in a multi-worker run)."""
        if self.is_chief:
            modelio.save_model(model, path)

    def release(self) -> None:
        """Lets another run write this output."""
        if self._lock:
            self._lock.release()

    def finish(self) -> None:
        """Drops the checkpoints once the final model is safely written."""
        self.release()
        if self.is_chief:
            shutil.rmtree(self.config.workdir or self.output.rstrip("/") + ".ckpt", ignore_errors=True)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
            # The chief may have removed the shared folder already, and this worker's
            # last writes re-created it; an empty one is left to nobody, so remove it.
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(self.workdir))

    def _prepare_workdir(self) -> None:
        backup = os.path.join(self.workdir, "backup")
        if os.path.exists(backup) and not self.resume:
            self.events.warning(f"{self.workdir} holds a checkpoint from an interrupted run; starting over "
                                f"(pass --resume to continue it)")
            shutil.rmtree(self.workdir)
        elif self.resume and os.path.exists(backup):
            self.events.message(f"resuming from {self.workdir} (epoch {self.resumed_epoch()})")
        elif self.config.resume:
            self.events.warning(f"--resume: no checkpoint in {self.workdir}; starting from the beginning")
        os.makedirs(self.workdir, exist_ok=True)


def _average_scalar_logs_across_workers() -> None:
    """Keras 3 averages each step's logged metrics across workers along axis 0, which
    fails for scalars (keras-team/keras#20585); average them as scalars instead."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer.reduce_per_replica, "dlkit_patched", False):
        return
    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.dlkit_patched = True
    tf_trainer.reduce_per_replica = reduce_per_replica


class _HistoryLog(keras.callbacks.Callback):
    """Keeps the per-epoch metrics in the work folder, so a resumed run's history and
    training curves cover every epoch, not only those after the restart."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.history: dict[str, list[float]] = {}
        self.seconds = 0.0
        if os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            self.history, self.seconds = saved["history"], saved["seconds"]
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            values = self.history.setdefault(key, [])
            del values[epoch:]  # an epoch redone after a crash replaces its first attempt
            values.append(float(value))
        self.save(self.seconds + time.perf_counter() - self._started)

    def save(self, seconds: float) -> None:
        files.write_json(self.path, {"history": self.history, "seconds": seconds})


class EpochScore(keras.callbacks.Callback):
    """Adds `logs[name] = score()` at the end of each epoch (a validation score that is not
    a Keras metric, such as BLEU from decoding), before the callbacks after it (early
    stopping, learning-rate plateaus, checkpoints) read the logs."""

    def __init__(self, name: str, score):
        super().__init__()
        self.name, self.score = name, score

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.name] = float(self.score())


def halve_on_plateau(monitor: str, patience: int, min_delta: float, mode: str = "max") -> "keras.callbacks.Callback":
    """Halves the learning rate when `monitor` stalls for `patience` epochs (place it after
    the EpochScore that adds a score)."""
    return keras.callbacks.ReduceLROnPlateau(monitor, mode=mode, factor=0.5, patience=patience,
                                             min_delta=min_delta, min_lr=1e-5, verbose=0)


class ProgressBar(keras.callbacks.Callback):
    """Reports training progress to `events`: one progress over all steps of all epochs,
    a message with the metrics after each epoch, and, once the first steps are timed, how
    long the rest will take when that is over a minute: a default sized for a GPU can run
    for hours on a CPU, and the user should hear so at the start, not after waiting.
    `hint` follows that estimate (the options that shorten the run).

    That first estimate counts training steps only; each epoch's message then carries an
    estimate from whole epochs as measured (validation, checkpoints and scores included,
    which the first steps cannot see), so the figure is corrected as training goes."""

    # The first step (tracing, compilation) is not timed; then this many steps, or this
    # many seconds, whichever comes first, before the estimate.
    TIMED_STEPS, TIMED_SECONDS = 10, 20.0
    LONG = 60.0  # seconds still to go beyond which the estimate is reported

    def __init__(self, epochs: int, steps_per_epoch: int | None, description: str = "training",
                 events: Events = SILENT, hint: str | None = None):
        super().__init__()
        self.epochs, self.steps = epochs, steps_per_epoch
        self.description = description
        self.events = events
        self.hint = hint
        self._timed_from: float | None = None
        self._timed = 0
        self._estimated = False
        self._epoch_seconds: list[float] = []

    def on_train_begin(self, logs=None):
        total = self.epochs * self.steps if self.steps else None
        self._context = self.events.progress(total, self.description)
        self._advance = self._context.__enter__()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._epoch_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        fields = {"epoch": f"{self._epoch}/{self.epochs}"}
        if logs and "loss" in logs:
            fields["loss"] = float(logs["loss"])
        self._advance(1, **fields)
        if not self._estimated and self.steps:
            self._estimate(batch)

    def _estimate(self, batch: int) -> None:
        now = time.perf_counter()
        if self._timed_from is None:
            self._timed_from = now
            return
        self._timed += 1
        elapsed = now - self._timed_from
        if self._timed < self.TIMED_STEPS and elapsed < self.TIMED_SECONDS:
            return
        self._estimated = True
        per_step = elapsed / self._timed
        left = (self.epochs - self._epoch) * self.steps + self.steps - batch - 1  # steps, a resumed run's too
        if per_step * left >= self.LONG:
            self.events.message(f"{self.description}: about {duration(per_step * left)} to go ({left:,} steps at "
                                f"{per_step:.2g} s each)" + (f"; {self.hint}" if self.hint else ""))

    def on_epoch_end(self, epoch, logs=None):
        self._epoch_seconds.append(time.perf_counter() - self._epoch_started)
        shown = {k: round(float(v), 4) for k, v in (logs or {}).items() if not k.startswith("learning_rate")}
        line = f"epoch {epoch + 1}/{self.epochs}: " + "  ".join(f"{k} {v}" for k, v in shown.items())
        left = self.epochs - epoch - 1
        if left:
            line += f"; about {duration(left * self.per_epoch())} to go"
        self.events.message(line)

    def per_epoch(self) -> float:
        """Seconds an epoch takes, as measured: the first epoch also traces and compiles the
        model, so it counts only until later epochs are timed."""
        timed = self._epoch_seconds[1:] or self._epoch_seconds
        return sum(timed) / len(timed)

    def on_train_end(self, logs=None):
        self._context.__exit__(None, None, None)


def duration(seconds: float) -> str:
    """A rough duration for people: "40 s", "12 min", "3 h 05 min"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def steps_in(dataset: "tf.data.Dataset") -> int | None:
    steps = int(dataset.cardinality())
    return steps if steps >= 0 else None


def learning_rate_schedule(kind: str, initial: float, steps_per_epoch: int, decay_epochs: int = 3,
                           rate: float = 0.5) -> "float | keras.optimizers.schedules.LearningRateSchedule":
    """constant, step (multiply by `rate` every `decay_epochs`) or exponential decay."""
    if kind == "constant":
        return initial
    decay_steps = max(1, steps_per_epoch * decay_epochs)
    if kind in ("step", "exponential"):
        return keras.optimizers.schedules.ExponentialDecay(
            initial, decay_steps=decay_steps, decay_rate=rate, staircase=kind == "step")
    raise DlkitError(f"unknown learning-rate schedule {kind!r}; choose constant, step or exponential")


def summary(history: dict, **extra) -> dict:
    """The final JSON record of a training command: last-epoch metrics, epochs, time."""
    record = {k: round(v[-1], 6) for k, v in history.items() if isinstance(v, list) and v}
    record.update(epochs=len(next((v for v in history.values() if isinstance(v, list)), [])),
                  seconds=round(history.get("seconds", 0.0), 1))
    record.update(extra)
    return record
