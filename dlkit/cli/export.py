import click

from dlkit.cli.common import events, handle_errors, output_options, start
from dlkit.cli import output


@click.command()
@click.argument("model")
@click.option("-f", "--format", "format_", type=click.Choice(["saved_model", "tflite", "onnx"]), required=True,
              help="saved_model (a folder), tflite (LiteRT) or onnx (needs `pip install 'dlkit[export]'`).")
@click.option("-o", "--output", "output_path", required=True, type=click.Path(),
              help="A new folder for saved_model and for a captioner's or translator's export; "
                   "a .tflite or .onnx file otherwise.")
@output_options
@handle_errors
def export(model, format_, output_path, json_lines, quiet, verbose):
    """Export a model for another runtime, checked against Keras on the spot.

    MODEL is a .keras file (a trained classifier, a fast stylizer), a dlkit model folder
    (sentiment, geolocator: their network) or an ImageNet backbone's name (mobilenet_v2,
    ...: its classifier, taking RGB pixels 0..255). A captioner or translator folder is
    exported as its encoder and its one-token decoder step (SavedModel signatures
    `encode` and `step`, or encode.onnx and step.onnx) with its vocabulary and a
    decoding.json: a runtime calls encode once, then step once per token. The export is
    run by its own runtime on a few inputs; the largest difference from Keras' outputs
    (relative to their scale) is printed, and an export over the tolerance is not written.
    LiteRT cannot express recurrent models (sentiment BiLSTM, captioner, translator) nor
    the any-size fast stylizer with its builtin ops: export those as saved_model or onnx.

    \b
    Examples:
      dlkit export mobilenet_v2 --format tflite -o mobilenet_v2.tflite
      dlkit export pets.keras --format onnx -o pets.onnx
      dlkit export sentiment-model/ --format saved_model -o sentiment-savedmodel/
      dlkit export translator/ --format onnx -o translator-onnx/
    """
    from dlkit import export as exporting

    start("cpu")  # the check compares against Keras on the CPU, as the runtimes run
    out = output.Output(json_lines)
    out.emit(exporting.export(model, output_path, format_, events=events(quiet)))
    raise SystemExit(out.close())
