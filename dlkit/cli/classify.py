import click

from dlkit import output
from dlkit.backbones import BACKBONES
from dlkit.classify import ClassifyConfig, Classifier
from dlkit.cli.common import device_option, handle_errors, output_options, start
from dlkit.inputs import expand_paths

DEFAULTS = ClassifyConfig()


def _top(entries):
    return ", ".join(f"{e['label']} {e['score']:.2f}" for e in entries[1:])


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("-k", "--top-k", type=click.IntRange(1), default=DEFAULTS.top_k, show_default=True,
              help="How many labels to report per image.")
@click.option("--backbone", type=click.Choice(list(BACKBONES)), default=DEFAULTS.backbone,
              show_default=True, help="ImageNet network to use.")
@click.option("--model", type=click.Path(dir_okay=False), default=None,
              help="A .keras classifier trained with dlkit train-classifier (or any Keras image classifier).")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Load the backbone's weights from this file instead of the ImageNet download.")
@click.option("-b", "--batch-size", type=click.IntRange(1), default=DEFAULTS.batch_size, show_default=True)
@output_options
@device_option
@handle_errors
def classify(images, top_k, backbone, model, weights, batch_size, json_lines, quiet, verbose, device):
    """Label IMAGES (files, globs, folders, or - for paths on stdin).

    \b
    Examples:
      dlkit classify photo.jpg
      dlkit classify holiday/ --top-k 3
      find . -name '*.png' | dlkit classify - > labels.jsonl
      dlkit classify --model pets.keras cat.jpg
    """
    start(device, quiet=quiet)
    paths = expand_paths(images)
    config = ClassifyConfig(backbone=backbone, top_k=top_k, batch_size=batch_size,
                            model=model, weights=weights)
    classifier = Classifier(config)
    out = output.Output(json_lines, columns={"input": None, "label": None, "score": None, "top": _top})
    with output.progress(len(paths), "classifying") as advance:
        for record in classifier.classify(paths, on_batch=advance):
            out.emit(record)
    raise SystemExit(out.close())
