import click

from dlkit import output
from dlkit.cli.common import (device_option, handle_errors, output_options, start, train_config,
                              training_options)
from dlkit.train_classifier import (ARCHITECTURES, OPTIMIZERS, SCHEDULES, TrainClassifierConfig, evaluate,
                                    import_mnist as write_mnist_folders, train)
from dlkit.training import TrainConfig

DEFAULTS = TrainClassifierConfig()


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Where to save the trained .keras model (a training-curve PNG goes beside it).")
@click.option("--val-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Validation images, in class folders like DATA_DIR [default: split DATA_DIR].")
@click.option("--val-split", type=float, default=DEFAULTS.val_split, show_default=True,
              help="Share of DATA_DIR held out for validation when --val-dir is not given.")
@click.option("--arch", type=click.Choice(ARCHITECTURES), default=DEFAULTS.arch, show_default=True,
              help="An ImageNet backbone (transfer learning) or a classic CNN trained from scratch.")
@click.option("--epochs", type=click.IntRange(1), default=DEFAULTS.epochs, show_default=True,
              help="Epochs of training (of the new head, for an ImageNet backbone).")
@click.option("--fine-tune-epochs", type=click.IntRange(0), default=DEFAULTS.fine_tune_epochs, show_default=True,
              help="Then fine-tune the top of the backbone for this many epochs at a 100x lower rate.")
@click.option("--fine-tune-fraction", type=click.FloatRange(0, 1, min_open=True),
              default=DEFAULTS.fine_tune_fraction, show_default=True,
              help="Share of the backbone's layers, from the top, unfrozen for fine-tuning.")
@click.option("--image-size", type=click.IntRange(8), default=DEFAULTS.image_size,
              help="Square input size [default: 224 for backbones, 28 LeNet-5, 64 AlexNet, 32 VGG/ResNet].")
@click.option("-b", "--batch-size", type=click.IntRange(1), default=DEFAULTS.batch_size, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=DEFAULTS.lr,
              help="Learning rate [default: 1e-3 Adam, 1e-2 SGD].")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=DEFAULTS.optimizer, show_default=True,
              help="adam, or sgd with momentum 0.9.")
@click.option("--lr-schedule", type=click.Choice(SCHEDULES), default=DEFAULTS.lr_schedule, show_default=True,
              help="plateau: halve when validation loss stalls 2 epochs; step/exponential: x0.5 every 3 epochs.")
@click.option("--patience", type=click.IntRange(1), default=TrainConfig.patience, show_default=True,
              help="Early stopping: stop when validation loss has not improved for this many epochs.")
@click.option("--augment/--no-augment", default=DEFAULTS.augment, show_default=True,
              help="Random flips, rotations and zooms of the training images.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=DEFAULTS.dropout, show_default=True)
@click.option("--l2", type=click.FloatRange(0), default=DEFAULTS.l2, show_default=True, help="L2 weight decay.")
@click.option("--width", type=click.FloatRange(0, min_open=True), default=DEFAULTS.width, show_default=True,
              help="Scale the classic CNNs' filters and units (0.25: quick on a CPU).")
@click.option("--depth", type=int, default=DEFAULTS.depth, help="VGG: 11, 13, 16 or 19 [11]; ResNet: 18 or 34 [18].")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Backbone weights file instead of the ImageNet download.")
@training_options
@output_options
@device_option
@handle_errors
def train_classifier(data_dir, output_path, val_dir, val_split, arch, epochs, fine_tune_epochs,
                     fine_tune_fraction, image_size, batch_size, lr, optimizer, lr_schedule, patience, augment,
                     dropout, l2, width, depth, weights, json_lines, quiet, verbose, device, **kwargs):
    """Train an image classifier on DATA_DIR: one sub-folder of images per class.

    Prints one JSON summary (accuracy, loss, epochs, seconds) and writes OUTPUT plus a
    training-curve PNG beside it. Rerun with --resume after an interruption.

    \b
    Examples:
      dlkit train-classifier pets/ -o pets.keras
      dlkit train-classifier train/ --val-dir val/ --fine-tune-epochs 5 -o pets.keras
      dlkit import-mnist ../shared/data/mnist digits/
      dlkit train-classifier digits/train --val-dir digits/test --arch lenet5 --no-augment -o lenet.keras
      dlkit classify --model pets.keras photo.jpg
    """
    start(device, kwargs["seed"], quiet)
    config = TrainClassifierConfig(
        arch=arch, image_size=image_size, epochs=epochs, fine_tune_epochs=fine_tune_epochs,
        fine_tune_fraction=fine_tune_fraction, batch_size=batch_size, lr=lr, optimizer=optimizer,
        lr_schedule=lr_schedule, augment=augment, dropout=dropout, l2=l2, width=width, depth=depth,
        val_split=val_split, val_dir=val_dir, weights=weights or DEFAULTS.weights)
    record = train(data_dir, output_path, config, train_config(kwargs, patience=patience))
    out = output.Output(json_lines)
    out.emit(record)
    raise SystemExit(out.close())


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--model", required=True, type=click.Path(dir_okay=False),
              help="A .keras classifier trained with dlkit train-classifier.")
@click.option("--confusion", type=click.Path(dir_okay=False), default=None,
              help="Where to write the confusion-matrix PNG [default: MODEL.confusion.png].")
@click.option("-b", "--batch-size", type=click.IntRange(1), default=DEFAULTS.batch_size, show_default=True)
@output_options
@device_option
@handle_errors
def evaluate_classifier(data_dir, model, confusion, batch_size, json_lines, quiet, verbose, device):
    """Accuracy, per-class precision/recall and a confusion-matrix PNG on DATA_DIR (class folders).

    One record per class, then one metrics record.

    \b
    Examples:
      dlkit evaluate-classifier val/ --model pets.keras
    """
    start(device, quiet=quiet)
    per_class, metrics = evaluate(data_dir, model, confusion, batch_size)
    out = output.Output(json_lines)
    for record in per_class:
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
    output.quiet = quiet
    out = output.Output(json_lines)
    out.emit(write_mnist_folders(mnist_dir, out_dir, test_size, prefix))
    raise SystemExit(out.close())
