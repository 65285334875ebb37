"""import-mnist: the classifier's one hand-written command (the standard ones, classify,
train-classifier and evaluate-classifier, are made from the task's description)."""

import click

from dlkit.cli import output
from dlkit.cli.common import handle_errors, output_options


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
