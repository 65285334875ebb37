import click

from dlkit.cli import common, output
from dlkit.cli.common import handle_errors, output_options
from dlkit.core.config import from_params, options
from dlkit.core.inputs import iter_texts
from dlkit.tasks.word2vec.config import TOP, Config


def _neighbours(entries):
    return ", ".join(f"{e['word']} {e['score']:.2f}" for e in entries[1:])


COLUMNS = {"input": None, "word": None, "score": None, "top": _neighbours}

pickle_option = click.option("--allow-pickle", is_flag=True,
                             help="Accept gensim's native format (a pickle: only for files you trust).")
top_option = click.option("--top", type=click.IntRange(1), default=TOP, show_default=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def word2vec():
    """Train, query, evaluate and export Word2Vec word vectors (gensim).

    \b
    Examples:
      dlkit word2vec train corpus/ -o vectors.kv --epochs 10
      dlkit word2vec similar vectors.kv paris --top 5
      dlkit word2vec analogy vectors.kv king - man + woman
      dlkit word2vec evaluate vectors.kv
      dlkit word2vec export vectors.kv vectors.txt

    VECTORS may be word2vec binary or text, GloVe text, or (with --allow-pickle) gensim's
    native format; the format is detected from the file.
    """


@word2vec.command()
@click.argument("corpus", nargs=-1, required=True)
@click.option("-o", "--output", "output_path", type=click.Path(dir_okay=False), required=True,
              help="Where to write the vectors (word2vec binary, whatever the extension).")
@options(Config)
@output_options
@handle_errors
def train(corpus, output_path, json_lines, quiet, verbose, **params):
    """Train word vectors on CORPUS: text files (one sentence or document a line), folders
    of .txt files, or - for file names on stdin.

    \b
    Examples:
      dlkit word2vec train corpus/ -o vectors.kv --epochs 10
      find news -name '*.txt' | dlkit word2vec train - -o news.kv --dim 200
    """
    from dlkit.tasks.word2vec import model

    events = common.events(quiet)
    run = model.train(corpus, output_path, from_params(Config, params), events)
    events.message(f"wrote {run.summary['words']} vectors of {run.summary['dim']} dimensions to {output_path}")
    out = output.Output(json_lines)
    out.emit(run.summary)
    raise SystemExit(out.close())


@word2vec.command()
@click.argument("vectors", type=click.Path(dir_okay=False))
@click.argument("words", nargs=-1, required=True)
@top_option
@pickle_option
@output_options
@handle_errors
def similar(vectors, words, top, allow_pickle, json_lines, quiet, verbose):
    """The words nearest to each of WORDS (- reads one word a line from stdin).

    \b
    Examples:
      dlkit word2vec similar vectors.kv paris london --top 5
      cut -f1 words.tsv | dlkit word2vec similar glove.bin -
    """
    from dlkit.tasks.word2vec import model

    out = output.Output(json_lines, columns=COLUMNS)
    for record in model.load(vectors, allow_pickle, top).predict(iter_texts(words)):
        out.emit(record)
    raise SystemExit(out.close())


@word2vec.command()
@click.argument("vectors", type=click.Path(dir_okay=False))
@click.argument("expression", nargs=-1)
@click.option("--positive", "-p", multiple=True, help="A word to add (repeatable).")
@click.option("--negative", "-n", multiple=True, help="A word to subtract (repeatable).")
@top_option
@pickle_option
@output_options
@handle_errors
def analogy(vectors, expression, positive, negative, top, allow_pickle, json_lines, quiet, verbose):
    """Solve an analogy: dlkit word2vec analogy VECTORS king - man + woman
    (quote it or put -- before it if it starts with -), or use --positive/--negative.

    \b
    Examples:
      dlkit word2vec analogy glove.bin king - man + woman
      dlkit word2vec analogy glove.bin --positive paris --positive italy --negative france
    """
    from dlkit.tasks.word2vec import model

    positive, negative = list(positive), list(negative)
    if expression:
        more_positive, more_negative = model.parse_analogy(list(expression))
        positive, negative = positive + more_positive, negative + more_negative
    if not positive:
        raise click.UsageError("give an analogy such as: king - man + woman, or --positive WORD")
    neighbours = model.load(vectors, allow_pickle, top).analogy(positive, negative)
    shown = " ".join(expression) or " + ".join(positive) + "".join(f" - {word}" for word in negative)
    out = output.Output(json_lines, columns=COLUMNS)
    out.emit({"input": shown, "word": neighbours[0]["word"], "score": neighbours[0]["score"], "top": neighbours})
    raise SystemExit(out.close())


@word2vec.command()
@click.argument("vectors", type=click.Path(dir_okay=False))
@click.argument("questions", type=click.Path(dir_okay=False), required=False)
@pickle_option
@output_options
@handle_errors
def evaluate(vectors, questions, allow_pickle, json_lines, quiet, verbose):
    """Analogy accuracy of VECTORS on QUESTIONS (default: questions-words.txt from gensim):
    one record per section, then the overall metrics.

    \b
    Examples:
      dlkit word2vec evaluate vectors.kv
      dlkit word2vec evaluate glove.bin my-questions.txt --json
    """
    from dlkit.tasks.word2vec import model

    metrics = model.evaluate(questions, vectors, allow_pickle)
    out = output.Output(json_lines, columns={"input": None, "accuracy": None, "correct": None, "total": None,
                                             "skipped": None})
    for record in metrics.pop("sections"):
        out.emit(record)
    out.emit(metrics)
    raise SystemExit(out.close())


@word2vec.command()
@click.argument("vectors", type=click.Path(dir_okay=False))
@click.argument("target", type=click.Path(dir_okay=False))
@pickle_option
@output_options
@handle_errors
def export(vectors, target, allow_pickle, json_lines, quiet, verbose):
    """Write VECTORS to TARGET: word2vec text (with a header) if it ends in .txt, else
    word2vec binary.

    \b
    Examples:
      dlkit word2vec export vectors.kv vectors.txt
      dlkit word2vec export glove.txt glove.bin
    """
    from dlkit.tasks.word2vec import model

    out = output.Output(json_lines)
    out.emit(model.load(vectors, allow_pickle).export(target))
    raise SystemExit(out.close())
