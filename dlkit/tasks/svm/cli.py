"""extract-features: the SVM task's one hand-written command (it writes a features file,
not records). Its settings are FeaturesConfig's fields; the feature network runs from
its ONNX twin (dlkit.tasks.svm.predict), without TensorFlow."""

import click

from dlkit.cli import common, output
from dlkit.cli.common import device_option, handle_errors, start_light
from dlkit.core import files
from dlkit.core.config import from_params, options
from dlkit.tasks.svm.config import FeaturesConfig


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Features file to write (.npz).")
@options(FeaturesConfig)
@common.engine_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages.")
@click.option("--verbose", is_flag=True, help="Let TensorFlow's own log messages through.")
@device_option
@handle_errors
def extract_features(images, output_path, quiet, verbose, device, **params):
    """Compute one CNN feature vector per image and save them to an .npz file.

    --model takes any .keras model from RGB pixels to vectors instead of a backbone:
    an autoencoder from train-autoencoder gives its bottleneck codes.

    IMAGES: a folder with one sub-folder per class (labels are kept), or files, globs,
    folders, - for paths on stdin. Bad images are reported and skipped.

    \b
    Examples:
      dlkit extract-features pets/train -o train.npz
      dlkit extract-features photos/*.jpg --layer block_16_project -o f.npz
      dlkit extract-features pets/train --backbone sobel -o sobel.npz
      dlkit extract-features digits/train --model ae.keras -o codes.npz   # an autoencoder's codes
      dlkit extract-features photos/ --engine ray --workers 8 -o photos.npz
    """
    from dlkit.tasks.svm.predict import extract_files

    files.check_output(output_path, what="features file")
    events = common.events(quiet)
    start_light(device)
    engine = common.engine(params)
    features = extract_files(list(images), output_path, from_params(FeaturesConfig, params), engine, events)
    for path, error in features.skipped.items():
        output.error_line(f"{path}: {error}")
    raise SystemExit(1 if features.skipped else 0)
