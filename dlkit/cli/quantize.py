import click

from dlkit.cli import output
from dlkit.cli.common import handle_errors, output_options, start


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.option("-o", "--output", "output_path", required=True, type=click.Path(),
              help="The quantized copy: a .keras file, or a folder for a model folder.")
@output_options
@handle_errors
def quantize(model, output_path, json_lines, quiet, verbose):
    """Store a model's Dense, Embedding and attention weights as int8: a smaller file to ship.

    MODEL is a .keras file or a dlkit model folder (translator, captioner, sentiment
    model, ...). Recurrent and convolution layers stay float32. Check the copy with the
    task's evaluate- command before shipping it.

    \b
    Examples:
      dlkit quantize en-fr/ -o en-fr-int8/
      dlkit evaluate-translator fra.txt --model en-fr-int8/
    """
    from dlkit import tasks
    from dlkit.core import modelio

    start("cpu")
    tasks.import_layers()  # any dlkit model may be given, with any task's layers
    out = output.Output(json_lines)
    out.emit(modelio.quantize(model, output_path))
    raise SystemExit(out.close())
