"""The settings every training run shares (strategy, precision, checkpoints, seeds),
apart from dlkit.core.training so that commands can declare their options without
importing TensorFlow."""

from dataclasses import dataclass

from dlkit.core.config import setting

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


# ---- Configuration ---------------------------------------------------------------------

@dataclass
class TrainConfig:
    # auto: one GPU if TensorFlow sees one, else the CPU; mirrored: every local GPU (or
    # every logical CPU device, see DLKIT_CPU_DEVICES); multi-worker: the machines in TF_CONFIG.
    strategy: str = setting("auto", "auto: one GPU or the CPU; mirrored: all local GPUs; "
                            "multi-worker: machines in TF_CONFIG.", choices=STRATEGIES)
    # float32 is safe everywhere; mixed_float16 roughly doubles speed on modern GPUs.
    precision: str = setting("float32", "Mixed precision speeds up modern GPUs.", choices=PRECISIONS)
    # XLA compilation: faster steps on GPUs, slower start; off by default for quick runs.
    jit: bool = setting(False, "Compile training steps with XLA.")
    seed: int | None = setting(None, "Seed Python, NumPy and TensorFlow.")
    # Bit-identical reruns at some speed cost (TensorFlow's op determinism).
    deterministic: bool = setting(False, "Bit-identical reruns (needs --seed; slower).", flags=("--deterministic",))
    # Where checkpoints go; default: beside the output, named <output>.ckpt.
    workdir: str | None = setting(None, "Checkpoint folder [default: OUTPUT.ckpt]; given explicitly, a rerun "
                                  "resumes from it.")
    # Continue from the checkpoint in workdir (implied when workdir is given explicitly).
    resume: bool = setting(False, "Continue an interrupted run from its checkpoint.", flags=("--resume",))
    # Also checkpoint every N steps, for epochs long enough that losing one hurts.
    checkpoint_steps: int | None = setting(None, "Also checkpoint every N steps (for long epochs).", min=1)
    # Early stopping: epochs without a better validation figure; 0 or None never stops
    # early. Each task's description gives its own default (dlkit.core.task.Train.patience).
    patience: int | None = setting(3, "Stop after this many epochs without a better validation figure "
                                   "(0: never stop early).", min=0)
