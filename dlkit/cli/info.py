import json
import platform
import sys

import click

from dlkit import __version__
from dlkit.cli.common import device_option, handle_errors, start, start_light
from dlkit.core.errors import DlkitError
from dlkit.core.records import json_line


@click.command()
@click.option("--strategy", type=click.Choice(["auto", "one-device", "mirrored", "multi-worker"]), default="auto",
              show_default=True, help="Report what a training command with this --strategy would use.")
@device_option
@handle_errors
def info(strategy, device):
    """Show versions, the devices inference (ONNX Runtime) and training (TensorFlow) can
    use, where weights are cached, and the distribution strategy and replicas a training
    command would use: indented JSON in a terminal, one JSON line when piped (as every
    command's records). In a light install (no TensorFlow), the training fields say
    what to install.

    \b
    Examples:
      dlkit info
      dlkit info --strategy mirrored
    """
    import onnxruntime

    from dlkit.core import twins

    report = {
        "dlkit": __version__,
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "inference_providers": twins.providers(device),
    }
    try:
        from dlkit.core import runtime, training
    except DlkitError:  # a light install
        start_light(device)
        report["tensorflow"] = None
        report["training"] = f"needs TensorFlow: {twins.TRAIN_EXTRA}"
    else:
        used = start(device, strategy=strategy)
        chosen = training.make_strategy(strategy)
        report.update({
            "tensorflow": runtime.tf.__version__,
            "keras": runtime.keras.__version__,
            "device": used,
            "devices": runtime.devices(),
            "strategy": type(chosen).__name__,
            "replicas": chosen.num_replicas_in_sync,
            "keras_cache": runtime.keras_cache_dir(),
        })
    click.echo(json.dumps(report, indent=2) if sys.stdout.isatty() else json_line(report))
