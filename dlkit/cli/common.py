"""Options and error handling that every command shares."""

import functools
import sys

import click

from dlkit import output
from dlkit.errors import DlkitError


def output_options(fn):
    """--json/--table, --quiet and --verbose."""
    fn = click.option("--verbose", is_flag=True,
                      help="Let TensorFlow's own log messages through.")(fn)
    fn = click.option("-q", "--quiet", is_flag=True, help="No progress bars or messages on stderr.")(fn)
    fn = click.option("--json/--table", "json_lines", default=None,
                      help="Force JSON Lines or a table (default: table in a terminal, JSON Lines otherwise).")(fn)
    return fn


def device_option(fn):
    return click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
                        show_default=True, help="Where to run; auto uses a GPU when TensorFlow sees one.")(fn)


def seed_option(fn):
    return click.option("--seed", type=int, default=None, help="Seed Python, NumPy and TensorFlow for reproducible runs.")(fn)


def start(device: str = "auto", seed: int | None = None, quiet: bool = False, strategy: str | None = None) -> str:
    """Sets up output and TensorFlow for a command; returns the device in use.

    A multi-worker strategy must exist before any op runs, so a command's --strategy
    (added by training_options) is honoured here even when not passed explicitly."""
    from dlkit import runtime

    output.quiet = quiet
    if strategy is None:
        context = click.get_current_context(silent=True)
        strategy = context.params.get("strategy") if context else None
    try:
        return runtime.setup(device, seed, strategy)
    except runtime.DeviceError as e:
        raise DlkitError(str(e)) from None


def handle_errors(fn):
    """Expected failures become one line on stderr and exit 1; Ctrl-C exits 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DlkitError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            output.console().print("interrupted")
            sys.exit(130)

    return wrapper


def training_options(fn):
    """Distribution, precision, reproducibility and checkpoint options of every train- command."""
    options = [
        click.option("--strategy", type=click.Choice(["auto", "one-device", "mirrored", "multi-worker"]),
                     default="auto", show_default=True,
                     help="auto: one GPU or the CPU; mirrored: all local GPUs; multi-worker: machines in TF_CONFIG."),
        click.option("--precision", type=click.Choice(["float32", "mixed_float16", "mixed_bfloat16"]),
                     default="float32", show_default=True, help="Mixed precision speeds up modern GPUs."),
        click.option("--jit/--no-jit", default=False, help="Compile training steps with XLA."),
        click.option("--seed", type=int, default=None, help="Seed Python, NumPy and TensorFlow."),
        click.option("--deterministic", is_flag=True, help="Bit-identical reruns (needs --seed; slower)."),
        click.option("--workdir", type=click.Path(file_okay=False), default=None,
                     help="Checkpoint folder [default: OUTPUT.ckpt]; given explicitly, a rerun resumes from it."),
        click.option("--resume", is_flag=True, help="Continue an interrupted run from its checkpoint."),
        click.option("--checkpoint-steps", type=click.IntRange(1), default=None,
                     help="Also checkpoint every N steps (for long epochs)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


TRAINING_KEYS = ("strategy", "precision", "jit", "seed", "deterministic", "workdir", "resume", "checkpoint_steps")


def train_config(kwargs: dict, **overrides):
    """A TrainConfig from a command's keyword arguments (the keys training_options adds)."""
    from dlkit.training import TrainConfig

    return TrainConfig(**{k: kwargs[k] for k in TRAINING_KEYS if k in kwargs}, **overrides)
