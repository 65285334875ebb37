"""stylize: style transfer's hand-written command, as it has two modes (Gatys et al.'s
optimisation of one photo, or a fast stylizer over many with --model); both are the
library's (model.stylize_to; predict.stylize_files, on the stylizer's ONNX twin). Its settings are StylizeConfig's
fields; the models are imported when it runs, so `--help` needs no TensorFlow."""

import click

from dlkit.cli import common, output
from dlkit.cli.common import device_option, handle_errors, output_options, start, start_light
from dlkit.core.config import from_params, options
from dlkit.core.errors import DlkitError
from dlkit.core.inputs import expand_paths
from dlkit.tasks.stylize.config import StylizeConfig


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", "output_path", required=True, type=click.Path(),
              help="Output image; with --model and several photos, a folder.")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="A fast stylizer from train-stylizer: then every IMAGE is a photo to stylize.")
@options(StylizeConfig)
@click.option("--save-every", type=click.IntRange(1), default=None,
              help="Also write OUTPUT-NNNN.ext every N evaluations.")
@common.engine_options
@output_options
@device_option
@handle_errors
def stylize(images, output_path, model, save_every, json_lines, quiet, verbose, device, **params):
    """Repaint CONTENT in the style of STYLE... (IMAGES = CONTENT STYLE [STYLE...]),
    or, with --model, stylize every IMAGE in one forward pass (--engine ray: on Ray's
    workers).

    \b
    Examples:
      dlkit stylize photo.jpg starry.jpg -o out.jpg
      dlkit stylize photo.jpg starry.jpg mosaic.jpg --style-weights 0.7,0.3 -o out.jpg
      dlkit stylize photo.jpg starry.jpg --backbone mobilenet_v2 --size 1024 --preserve-color -o out.png
      dlkit stylize holiday/*.jpg --model starry.keras -o painted/
      dlkit stylize photos/ --model starry.keras -o painted/ --engine ray --workers 4
    """
    config = from_params(StylizeConfig, params)
    engine = common.engine(params)
    if engine.output_dir:
        raise DlkitError("stylize writes its pictures to -o: --output-dir does not apply")
    events = common.events(quiet)
    table = output.Output(json_lines)
    if model:
        from dlkit.tasks.stylize.predict import stylize_files

        records = stylize_files(expand_paths(images), output_path, model, config.size, config.max_size, engine,
                                events)
        start_light(device)
        for record in records:
            table.emit(record)
        raise SystemExit(table.close())
    if len(images) < 2:
        raise DlkitError("give a content image and at least one style image (or --model)")
    if engine.engine != "local":
        raise DlkitError("--engine ray runs a fast stylizer (--model) over many photos; one optimisation runs here")
    from dlkit.tasks.stylize.model import check_image_output, stylize_to

    check_image_output(output_path)
    start(device, config.seed)
    table.emit(stylize_to(images[0], list(images[1:]), output_path, config, events, save_every))
    raise SystemExit(table.close())
