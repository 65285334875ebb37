"""The SVM task's commands: extract-features, train-svm, predict-svm.

Their settings are the fields of .config (options(...) and from_params); the models are
imported inside each command, so `--help` needs no TensorFlow.
"""

import os

import click

from dlkit.cli import common
from dlkit.cli.common import device_option, handle_errors, output_options, start
from dlkit.core import output
from dlkit.core.config import from_params, options
from dlkit.core.inputs import expand_paths, iter_paths
from dlkit.tasks.svm.config import FeaturesConfig, SVMConfig
from dlkit.vision.folders import image_count


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Features file to write (.npz).")
@options(FeaturesConfig)
@common.engine_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages.")
@click.option("--verbose", is_flag=True, help="Let TensorFlow's own log messages through.")
@device_option
@handle_errors
def extract_features(images, out_path, quiet, verbose, device, **params):
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
    from dlkit.core import files
    from dlkit.tasks.svm.model import FeatureExtractor

    files.check_output(out_path, what="features file")
    start(device, quiet=quiet)
    config = from_params(FeaturesConfig, params)
    extractor = FeatureExtractor(config)
    single_dir = len(images) == 1 and os.path.isdir(images[0])
    labelled = single_dir and any(os.path.isdir(os.path.join(images[0], d)) for d in os.listdir(images[0]))

    def vectors(paths):  # here, or on Ray's workers (--engine ray)
        return common.predictions(params, "dlkit.tasks.svm:FeatureExtractor", {"config": config}, paths,
                                  config.batch_size, quiet)

    features = extractor.extract_dataset(images[0] if labelled else expand_paths(images), common.events(quiet),
                                         predict=vectors)
    for path, error in features.skipped.items():
        output.error_line(f"{path}: {error}")
    features.save(out_path)
    output.info(f"{len(features.paths)} feature vectors of {extractor.dimensions} values -> {out_path}"
                + (f" ({len(set(features.labels))} classes)" if features.labels else ""))
    raise SystemExit(1 if features.skipped else 0)


@click.command()
@click.argument("data")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write the SVM model to.")
@click.option("--test", "test_data", default=None,
              help="Held-out data (class folders or features file) for a test accuracy [default: none, or DATA's "
                   "validation/, val/ or test/ split].")
@options(SVMConfig)
@options(FeaturesConfig)
@output_options
@device_option
@handle_errors
def train_svm(data, out_dir, test_data, json_lines, quiet, verbose, device, **params):
    """Train an SVM on CNN features of DATA and save it to a folder.

    DATA: a folder with one sub-folder of images per class, or a features file from
    extract-features. C is chosen by cross-validation, then the SVM is fitted on all of
    DATA; prints the cross-validated accuracy, and the accuracy on --test if given.

    \b
    Examples:
      dlkit train-svm pets/train --test pets/validation -o pets-svm
      dlkit train-svm train.npz -o pets-svm --kernel rbf
      dlkit train-svm pets/train --backbone sobel -o sobel-svm
    """
    from dlkit.tasks.svm.model import train

    config = from_params(SVMConfig, params)
    start(device, config.seed, quiet)
    run = train(data, out_dir, config, common.events(quiet), test=test_data,
                features=from_params(FeaturesConfig, params))
    out = output.Output(json_lines)
    out.emit(run.summary)
    raise SystemExit(out.close())


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", "model_dir", required=True, type=click.Path(), help="Folder written by train-svm.")
@options(FeaturesConfig, only=("batch_size",))
@output_options
@device_option
@handle_errors
def predict_svm(images, model_dir, batch_size, json_lines, quiet, verbose, device):
    """Label IMAGES (files, globs, folders, - for stdin) with a trained SVM.

    \b
    Example:
      dlkit predict-svm --model pets-svm holiday/*.jpg
    """
    from dlkit.tasks.svm.model import load

    start(device, quiet=quiet)
    predictor = load(model_dir, batch_size)
    out = output.Output(json_lines, columns={"input": None, "label": None, "scores": None})
    with common.events(quiet).progress(image_count(images), "classifying") as advance:
        for record in predictor.predict(iter_paths(images)):
            out.emit(record)
            advance()
    raise SystemExit(out.close())
