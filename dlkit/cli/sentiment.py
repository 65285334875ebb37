import os

import click

import numpy as np

from dlkit import output, plots
from dlkit.cli.common import device_option, handle_errors, output_options, start, train_config, training_options
from dlkit.inputs import iter_texts
from dlkit.sentiment import ARCHS, CELLS, POOLINGS, Sentiment, SentimentConfig, confusion_text, evaluate, train

DEFAULTS = SentimentConfig()


def _names(value):
    return tuple(n.strip() for n in value.split(",")) if value else None


def _data_options(fn):
    fn = click.option("--label-col", default=None, help="CSV/TSV/JSON Lines column with the labels "
                      "[default: detected: label, sentiment, class, ...].")(fn)
    fn = click.option("--text-col", default=None, help="CSV/TSV/JSON Lines column with the texts "
                      "[default: detected: text, sentence, review, ...].")(fn)
    return fn


@click.command("train-sentiment")
@click.argument("data", type=click.Path(exists=True))
@click.option("-o", "--output", "output_dir", type=click.Path(dir_okay=True), required=True,
              help="Model folder to write (model.keras, vocab.json, config.json, training.png).")
@click.option("--validation", type=click.Path(exists=True), default=None,
              help="Labelled data for validation and early stopping [default: 10% of DATA held out].")
@_data_options
@click.option("--label-names", default=None,
              help="Names for the sorted data labels, comma-separated, e.g. negative,positive "
                   "[default: 0/1 become negative/positive, other labels are kept].")
@click.option("--arch", type=click.Choice(ARCHS), default=DEFAULTS.arch, show_default=True,
              help="bilstm/bigru over word embeddings, or ngrams: a fast fastText-style bag of words and bigrams.")
@click.option("--cell", type=click.Choice(CELLS), default=DEFAULTS.cell, show_default=True,
              help="dlkit-lstm: the LSTM written out from its gate equations (slower, same results).")
