"""What every command shares: output options, start-up, errors and signals.

Task commands declare their settings once, in their Config dataclass;
`dlkit.core.config.options` and `from_params` turn those into Click options and back.
Nothing here imports TensorFlow, so `dlkit COMMAND --help` answers at once.
"""

import functools
import os
import signal
import sys

import click

from dlkit.cli.output import ConsoleEvents, error_line
from dlkit.core.config import from_params, options
from dlkit.core.errors import DlkitError
from dlkit.engines import EngineConfig

# Exit codes: 0 all done; 1 some items failed, or a failure stopped the command; 2 bad
# usage (Click's); a signal stops it with 128 + its number, as shells report it.
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


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
                        show_default=True, help="Where to run; auto uses a GPU when one is there (through ONNX Runtime's "
                             "CUDA provider for inference, TensorFlow's for training).")(fn)


def events(quiet: bool = False) -> ConsoleEvents:
    """What the library reports, shown on stderr (messages and progress bars unless quiet)."""
    return ConsoleEvents(quiet)


def start_light(device: str = "auto") -> None:
    """Sets up an inference command: its ONNX twins go to `device` (no TensorFlow)."""
    from dlkit.core import twins

    twins.use_device(device)


def start(device: str = "auto", seed: int | None = None, strategy: str | None = None) -> str:
    """Sets up TensorFlow for a command; returns the device in use. A multi-worker
    strategy must exist before any op runs: a training command passes its --strategy."""
    from dlkit.core import runtime

    try:
        return runtime.setup(device, seed, strategy)
    except runtime.DeviceError as e:
        raise DlkitError(str(e)) from None


class Terminated(BaseException):
    """SIGTERM, raised where the command is, so that it unwinds like Ctrl-C does: files
    being written are dropped (atomic writes) and records already printed stay."""


def _on_sigterm(signum, frame):
    raise Terminated()


def handle_errors(fn):
    """Expected failures become one line on stderr and exit 1 (a bad item inside a batch
    is a record instead, and exits 1 at the end); Ctrl-C exits 130 and SIGTERM 143, each
    with one line; a closed pipe (`| head`) exits 0."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return fn(*args, **kwargs)
        except DlkitError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            _stopped("interrupted", EXIT_INTERRUPTED)
        except Terminated:
            _stopped("terminated", EXIT_TERMINATED)
        except BrokenPipeError:
            _closed_pipe()
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper


def stop_cleanly(run) -> None:
    """Runs the whole command line (`dlkit.cli.main`) so that a signal during start-up
    (importing TensorFlow, before a command's own handler is set) stops it the same way."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        run()
    except Terminated:
        _stopped("terminated", EXIT_TERMINATED)
    except KeyboardInterrupt:
        _stopped("interrupted", EXIT_INTERRUPTED)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped(what: str, code: int) -> None:
    _flush_quietly()
    error_line(f"{what}; records already written are complete")
    sys.exit(code)


def _closed_pipe() -> None:
    """The reader went away (`| head`): what it wanted was written; exit quietly, and keep
    Python from complaining again when it flushes stdout at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)


def _flush_quietly() -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


# --engine local|ray and Ray's settings, for the commands that answer many inputs.
engine_options = options(EngineConfig)


def engine(params: dict) -> EngineConfig:
    """The engine settings from a command's parameters (the options engine_options added)."""
    return from_params(EngineConfig, params)
