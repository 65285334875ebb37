"""The classifier's commands: classify, train-classifier, evaluate-classifier, import-mnist.

Their settings are the fields of .config (options(...) and from_params); the models are
imported inside each command, so `--help` needs no TensorFlow.
"""

import click

from dlkit.cli import common
from dlkit.cli.common import device_option, handle_errors, output_options, start, training_options
from dlkit.core import files, output
from dlkit.core.config import from_params, options
from dlkit.core.errors import DlkitError
from dlkit.core.inputs import iter_paths
from dlkit.core.training_config import TrainConfig
from dlkit.tasks.classifier.config import ClassifyConfig, TrainClassifierConfig
from dlkit.vision.folders import image_count

def _top(entries):
    return ", ".join(f"{e['label']} {e['score']:.2f}" for e in entries[1:])


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="A .keras classifier trained with dlkit train-classifier (or any Keras image classifier).")
@click.option("--saliency", "saliency_dir", type=click.Path(file_okay=False), default=None,
              help="Also write a Grad-CAM heat-map PNG of each image's label to this folder; records name it.")
@options(ClassifyConfig)
@common.engine_options
@output_options
@device_option
@handle_errors
def classify(images, model, saliency_dir, json_lines, quiet, verbose, device, **params):
    """Label IMAGES (files, globs, folders, or - for paths on stdin).

    \b
    Examples:
      dlkit classify photo.jpg
      dlkit classify holiday/ --top-k 3
      find . -name '*.png' | dlkit classify - > labels.jsonl
      dlkit classify --model pets.keras cat.jpg
      dlkit classify holiday/ --saliency heatmaps/     # where the network looked, one PNG each
      dlkit classify photos/ --engine ray --address head:6379 --workers 16 > labels.jsonl
    """
    columns = {"input": None, "label": None, "score": None, "top": _top}
    if saliency_dir:
        if params["engine"] != "local" or params["output_dir"]:
            raise DlkitError("--saliency writes the heat-maps from this process: use it with --engine local "
                             "(and no --output-dir)")
        files.check_output(saliency_dir, folder=True, what="saliency folder")
        columns["saliency"] = None
    start(device, quiet=quiet)
    config = from_params(ClassifyConfig, params)
    if saliency_dir:
        from dlkit.tasks.classifier.classify import load, with_saliency

        records = with_saliency(load(model, config), iter_paths(images), saliency_dir)
    else:
        records = common.predictions(params, "dlkit.tasks.classifier:load", {"path": model, "config": config},
                                     iter_paths(images), config.batch_size, quiet)
    out = output.Output(json_lines, columns=columns)
    with common.events(quiet).progress(image_count(images), "classifying") as advance:
        for record in records:
            out.emit(record)
            advance()
    raise SystemExit(out.close())


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Where to save the trained .keras model (a training-curve PNG goes beside it).")
@options(TrainClassifierConfig)
@click.option("--patience", type=click.IntRange(1), default=TrainConfig.patience, show_default=True,
              help="Early stopping: stop when validation loss has not improved for this many epochs.")
@click.option("--labels", "labels_csv", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A CSV (image, then one column per task) instead of class folders: multi-label and "
                   "multi-task heads on one frozen backbone.")
@click.option("--task-weights", default=None, metavar="COLUMN=W,...",
              help="With --labels: weight of each column's loss [default: 1 each].")
