"""`dlkit visualize` and its subcommands: filters, activations, saliency, features.

Each is a thin face over a function of .pictures (imported when the command runs, so
`--help` needs no TensorFlow); every output path is checked before any work.
"""

import click

from dlkit.cli.common import device_option, handle_errors, output_options, start
from dlkit.cli import output
from dlkit.core.config import from_params, options
from dlkit.tasks.visualize.config import Config

MODEL_HELP = "an ImageNet backbone (mobilenet_v2, resnet50, ...) or a .keras classifier from dlkit train-classifier"

picture_option = click.option("-o", "--output", "output_path", required=True, type=click.Path(dir_okay=False),
                              help="The picture to write (.png or .jpg).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def visualize():
    """See inside image networks: what the first layer detects, what each layer responds
    to in a photo, where the network looks for a class, and how its features cluster.

    \b
    Examples:
      dlkit visualize filters mobilenet_v2 -o filters.png
      dlkit visualize activations mobilenet_v2 cat.jpg -o act.png
      dlkit visualize saliency cat.jpg -o cam.png
      dlkit visualize saliency cat.jpg --model pets.keras --class dogs -o cam.png
      dlkit extract-features pets/ -o pets.npz && dlkit visualize features pets.npz -o map.png

    MODEL is an ImageNet backbone (mobilenet_v2, resnet50, ...) or a .keras classifier
    from dlkit train-classifier.
    """


def _emit(json_lines, record: dict):
    out = output.Output(json_lines)
    out.emit(record)
    raise SystemExit(out.close())


@visualize.command("filters")
@click.argument("model")
@picture_option
@output_options
@device_option
@handle_errors
def filters_command(model, output_path, json_lines, quiet, verbose, device):
    """The first convolution layer's kernels of MODEL as a grid of tiles.

    \b
    Examples:
      dlkit visualize filters mobilenet_v2 -o filters.png
      dlkit visualize filters pets.keras -o pets-filters.png
    """
    from dlkit.tasks.visualize import network, pictures

    pictures.check_picture(output_path)
    start(device)
    picture = network.filters(network.load(model))
    _emit(json_lines, {"input": model, "output": pictures.save(picture, output_path)})


@visualize.command("activations")
@click.argument("model")
@click.argument("image")
@click.option("--layers", "layer_names", default=None,
              help="Comma-separated layer names, early to deep [default: four spread over the network].")
@options(Config, only=("channels",))
@picture_option
@output_options
@device_option
@handle_errors
def activations_command(model, image, layer_names, output_path, json_lines, quiet, verbose, device, **params):
    """The feature maps of chosen layers of MODEL for the photo IMAGE, early to deep.

    \b
    Examples:
      dlkit visualize activations mobilenet_v2 cat.jpg -o act.png
      dlkit visualize activations mobilenet_v2 cat.jpg --layers Conv1_relu,block_6_expand_relu,out_relu -o act.png
    """
    from dlkit.tasks.visualize import network, pictures

    pictures.check_picture(output_path)
    pictures.check_image(image)
    config = from_params(Config, params)
    names = [n.strip() for n in layer_names.split(",") if n.strip()] if layer_names else None
    start(device)
    picture = network.activations(network.load(model), image, names, config.channels)
    _emit(json_lines, {"input": image, "output": pictures.save(picture, output_path)})


@visualize.command("saliency")
@click.argument("image")
@click.option("--model", default=None, help=f"The network: {MODEL_HELP} [default: mobilenet_v2].")
@click.option("--class", "label", default=None,
              help="The class to explain, by name (an ImageNet label such as tabby, or your classifier's) "
                   "[default: the predicted class].")
@options(Config, only=("method", "alpha"))
@picture_option
@output_options
@device_option
@handle_errors
def saliency_command(image, model, label, output_path, json_lines, quiet, verbose, device, **params):
    """A heat-map over the photo IMAGE of where the network finds a class: Grad-CAM or
    plain gradient saliency. Prints the class and its probability.

    \b
    Examples:
      dlkit visualize saliency cat.jpg -o cam.png
      dlkit visualize saliency cat.jpg --class tabby --method gradient -o grad.png
      dlkit visualize saliency dog.jpg --model pets.keras -o cam.png
    """
    from dlkit.tasks.visualize import network, pictures

    pictures.check_picture(output_path)
    pictures.check_image(image)
    config = from_params(Config, params)
    start(device)
    picture, record = network.saliency(network.load(model), image, label, config.method, config.alpha)
    _emit(json_lines, {**record, "output": pictures.save(picture, output_path)})


@visualize.command("features")
@click.argument("features_file", type=click.Path(dir_okay=False))
@options(Config, only=("map_method", "perplexity", "seed"))
@picture_option
@output_options
@handle_errors
def features_command(features_file, output_path, json_lines, quiet, verbose, **params):
    """A 2-D map (t-SNE or PCA) of the feature vectors in FEATURES_FILE, written by
    dlkit extract-features, coloured by class.

    \b
    Examples:
      dlkit extract-features pets/ -o pets.npz
      dlkit visualize features pets.npz -o map.png
      dlkit visualize features pets.npz --method pca -o pca.png
    """
    from dlkit.tasks.visualize import pictures

    pictures.check_picture(output_path)
    config = from_params(Config, params)
    picture = pictures.features(features_file, config.map_method, config.perplexity, config.seed)
    _emit(json_lines, {"input": features_file, "output": pictures.save(picture, output_path)})
