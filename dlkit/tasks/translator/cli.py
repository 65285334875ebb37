import click

from dlkit.cli import common
from dlkit.cli.common import device_option, handle_errors, output_options, start, train_config, training_options
from dlkit.core import output
from dlkit.core.config import from_params, options
from dlkit.core.errors import DlkitError
from dlkit.core.inputs import iter_texts
from dlkit.tasks.translator.config import Config

MODEL_HELP = "Translator folder [default: the shipped en->fr]."


@click.command()
@click.argument("data", required=False)
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False),
              help="Folder to write the translator to.")
@click.option("--src", type=click.Path(dir_okay=False), help="Source sentences, one a line (with --tgt).")
@click.option("--tgt", type=click.Path(dir_okay=False), help="Target sentences, aligned with --src.")
@click.option("--reverse", is_flag=True, help="Translate from the second column to the first.")
@options(Config, exclude=("beam_size",))
@training_options
@output_options
@device_option
@handle_errors
def train_translator(data, out, src, tgt, reverse, json_lines, quiet, verbose, device, **params):
    """Train a seq2seq translator with attention on DATA (tab-separated pairs, e.g. the
    Tatoeba/Anki files) or on --src/--tgt aligned files.

    \b
    Examples:
      dlkit train-translator fra.txt -o en-fr/
      dlkit train-translator fra.txt --reverse -o fr-en/
      dlkit train-translator --src corpus.en --tgt corpus.fr -o en-fr/ --attention bahdanau
    """
    from dlkit.tasks.translator.model import train

    # The training settings first: --seed and --patience are theirs as well as the Config's.
    training = train_config(params, patience=params["patience"])
    config = from_params(Config, params, seed=training.seed or 0, patience=training.patience)
    start(device, config.seed, quiet)
    run = train(data, out, config, training, common.events(quiet), src=src, tgt=tgt, reverse=reverse)
    table = output.Output(json_lines)
    table.emit(run.summary)
    raise SystemExit(table.close())


@click.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", type=click.Path(), default=None, help=MODEL_HELP)
@options(Config, only=("beam_size",))
@click.option("--attention-map", "attention_path", type=click.Path(dir_okay=False), default=None,
              help="Draw where the model looked, for a single sentence (PNG).")
@click.option("--json", "json_lines", is_flag=True, help="JSON Lines with scores instead of plain text.")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--verbose", is_flag=True, help="Let TensorFlow's own log messages through.")
@common.engine_options
@device_option
@handle_errors
def translate(texts, model, beam_size, attention_path, json_lines, quiet, verbose, device, **engine):
    """Translate TEXTS, or - for one sentence per line from stdin: one output line per
    input line, in order (empty lines stay empty), streamed in batches.

    \b
    Examples:
      dlkit translate "Where is the station?"
      dlkit translate - < english.txt > french.txt
      dlkit translate --json "I am hungry." --attention-map hungry.png
      dlkit translate --engine ray --address head:6379 --workers 8 - < corpus.en > corpus.fr
    """
    from dlkit.tasks.translator.model import load

    if attention_path and (len(texts) != 1 or texts[0] == "-"):
        raise DlkitError("--attention-map draws one sentence: give exactly one TEXT")
    start(device, quiet=quiet)
    if attention_path:
        records = [load(model, beam_size).predict_with_attention(texts[0], attention_path)]
    else:
        records = common.predictions(engine, "dlkit.tasks.translator:load", {"path": model, "beam_size": beam_size},
                                     iter_texts(texts), 64, quiet)
    stdout = click.get_text_stream("stdout")  # held: the Ray engine sends Ray's own notes to stderr
    failed = 0
    for record in records:
        if "error" in record:
            failed += 1
            output.error_line(record["error"])
        if json_lines:
            click.echo(output.json_line(record), file=stdout)
        else:  # a line that cannot be translated keeps its place as an empty line
            click.echo(record.get("translation", ""), file=stdout)
    raise SystemExit(1 if failed else 0)


@click.command()
@click.argument("data")
@click.option("--model", type=click.Path(), default=None, help=MODEL_HELP)
@click.option("--split", type=click.Choice(["test", "all"]), default="test", show_default=True,
              help="test: only the pairs train-translator held out from DATA (same hashing); all: every pair.")
@click.option("--reverse", is_flag=True, help="Evaluate the second column -> first.")
@options(Config, only=("beam_size",))
@click.option("--samples", type=click.IntRange(0), default=5, show_default=True, help="Example translations to show.")
@output_options
@device_option
@handle_errors
def evaluate_translator(data, model, split, reverse, beam_size, samples, json_lines, quiet, verbose, device):
    """sacreBLEU and chrF (with their signatures) of a translator on DATA.

    \b
    Examples:
      dlkit evaluate-translator fra.txt                   # the held-out test split
      dlkit evaluate-translator newstest.tsv --split all --model en-fr/
    """
    from dlkit.tasks.translator.model import evaluate

    start(device, quiet=quiet)
    table = output.Output(json_lines)
    table.emit(evaluate(data, model, split, reverse, beam_size, samples, common.events(quiet)))
    raise SystemExit(table.close())
