import os

import click

from dlkit import output
from dlkit.cli.common import device_option, handle_errors, output_options, start, train_config, training_options
from dlkit.errors import DlkitError
from dlkit.inputs import expand_paths
from dlkit.stylize import (LAYERS, FastStylizer, StylizeConfig, StylizerConfig, save_image, stylize as run_stylize,
                           train_stylizer as run_train)

DEFAULTS = StylizeConfig()
FAST = StylizerConfig()


def _floats(ctx, param, value):
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter("expected comma-separated numbers, e.g. 0.7,0.3") from None


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", "out", required=True, type=click.Path(),
              help="Output image; with --model and several photos, a folder.")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="A fast stylizer from train-stylizer: then every IMAGE is a photo to stylize.")
@click.option("--backbone", type=click.Choice(list(LAYERS)), default=DEFAULTS.backbone, show_default=True,
              help="Loss network (VGG needs its ImageNet download; mobilenet_v2 ships with the Keras cache).")
@click.option("--content-layers", default=None, help="Comma-separated layer names [default: per backbone].")
@click.option("--style-layers", default=None, help="Comma-separated layer names ('pixels' = the image itself).")
@click.option("--smooth/--no-smooth", default=DEFAULTS.smooth, show_default=True,
              help="Softmax-smooth activations before the Gram matrices (SWAG).")
@click.option("--optimizer", type=click.Choice(["lbfgs", "adam"]), default=DEFAULTS.optimizer, show_default=True)
@click.option("--iterations", type=click.IntRange(1), default=DEFAULTS.iterations, show_default=True,
              help="Loss evaluations in all (most at the coarse scales).")
@click.option("--size", type=click.IntRange(16), default=DEFAULTS.size, show_default=True,
              help="Longest side of the output.")
@click.option("--max-size", type=click.IntRange(16), default=DEFAULTS.max_size, show_default=True,
              help="Refuse larger --size (memory grows with the pixel count).")
@click.option("--scales", type=click.IntRange(1, 6), default=None,
              help="Coarse-to-fine levels, each twice the size of the previous "
                   "[default: as many as keep the coarsest at 256 px or more].")
@click.option("--content-weight", type=float, default=DEFAULTS.content_weight, show_default=True)
@click.option("--style-weight", type=float, default=DEFAULTS.style_weight, show_default=True)
@click.option("--tv-weight", type=float, default=DEFAULTS.tv_weight, show_default=True)
@click.option("--init", type=click.Choice(["content", "style", "noise"]), default=DEFAULTS.init, show_default=True)
@click.option("--style-weights", callback=_floats, default=None, help="Blend several styles, e.g. 0.7,0.3.")
@click.option("--preserve-color", is_flag=True, help="Keep the photo's colours (style on luminance only).")
@click.option("--save-every", type=click.IntRange(1), default=None,
              help="Also write OUTPUT-NNNN.ext every N evaluations.")
@click.option("--seed", type=int, default=None)
@output_options
@device_option
@handle_errors
def stylize(images, out, model, backbone, content_layers, style_layers, smooth, optimizer, iterations, size,
            max_size, scales, content_weight, style_weight, tv_weight, init, style_weights, preserve_color,
            save_every, seed, json_lines, quiet, verbose, device):
    """Repaint CONTENT in the style of STYLE... (IMAGES = CONTENT STYLE [STYLE...]),
    or, with --model, stylize every IMAGE in one forward pass.

    \b
    Examples:
      dlkit stylize photo.jpg starry.jpg -o out.jpg
      dlkit stylize photo.jpg starry.jpg mosaic.jpg --style-weights 0.7,0.3 -o out.jpg
      dlkit stylize photo.jpg starry.jpg --backbone mobilenet_v2 --size 1024 --preserve-color -o out.png
      dlkit stylize holiday/*.jpg --model starry.keras -o painted/
    """
    start(device, seed, quiet)
    out_table = output.Output(json_lines)
    if model:
        _fast(images, out, model, size, max_size, out_table)
        raise SystemExit(out_table.close())
    if len(images) < 2:
        raise DlkitError("give a content image and at least one style image (or --model)")
    content, styles = images[0], list(images[1:])
    config = StylizeConfig(
        backbone=backbone, optimizer=optimizer, iterations=iterations, size=size, max_size=max_size,
        scales=scales, content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight, init=init,
        style_weights=style_weights, preserve_color=preserve_color, seed=seed, smooth=smooth,
        content_layers=content_layers.split(",") if content_layers else None,
        style_layers=style_layers.split(",") if style_layers else None)
    stem, suffix = os.path.splitext(out)
    save_image_at = (lambda i, image: save_image(image, f"{stem}-{i:04d}{suffix}") if i % save_every == 0
                     else None) if save_every else None
    with output.progress(iterations, "stylizing") as advance:
        image, report = run_stylize(content, styles, config,
                                    on_step=lambda i, losses, size: advance(1, size=f"{size[0]}x{size[1]}",
                                                                            loss=losses["total"]),
                                    on_image=save_image_at)
    save_image(image, out)
    out_table.emit({"input": content, "output": out, "styles": styles, "width": report.size[0],
                    "height": report.size[1], "iterations": report.iterations, "seconds": round(report.seconds, 2),
                    "first_loss": round(report.history[0], 4),
                    **{f"{k}_loss": round(v, 5) for k, v in report.losses.items()}})
    raise SystemExit(out_table.close())