@training_options
@output_options
@device_option
@handle_errors
def train_classifier(data_dir, output_path, patience, labels_csv, task_weights, json_lines, quiet, verbose, device,
                     **params):
    """Train an image classifier on DATA_DIR: one sub-folder of images per class.

    A DATA_DIR split into train/ and validation/, val/ or test/ (each with the same
    class folders) trains on train/ and validates on the other. With fewer than 100
    images to hold out, every image trains and cross-validation picks the head.

    With --labels CSV, DATA_DIR holds the images the CSV names (paths relative to it).
    Each column after the first is a task with its own head: several labels in a cell,
    separated by ";" (or an empty cell), make it multi-label (sigmoid outputs, a
    threshold per label); otherwise one softmax over its values.

    Prints one JSON summary (accuracy, loss, epochs, seconds) and writes OUTPUT plus a
    training-curve PNG beside it. Rerun with --resume after an interruption.

    \b
    Examples:
      dlkit train-classifier pets/ -o pets.keras
      dlkit train-classifier train/ --val-dir val/ --fine-tune-epochs 5 -o pets.keras
      dlkit import-mnist ../shared/data/mnist digits/
      dlkit train-classifier digits/ --arch lenet5 --no-augment -o lenet.keras
      dlkit classify --model pets.keras photo.jpg
      dlkit train-classifier photos/ --labels labels.csv --task-weights species=2 -o tags.keras
    """
    start(device, params["seed"], quiet)
    config = from_params(TrainClassifierConfig, params)
    train_config = common.train_config(params, patience=patience)
    if labels_csv:
        from dlkit.tasks.classifier import multitask

        run = multitask.train(data_dir, labels_csv, output_path, config, train_config, task_weights,
                              common.events(quiet))
    elif task_weights:
        raise DlkitError("--task-weights applies to the columns of --labels")
    else:
        from dlkit.tasks.classifier.training import train

        run = train(data_dir, output_path, config, train_config, common.events(quiet))
    out = output.Output(json_lines)
    out.emit(run.summary)
    raise SystemExit(out.close())


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--model", required=True, type=click.Path(dir_okay=False),
              help="A .keras classifier trained with dlkit train-classifier.")
@click.option("--confusion", type=click.Path(dir_okay=False), default=None,
              help="Where to write the confusion-matrix PNG [default: MODEL.confusion.png].")
@click.option("--labels", "labels_csv", type=click.Path(exists=True, dir_okay=False), default=None,
              help="For a model trained with --labels: a CSV of the same columns naming images in DATA_DIR.")
@options(ClassifyConfig, only=("batch_size",))
@output_options
@device_option
@handle_errors
def evaluate_classifier(data_dir, model, confusion, labels_csv, batch_size, json_lines, quiet, verbose, device):
    """Accuracy, per-class precision/recall and a confusion-matrix PNG on DATA_DIR (class folders).

    One record per class, then one metrics record. With --labels: one record with each
    head's scores (accuracy; micro and macro F1 and exact match for a multi-label head).

    \b
    Examples:
      dlkit evaluate-classifier val/ --model pets.keras
      dlkit evaluate-classifier photos/ --labels test.csv --model tags.keras
    """
    start(device, quiet=quiet)
    if labels_csv:
        from dlkit.tasks.classifier import multitask

        out = output.Output(json_lines)
        out.emit(multitask.evaluate(data_dir, labels_csv, model, common.events(quiet)))
        raise SystemExit(out.close())
    from dlkit.tasks.classifier.training import evaluate

    metrics = evaluate(data_dir, model, confusion, batch_size, common.events(quiet))
    out = output.Output(json_lines)
    for record in metrics.pop("per_class"):
        out.emit(record)
    out.emit(metrics)
    raise SystemExit(out.close())


@click.command()
@click.argument("mnist_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--test-size", type=click.IntRange(1), default=2000, show_default=True,
              help="How many of the last images go to OUT_DIR/test; the rest to OUT_DIR/train.")
@click.option("--prefix", default="t10k", show_default=True,
              help="File-name prefix of the idx files: t10k (MNIST's test set) or train.")
@output_options
@handle_errors
def import_mnist(mnist_dir, out_dir, test_size, prefix, json_lines, quiet, verbose):
    """Write MNIST's idx files as PNG class folders OUT_DIR/{train,test}/{0..9}.

    \b
    Examples:
      dlkit import-mnist ../shared/data/mnist digits/
    """
    from dlkit.tasks.classifier.mnist import import_mnist as write_class_folders

    out = output.Output(json_lines)
    out.emit(write_class_folders(mnist_dir, out_dir, test_size, prefix))
    raise SystemExit(out.close())
