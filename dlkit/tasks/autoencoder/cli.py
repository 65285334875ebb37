"""The autoencoder's commands: train-autoencoder, reconstruct.

Their settings are the fields of .config (options(...) and from_params); the models are
imported inside each command, so `--help` needs no TensorFlow.
"""

import click

from dlkit.cli import common
from dlkit.cli.common import device_option, handle_errors, output_options, start, training_options
from dlkit.core import files, output
from dlkit.core.config import from_params, options
from dlkit.core.inputs import iter_paths
from dlkit.core.training_config import TrainConfig
from dlkit.tasks.autoencoder.config import Config
from dlkit.vision.folders import image_count


@click.command("train-autoencoder")
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Where to save the trained .keras model (a training-curve PNG goes beside it).")
@options(Config)
@click.option("--patience", type=click.IntRange(1), default=TrainConfig.patience, show_default=True,
              help="Early stopping: stop when validation loss has not improved for this many epochs.")
@training_options
@output_options
@device_option
@handle_errors
def train_autoencoder(images, output_path, patience, json_lines, quiet, verbose, device, **params):
    """Train an autoencoder on IMAGES (files, globs, folders: class folders or not).

    A folder split into train/ and validation/, val/ or test/ (what import-mnist
    writes) trains on train/ and validates on the other; otherwise --val-split of the
    images is held out. With --denoise NOISE the inputs are corrupted with Gaussian
    noise (pixels 0..1, clipped) and the model learns to give back the clean images.
    Grey images (R = G = B) give a grey model. Prints one JSON summary (the validation
    reconstruction errors) and writes OUTPUT plus a training-curve PNG beside it.
    Rerun with --resume after an interruption.

    \b
    Examples:
      dlkit import-mnist ../shared/data/mnist digits/
      dlkit train-autoencoder digits/ -o ae.keras
      dlkit train-autoencoder digits/ --denoise 0.5 --bottleneck 32 -o dae.keras
      dlkit train-autoencoder photos/ --arch conv --image-size 64 -o photos-ae.keras
      dlkit reconstruct --model dae.keras digits/test --noise 0.5 -o grid.png
      dlkit extract-features digits/train --model dae.keras -o codes.npz
    """
    from dlkit.tasks.autoencoder.model import train

    start(device, params["seed"], quiet)
    config = from_params(Config, params)
    run = train(list(images), output_path, config, common.train_config(params, patience=patience),
                common.events(quiet))
    out = output.Output(json_lines)
    out.emit(run.summary)
    raise SystemExit(out.close())


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", required=True, type=click.Path(dir_okay=False),
              help="A .keras autoencoder trained with dlkit train-autoencoder.")
@click.option("-o", "--output", "grid", type=click.Path(dir_okay=False), default=None,
              help="Also draw the first --grid-images images, corrupted and reconstructed, to this PNG.")
@click.option("--noise", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Corrupt each image with Gaussian noise of this std (pixels 0..1, clipped) before "
                   "reconstructing it.")
@click.option("--grid-images", type=click.IntRange(1), default=16, show_default=True,
              help="How many images the grid shows (the first ones).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise: reruns corrupt alike.")
@click.option("-b", "--batch-size", type=click.IntRange(1), default=64, show_default=True)
@output_options
@device_option
@handle_errors
def reconstruct(images, model, grid, noise, grid_images, seed, batch_size, json_lines, quiet, verbose, device):
    """Reconstruct IMAGES (files, globs, folders, - for paths on stdin) with an autoencoder.

    Each image gets a record {"input", "error_mse"}: the mean squared difference
    between the image (pixels 0..1) and its reconstruction, an anomaly score. With
    --noise, the input is corrupted first and the record adds "noisy_input_mse", the
    corrupted input's own error: a denoising model's error_mse is below it. A bad
    image gets an error record and the rest go on (exit code 1 at the end).

    \b
    Examples:
      dlkit reconstruct --model ae.keras digits/test -o grid.png
      dlkit reconstruct --model dae.keras digits/test --noise 0.5 -o denoised.png
      dlkit reconstruct --model ae.keras scans/ --json | jq -s 'sort_by(-.error_mse) | .[:10]'
    """
    if grid:
        files.check_output(grid, suffixes=(".png",), what="grid picture")
    start(device, quiet=quiet)
    from dlkit.tasks.autoencoder.model import load, write_grid

    predictor = load(model, noise, seed, batch_size, keep=grid_images if grid else 0)
    out = output.Output(json_lines, columns={"input": None, "error_mse": None, "noisy_input_mse": None})
    with common.events(quiet).progress(image_count(images), "reconstructing") as advance:
        for record in predictor.predict(iter_paths(images)):
            out.emit(record)
            advance()
    if grid:
        if predictor.kept:
            write_grid(predictor.kept, grid, noisy=noise > 0)
            output.info(f"{len(predictor.kept)} images, {'corrupted and ' if noise else ''}reconstructed -> {grid}")
        else:
            output.error_line(f"{grid}: no image was reconstructed, so no grid was drawn")
    raise SystemExit(out.close())