def _fast(images, out, model, size, max_size, out_table):
    import time

    from dlkit.stylize import _load

    paths = expand_paths(images)
    stylizer = FastStylizer(model)
    many = len(paths) > 1 or out.endswith(os.sep) or os.path.isdir(out)
    if many:
        os.makedirs(out, exist_ok=True)
    with output.progress(len(paths), "stylizing") as advance:
        for path in paths:
            try:
                image = _load(path)
                h, w = image.shape[:2]
                scale = min(1.0, size / max(w, h))
                if max(w, h) * scale > max_size:
                    raise DlkitError(f"{path}: larger than --max-size {max_size}")
                if scale < 1:
                    image = _load(path, (max(4, round(w * scale)), max(4, round(h * scale))))
            except DlkitError as e:
                out_table.error(path, str(e).replace(f"{path}: ", ""))
                advance()
                continue
            started = time.perf_counter()
            result = stylizer(image)
            target = os.path.join(out, os.path.splitext(os.path.basename(path))[0] + ".jpg") if many else out
            save_image(result, target)
            out_table.emit({"input": path, "output": target, "width": result.shape[1], "height": result.shape[0],
                            "seconds": round(time.perf_counter() - started, 3)})
            advance()


@click.command()
@click.argument("style")
@click.option("--images", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder of training photos (any content; e.g. Flickr8k or COCO images).")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="The stylizer to write (.keras).")
@click.option("--backbone", type=click.Choice(list(LAYERS)), default=FAST.backbone, show_default=True)
@click.option("--steps", type=click.IntRange(1), default=FAST.steps, show_default=True)
@click.option("--steps-per-epoch", type=click.IntRange(1), default=FAST.steps_per_epoch, show_default=True,
              help="Steps between checkpoints and progress reports.")
@click.option("--image-size", type=click.IntRange(32), default=FAST.image_size, show_default=True)
@click.option("-b", "--batch-size", type=click.IntRange(1), default=FAST.batch_size, show_default=True)
@click.option("--width", type=click.IntRange(4), default=FAST.width, show_default=True,
              help="Filters of the first layer (Johnson et al.: 32).")
@click.option("--lr", type=float, default=FAST.learning_rate, show_default=True)
@click.option("--content-weight", type=float, default=FAST.content_weight, show_default=True)
@click.option("--style-weight", type=float, default=FAST.style_weight, show_default=True)
@click.option("--tv-weight", type=float, default=FAST.tv_weight, show_default=True)
@training_options
@output_options
@device_option
@handle_errors
def train_stylizer(style, images, out, backbone, steps, steps_per_epoch, image_size, batch_size, width, lr,
                   content_weight, style_weight, tv_weight, json_lines, quiet, verbose, device, **kwargs):
    """Train a fast stylizer for STYLE: afterwards `dlkit stylize --model` paints any
    photo in one forward pass.

    \b
    Examples:
      dlkit train-stylizer starry.jpg --images flickr8k/Images -o starry.keras
      dlkit stylize photo.jpg --model starry.keras -o out.jpg
    """
    from dlkit import plots
    from dlkit.training import ProgressBar

    start(device, kwargs.get("seed"), quiet)
    config = StylizerConfig(backbone=backbone, steps=steps, steps_per_epoch=steps_per_epoch, image_size=image_size,
                            batch_size=batch_size, width=width, learning_rate=lr, content_weight=content_weight,
                            style_weight=style_weight, tv_weight=tv_weight, seed=kwargs.get("seed"))
    epochs = max(1, steps // min(steps, steps_per_epoch))
    summary = run_train(style, images, out, config, train_config(kwargs, patience=None),
                        callbacks=[ProgressBar(epochs, min(steps, steps_per_epoch), "training stylizer")])
    history = summary.pop("history")
    curves = os.path.splitext(out)[0] + ".curves.png"
    plots.training_curves(history, curves, title=f"fast stylizer: {os.path.basename(style)}")
    out_table = output.Output(json_lines)
    out_table.emit({"input": style, **summary, "curves": curves})
    raise SystemExit(out_table.close())
