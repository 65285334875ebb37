"""Style transfer's commands: stylize (optimisation, or a fast stylizer with --model) and
train-stylizer.

Their settings are the fields of .config (options(...) and from_params); the models are
imported inside each command, so `--help` needs no TensorFlow.
"""

import os

import click

from dlkit.cli import common
from dlkit.cli.common import device_option, handle_errors, output_options, start, training_options
from dlkit.core import files, output
from dlkit.core.config import from_params, options
from dlkit.core.errors import DlkitError
from dlkit.core.inputs import expand_paths
from dlkit.tasks.stylize.config import StylizeConfig, StylizerConfig


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", "out", required=True, type=click.Path(),
              help="Output image; with --model and several photos, a folder.")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="A fast stylizer from train-stylizer: then every IMAGE is a photo to stylize.")
@options(StylizeConfig)
@click.option("--save-every", type=click.IntRange(1), default=None,
              help="Also write OUTPUT-NNNN.ext every N evaluations.")
@output_options
@device_option
@handle_errors
def stylize(images, out, model, save_every, json_lines, quiet, verbose, device, **params):
    """Repaint CONTENT in the style of STYLE... (IMAGES = CONTENT STYLE [STYLE...]),
    or, with --model, stylize every IMAGE in one forward pass.

    \b
    Examples:
      dlkit stylize photo.jpg starry.jpg -o out.jpg
      dlkit stylize photo.jpg starry.jpg mosaic.jpg --style-weights 0.7,0.3 -o out.jpg
      dlkit stylize photo.jpg starry.jpg --backbone mobilenet_v2 --size 1024 --preserve-color -o out.png
      dlkit stylize holiday/*.jpg --model starry.keras -o painted/
    """
    from dlkit.tasks.stylize.model import check_image_output

    config = from_params(StylizeConfig, params)
    table = output.Output(json_lines)
    if model:
        _fast(expand_paths(images), out, model, config, quiet, device, table)
        raise SystemExit(table.close())
    if len(images) < 2:
        raise DlkitError("give a content image and at least one style image (or --model)")
    check_image_output(out)
    start(device, config.seed, quiet)
    from dlkit.tasks.stylize.model import save_image, stylize as optimise

    content, styles = images[0], list(images[1:])
    stem, suffix = os.path.splitext(out)
    save_image_at = (lambda i, image: save_image(image, f"{stem}-{i:04d}{suffix}") if i % save_every == 0
                     else None) if save_every else None
    image, report = optimise(content, styles, config, common.events(quiet), on_image=save_image_at)
    save_image(image, out)
    table.emit({"input": content, "output": out, "styles": styles, "width": report.size[0],
                "height": report.size[1], "iterations": report.iterations, "seconds": round(report.seconds, 2),
                "first_loss": round(report.history[0], 4),
                **{f"{k}_loss": round(v, 5) for k, v in report.losses.items()}})
    raise SystemExit(table.close())


def _fast(paths, out, model, config, quiet, device, table):
    """Each photo through the fast stylizer `model`: into the folder `out` (as NAME.jpg)
    when there are several or `out` is a folder, else to the image `out`."""
    from dlkit.tasks.stylize.model import check_image_output

    many = len(paths) > 1 or out.endswith(os.sep) or os.path.isdir(out)
    if many:
        files.check_output(out, folder=True, what="output folder")
    else:
        check_image_output(out)
    start(device, config.seed, quiet)
    from dlkit.tasks.stylize.fast import load
    from dlkit.tasks.stylize.model import save_image

    stylizer = load(model, config.size, config.max_size)
    if many:
        os.makedirs(out, exist_ok=True)
    with common.events(quiet).progress(len(paths), "stylizing") as advance:
        for path, record in zip(paths, stylizer.predict(paths)):
            if "error" not in record:
                target = os.path.join(out, os.path.splitext(os.path.basename(path))[0] + ".jpg") if many else out
                save_image(record.pop("image"), target)
                record = {"input": record.pop("input"), "output": target, **record}
            table.emit(record)
            advance()


@click.command()
@click.argument("style")
@click.option("--images", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of training photos (any content; e.g. Flickr8k or COCO images).")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="The stylizer to write (.keras).")
@options(StylizerConfig)
@training_options
@output_options
@device_option
@handle_errors
def train_stylizer(style, images, out, json_lines, quiet, verbose, device, **params):
    """Train a fast stylizer for STYLE: afterwards `dlkit stylize --model` paints any
    photo in one forward pass.

    \b
    Examples:
      dlkit train-stylizer starry.jpg --images flickr8k/Images -o starry.keras
      dlkit stylize photo.jpg --model starry.keras -o out.jpg
    """
    start(device, params["seed"], quiet)
    from dlkit.tasks.stylize.fast import train

    train_config = common.train_config(params, patience=None)
    config = from_params(StylizerConfig, params, seed=train_config.seed)
    run = train(images, out, config, train_config, common.events(quiet), style=style)
    table = output.Output(json_lines)
    table.emit(run.summary)
    raise SystemExit(table.close())
