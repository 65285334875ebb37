import click

from dlkit.cli import common
from dlkit.cli.common import device_option, handle_errors, output_options, start, train_config, training_options
from dlkit.core import output
from dlkit.core.config import from_params, options
from dlkit.core.inputs import iter_texts
from dlkit.tasks.sentiment.config import Config

MODEL_HELP = "A model folder written by dlkit train-sentiment [default: the shipped SST-2 model]."
data_options = options(Config, only=("text_col", "label_col"))


@click.command("train-sentiment")
@click.argument("data", type=click.Path(exists=True))
@click.option("-o", "--output", "output_dir", type=click.Path(dir_okay=True), required=True,
              help="Model folder to write (model.keras, vocab.json, config.json, training.png).")
@click.option("--validation", type=click.Path(exists=True), default=None,
              help="Labelled data for validation and early stopping [default: 10% of DATA held out].")
@options(Config)
@click.option("--patience", type=click.IntRange(0), default=3, show_default=True,
              help="Stop after this many epochs without a better validation accuracy (0: never).")
@training_options
@output_options
@device_option
@handle_errors
def train_sentiment(data, output_dir, validation, patience, json_lines, quiet, verbose, device, **params):
    """Train a sentiment classifier on DATA; write the model folder OUTPUT.

    DATA is a folder with one subfolder of .txt files per label (aclImdb: train/pos,
    train/neg; unsup/ is ignored), a CSV/TSV file with a header row, or JSON Lines.
    Labels may be any strings; they are stored with the model.

    \b
    Examples:
      dlkit train-sentiment sst2/train.tsv --validation sst2/dev.tsv -o sentiment/
      dlkit train-sentiment aclImdb/ --max-length 400 -o imdb/
      dlkit train-sentiment reviews.csv --text-col body --label-col stars -o stars/
      dlkit train-sentiment sst2/train.tsv --embeddings glove.6B.50d.txt -o glove-sentiment/
      dlkit train-sentiment sst2/train.tsv --arch ngrams -o fast/
    """
    config = from_params(Config, params)
    settings = train_config(params, patience=patience or None)
    start(device, settings.seed, quiet)
    from dlkit.tasks.sentiment.model import train

    run = train(data, output_dir, config, settings, common.events(quiet), validation)
    out = output.Output(json_lines)
    out.emit(run.summary)
    raise SystemExit(out.close())


@click.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", type=click.Path(exists=True, file_okay=False), default=None, help=MODEL_HELP)
@click.option("-b", "--batch-size", type=click.IntRange(1), default=256, show_default=True,
              help="Texts per batch; with -, results for each batch are written as it completes.")
@common.engine_options
@output_options
@device_option
@handle_errors
def sentiment(texts, model, batch_size, json_lines, quiet, verbose, device, **engine):
    """Label each of TEXTS positive or negative (or the model's own labels).

    With -, reads one text per line from stdin. Each text gets a record
    {"input", "label", "score"}; an empty line, or one that is not UTF-8, gets an
    error record and the rest go on (exit code 1 at the end).

    \b
    Examples:
      dlkit sentiment "What a wonderful film" "A dull, lifeless mess"
      cut -f1 reviews.tsv | dlkit sentiment - > labels.jsonl
      dlkit sentiment --model imdb/ "Not my cup of tea"
      dlkit sentiment --engine ray --workers 4 - < year-of-news.txt > labels.jsonl
    """
    start(device, quiet=quiet)
    records = common.predictions(engine, "dlkit.tasks.sentiment:load", {"path": model, "batch_size": batch_size},
                                 iter_texts(texts), batch_size, quiet)
    out = output.Output(json_lines, columns={"input": None, "label": None, "score": None})
    for record in records:
        out.emit(record)
    raise SystemExit(out.close())


@click.command("evaluate-sentiment")
@click.argument("data", type=click.Path(exists=True))
@click.option("--model", type=click.Path(exists=True, file_okay=False), default=None, help=MODEL_HELP)
@data_options
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Also draw the confusion matrix to this PNG.")
@click.option("-b", "--batch-size", type=click.IntRange(1), default=256, show_default=True)
@output_options
@device_option
@handle_errors
def evaluate_sentiment(data, model, text_col, label_col, plot, batch_size, json_lines, quiet, verbose, device):
    """Accuracy, macro-F1 and confusion matrix of a sentiment model on labelled DATA.

    DATA is read like train-sentiment's (an aclImdb folder: its test/ part). Labels
    0/1 match a model that names them negative/positive.

    \b
    Examples:
      dlkit evaluate-sentiment sst2/test_is_glue_dev.tsv
      dlkit evaluate-sentiment aclImdb/ --model imdb/ --plot confusion.png
    """
    start(device, quiet=quiet)
    from dlkit.tasks.sentiment.model import confusion_text, evaluate

    record = evaluate(data, model, text_col, label_col, batch_size, plot, common.events(quiet))
    output.info(confusion_text(record["confusion_matrix"], record["labels"]))
    # The table keeps the figures; the confusion matrix is on stderr above it, in full.
    out = output.Output(json_lines, columns={"examples": None, "accuracy": None, "macro_f1": None})
    out.emit(record)
    raise SystemExit(out.close())
