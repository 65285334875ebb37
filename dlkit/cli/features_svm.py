import os

import click

from dlkit import output
from dlkit.backbones import BACKBONES
from dlkit.cli.common import device_option, handle_errors, output_options, start
from dlkit.errors import DlkitError
from dlkit import features_svm
from dlkit.features_svm import SOBEL, FeatureExtractor, Features, FeaturesConfig, SVMConfig, SVMPredictor
from dlkit.inputs import expand_paths

FEATURES = FeaturesConfig()
SVM = SVMConfig()


def extractor_options(fn):
    options = [
        click.option("--backbone", type=click.Choice([*BACKBONES, SOBEL]), default=FEATURES.backbone,
                     show_default=True, help="ImageNet network, or sobel (fixed edge filters, the shallow baseline)."),
        click.option("--layer", default=FEATURES.layer, show_default=True,
                     help="pooled (global-average-pooled last block) or a layer name."),
        click.option("--image-size", type=click.IntRange(32), default=None,
                     help="Input size [default: 224, sobel 128]."),
        click.option("-b", "--batch-size", type=click.IntRange(1), default=FEATURES.batch_size, show_default=True),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _extract(source, backbone, layer, image_size, batch_size) -> Features:
    """Features of a folder-per-class dataset, or loaded from a features file."""
    if os.path.isfile(source):
        return Features.load(source)
    extractor = FeatureExtractor(FeaturesConfig(backbone=backbone, layer=layer, image_size=image_size,
                                                batch_size=batch_size))
    with output.progress(len(expand_paths([source])), f"features of {os.path.basename(source.rstrip('/'))}") as advance:
        return extractor.extract_dataset(source, on_batch=advance,
                                         on_error=lambda path, error: output.warn(f"{path}: {error}; skipped"))


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("-o", "--output", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Features file to write (.npz).")
@extractor_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or messages.")
@click.option("--verbose", is_flag=True, help="Let TensorFlow's own log messages through.")
@device_option
@handle_errors
def extract_features(images, out_path, backbone, layer, image_size, batch_size, quiet, verbose, device):
    """Compute one CNN feature vector per image and save them to an .npz file.

    IMAGES: a folder with one sub-folder per class (labels are kept), or files, globs,
    folders, - for paths on stdin. Bad images are reported and skipped.

    \b
    Examples:
      dlkit extract-features pets/train -o train.npz
      dlkit extract-features photos/*.jpg --layer block_16_project -o f.npz
      dlkit extract-features pets/train --backbone sobel -o sobel.npz
    """
    start(device, quiet=quiet)
    config = FeaturesConfig(backbone=backbone, layer=layer, image_size=image_size, batch_size=batch_size)
    extractor = FeatureExtractor(config)
    skipped = []

    def skip(path, error):
        skipped.append(path)
        output.console().print(f"[red]error:[/red] {path}: {error}", highlight=False, soft_wrap=True)

    single_dir = len(images) == 1 and os.path.isdir(images[0])
    labelled = single_dir and any(os.path.isdir(os.path.join(images[0], d)) for d in os.listdir(images[0]))
    source = images[0] if labelled else expand_paths(images)
    total = len(expand_paths(images))
    with output.progress(total, "extracting features") as advance:
        features = extractor.extract_dataset(source, on_batch=advance, on_error=skip)
    features.save(out_path)
    output.info(f"{len(features.paths)} feature vectors of {extractor.dimensions} values -> {out_path}"
                + (f" ({len(set(features.labels))} classes)" if features.labels else ""))
    raise SystemExit(1 if skipped else 0)


@click.command()
@click.argument("data")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write the SVM model to.")
@click.option("--test", "test_data", default=None,
              help="Held-out data (class folders or features file) [default: hold out --test-split].")
@click.option("--kernel", type=click.Choice(["linear", "rbf"]), default=SVM.kernel, show_default=True)
@click.option("--C", "c", type=click.FloatRange(min=0, min_open=True), default=None,
              help="SVM regularization [default: chosen by cross-validation].")
@click.option("--folds", type=click.IntRange(2), default=SVM.folds, show_default=True)
@click.option("--test-split", type=click.FloatRange(0.05, 0.5), default=SVM.test_split, show_default=True)
@click.option("--seed", type=int, default=SVM.seed, show_default=True)
@extractor_options
@output_options
@device_option
@handle_errors
def train_svm(data, out_dir, test_data, kernel, c, folds, test_split, seed, backbone, layer, image_size,
                      batch_size, json_lines, quiet, verbose, device):
    """Train an SVM on CNN features of DATA and save it to a folder.

    DATA: a folder with one sub-folder of images per class, or a features file from
    extract-features. Prints cross-validated and held-out accuracy.

    \b
    Examples:
      dlkit train-svm pets/train --test pets/validation -o pets-svm
      dlkit train-svm train.npz -o pets-svm --kernel rbf
      dlkit train-svm pets/train --backbone sobel -o sobel-svm
    """
    start(device, seed, quiet)
    if not os.path.exists(data):
        raise DlkitError(f"no such file or folder: {data}")
    train = _extract(data, backbone, layer, image_size, batch_size)
    test = _extract(test_data, train.meta["backbone"], train.meta["layer"], train.meta["image_size"],
                    batch_size) if test_data else None
    config = SVMConfig(kernel=kernel, C=c, folds=folds, test_split=test_split, seed=seed)
    output.info(f"training a {kernel} SVM on {len(train.paths)} images, {train.features.shape[1]} features")
    model = features_svm.train_svm(train, config, test, on_message=output.info)
    model.save(out_dir)
    out = output.Output(json_lines)
    out.emit({"model": out_dir, "backbone": train.meta["backbone"], "kernel": kernel, **model.metrics})
    raise SystemExit(out.close())


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", "model_dir", required=True, type=click.Path(), help="Folder written by train-svm.")
@click.option("-b", "--batch-size", type=click.IntRange(1), default=FEATURES.batch_size, show_default=True)
@output_options
@device_option
@handle_errors
def predict_svm(images, model_dir, batch_size, json_lines, quiet, verbose, device):
    """Label IMAGES (files, globs, folders, - for stdin) with a trained SVM.

    \b
    Example:
      dlkit predict-svm --model pets-svm holiday/*.jpg
    """
    start(device, quiet=quiet)
    predictor = SVMPredictor(model_dir, batch_size)
    paths = expand_paths(images)
    out = output.Output(json_lines, columns={"input": None, "label": None, "scores": None})
    with output.progress(len(paths), "classifying") as advance:
        for record in predictor.predict(paths, on_batch=advance):
            out.emit(record)
    raise SystemExit(out.close())
