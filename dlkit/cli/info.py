import json
import platform

import click

from dlkit import __version__
from dlkit.cli.common import device_option, handle_errors, start


@click.command()
@device_option
@handle_errors
def info(device):
    """Show versions, the devices TensorFlow sees, and where weights are cached.

    \b
    Example:
      dlkit info
    """
    from dlkit import runtime

    used = start(device)
    report = {
        "dlkit": __version__,
        "python": platform.python_version(),
        "tensorflow": runtime.tf.__version__,
        "keras": runtime.keras.__version__,
        "device": used,
        "devices": runtime.devices(),
        "keras_cache": runtime.keras_cache_dir(),
    }
    click.echo(json.dumps(report, indent=2))
