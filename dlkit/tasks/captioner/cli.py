import click

from dlkit.cli import common
from dlkit.cli.common import device_option, handle_errors, output_options, start, train_config, training_options
from dlkit.core import output
from dlkit.core.config import from_params, options
from dlkit.core.errors import DlkitError
from dlkit.core.inputs import iter_paths
from dlkit.tasks.captioner.config import Config

MODEL_HELP = "Captioner folder [default: the shipped one]."


@click.command()
@click.argument("data_dir", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False),
              help="Folder to write the captioner to.")
@options(Config, exclude=("beam_size",))
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where image features are cached [default: $DLKIT_CACHE or ~/.cache/dlkit].")
@training_options
@output_options
@device_option
@handle_errors
def train_captioner(data_dir, out, cache_dir, json_lines, quiet, verbose, device, **params):
    """Train an image captioner on DATA_DIR: Flickr8k as on Kaggle (Images/ +
    captions.txt), the original Flickr8k (Flickr8k.token.txt + split files) or COCO
    (captions_*.json). Image features are computed once and cached.

    \b
    Examples:
      dlkit train-captioner flickr8k/ -o captioner/
      dlkit train-captioner coco/ -o coco-captioner/ --min-count 10 --epochs 30
      dlkit caption photo.jpg --model captioner/
    """
    from dlkit.tasks.captioner.model import train

    # The training settings first: --seed and --patience are theirs as well as the Config's.
    training = train_config(params, patience=params["patience"])
    config = from_params(Config, params, seed=training.seed or 0, patience=training.patience)
    start(device, config.seed, quiet)
    run = train(data_dir, out, config, training, common.events(quiet), cache_dir=cache_dir)
    table = output.Output(json_lines)
    table.emit(run.summary)
    raise SystemExit(table.close())


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", type=click.Path(), default=None, help=MODEL_HELP)
@options(Config, only=("beam_size",))
@click.option("--attention-map", "attention_path", type=click.Path(dir_okay=False), default=None,
              help="Draw, for each word, where the model looked (PNG; one image only).")
@common.engine_options
@output_options
@device_option
@handle_errors
def caption(images, model, beam_size, attention_path, json_lines, quiet, verbose, device, **engine):
    """Describe IMAGES (files, globs, folders, or - for paths on stdin) in a sentence.
    Their CNN features are not cached (those train-captioner cached are reused).

    \b
    Examples:
      dlkit caption photo.jpg
      dlkit caption holiday/ --beam-size 5 > captions.jsonl
      dlkit caption dog.jpg --attention-map dog-attention.png
      dlkit caption photos/ --engine ray --workers 4 > captions.jsonl
    """
    from dlkit.tasks.captioner.model import load

    start(device, quiet=quiet)
    items = iter_paths(images)
    if attention_path:
        items = list(items)
        if len(items) != 1:
            raise DlkitError("--attention-map draws one image: give exactly one IMAGE")
        records = [load(model, beam_size).predict_with_attention(items[0], attention_path)]
    else:
        records = common.predictions(engine, "dlkit.tasks.captioner:load", {"path": model, "beam_size": beam_size},
                                     items, 32, quiet)
    table = output.Output(json_lines, columns={"input": None, "caption": None, "score": None})
    with common.events(quiet).progress(None, "captioning") as advance:
        for record in records:
            table.emit(record)
            advance()
    raise SystemExit(table.close())


@click.command()
@click.argument("data_dir", type=click.Path())
@click.option("--model", type=click.Path(), default=None, help=MODEL_HELP)
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test", show_default=True)
@options(Config, only=("beam_size",))
@click.option("--samples", type=click.IntRange(0), default=5, show_default=True,
              help="Example captions to show.")
@output_options
@device_option
@handle_errors
def evaluate_captioner(data_dir, model, split, beam_size, samples, json_lines, quiet, verbose, device):
    """Corpus BLEU-1..4 of a captioner against all reference captions of a split.

    \b
    Example:
      dlkit evaluate-captioner flickr8k/ --split test
    """
    from dlkit.tasks.captioner.model import evaluate

    start(device, quiet=quiet)
    table = output.Output(json_lines)
    table.emit(evaluate(data_dir, model, split, beam_size, samples, common.events(quiet)))
    raise SystemExit(table.close())