@click.option("--embeddings", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Pretrained word vectors to start from (word2vec binary/text, GloVe text, gensim).")
@click.option("--freeze-embeddings/--fine-tune-embeddings", default=DEFAULTS.freeze_embeddings, show_default=True,
              help="Keep --embeddings fixed, or train them with the rest.")
@click.option("--expand-vocabulary", type=click.IntRange(0), default=DEFAULTS.expand_vocabulary, show_default=True,
              help="With --embeddings: grow the vocabulary to this many words from the vectors file, so that words "
                   "never seen in training keep a (linearly mapped) vector instead of <unk>; 0: off.")
@click.option("--allow-pickle", is_flag=True,
              help="Read a gensim native --embeddings file (a pickle: trusted files only).")
@click.option("--max-length", type=click.IntRange(1), default=DEFAULTS.max_length, show_default=True,
              help="Tokens kept per text; longer texts are truncated.")
@click.option("--vocab-size", type=click.IntRange(3), default=DEFAULTS.vocab_size, show_default=True)
@click.option("--min-count", type=click.IntRange(1), default=DEFAULTS.min_count, show_default=True,
              help="Ignore words seen fewer times in training.")
@click.option("--embedding-dim", type=click.IntRange(1), default=DEFAULTS.embedding_dim, show_default=True,
              help="Width of learned embeddings (--embeddings sets its own).")
@click.option("--units", type=click.IntRange(1), default=DEFAULTS.units, show_default=True,
              help="Recurrent units per direction.")
@click.option("--pooling", type=click.Choice(POOLINGS), default=DEFAULTS.pooling, show_default=True,
              help="last: final state of each direction; max: each unit's maximum over the text; "
                   "attention: a learned weighted mean of the steps.")
@click.option("--ensemble", type=click.IntRange(1), default=DEFAULTS.ensemble, show_default=True,
              help="Train this many models (seeds --seed, --seed+1, ...) and average their probabilities.")
@click.option("--layers", type=click.IntRange(1), default=DEFAULTS.layers, show_default=True,
              help="Stacked bidirectional recurrent layers.")
@click.option("--dropout", type=click.FloatRange(0, 0.95), default=DEFAULTS.dropout, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=DEFAULTS.epochs, show_default=True)
@click.option("-b", "--batch-size", type=click.IntRange(1), default=DEFAULTS.batch_size, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=DEFAULTS.learning_rate,
              help="Adam's learning rate [default: 0.002; 0.01 for ngrams].")
@click.option("--patience", type=click.IntRange(0), default=3, show_default=True,
              help="Stop after this many epochs without a better validation accuracy (0: never).")
@training_options
@output_options
@device_option
@handle_errors
def train_sentiment(data, output_dir, validation, text_col, label_col, label_names, arch, cell, embeddings,
                    freeze_embeddings, expand_vocabulary, allow_pickle, max_length, vocab_size, min_count, embedding_dim,
                    units, layers, ensemble, pooling, dropout, epochs, batch_size, learning_rate, patience, json_lines,
                    quiet, verbose, device, **kwargs):
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
    start(device, kwargs.get("seed"), quiet)
    config = SentimentConfig(
        arch=arch, cell=cell, max_length=max_length, vocab_size=vocab_size, min_count=min_count,
        embedding_dim=embedding_dim, embeddings=embeddings, freeze_embeddings=freeze_embeddings,
        expand_vocabulary=expand_vocabulary, allow_pickle=allow_pickle, units=units,
        layers=layers, ensemble=ensemble, pooling=pooling, dropout=dropout, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, text_col=text_col, label_col=label_col, label_names=_names(label_names))
    summary = train(data, output_dir, config, train_config(kwargs, patience=patience or None), validation)
    out = output.Output(json_lines)
    out.emit(summary)
    raise SystemExit(out.close())


@click.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", type=click.Path(exists=True, file_okay=False), default=None,
              help="A model folder written by dlkit train-sentiment [default: the shipped SST-2 model].")
@click.option("-b", "--batch-size", type=click.IntRange(1), default=256, show_default=True,
              help="Texts per batch; with -, results for each batch are written as it completes.")
@output_options
@device_option
@handle_errors
def sentiment(texts, model, batch_size, json_lines, quiet, verbose, device):
    """Label each of TEXTS positive or negative (or the model's own labels).

    With -, reads one text per line from stdin. Each text gets a record
    {"input", "label", "score"}; an empty line, or one that is not UTF-8, gets an
    error record and the rest go on (exit code 1 at the end).

    \b
    Examples:
      dlkit sentiment "What a wonderful film" "A dull, lifeless mess"
      cut -f1 reviews.tsv | dlkit sentiment - > labels.jsonl
      dlkit sentiment --model imdb/ "Not my cup of tea"
    """
    start(device, quiet=quiet)
    analyzer = Sentiment(model, batch_size)
    out = output.Output(json_lines, columns={"input": None, "label": None, "score": None})
    for record in analyzer.analyze(iter_texts(texts)):
        out.emit(record)
    raise SystemExit(out.close())


@click.command("evaluate-sentiment")
@click.argument("data", type=click.Path(exists=True))
@click.option("--model", type=click.Path(exists=True, file_okay=False), default=None,
              help="A model folder written by dlkit train-sentiment [default: the shipped SST-2 model].")
@_data_options
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
    record = evaluate(data, model, text_col, label_col, batch_size)
    output.info(confusion_text(record["confusion_matrix"], record["labels"]))
    if plot:
        plots.confusion_matrix(np.array(record["confusion_matrix"]), record["labels"], plot,
                               title=os.path.basename(data))
    # The table keeps the figures; the confusion matrix is on stderr above it, in full.
    out = output.Output(json_lines, columns={"examples": None, "accuracy": None, "macro_f1": None})
    out.emit(record)
    raise SystemExit(out.close())
