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


def start(device: str = "auto", seed: int | None = None, quiet: bool = False) -> str:
    """Sets up output and TensorFlow for a command; returns the device in use."""
    from dlkit import runtime

    output.quiet = quiet
    try:
        return runtime.setup(device, seed)
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
