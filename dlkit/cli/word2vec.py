import click

from dlkit import output
from dlkit import word2vec as w2v
from dlkit.cli.common import handle_errors, output_options
from dlkit.errors import ItemError

DEFAULTS = w2v.Word2VecConfig()


def _neighbours(entries):
    return ", ".join(f"{e['word']} {e['score']:.2f}" for e in entries[1:])


COLUMNS = {"input": None, "word": None, "score": None, "top": _neighbours}

pickle_option = click.option("--allow-pickle", is_flag=True,
                             help="Accept gensim's native format (a pickle: only for files you trust).")


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
@click.option("--dim", type=click.IntRange(1), default=DEFAULTS.dim, show_default=True, help="Vector size.")
@click.option("--window", type=click.IntRange(1), default=DEFAULTS.window, show_default=True,
              help="Context words on each side.")
@click.option("--min-count", type=click.IntRange(1), default=DEFAULTS.min_count, show_default=True,
              help="Ignore words seen fewer times.")
@click.option("--epochs", type=click.IntRange(1), default=DEFAULTS.epochs, show_default=True)
@click.option("--sg/--cbow", default=DEFAULTS.sg, show_default=True, help="Skip-gram or CBOW.")
@click.option("--negative", type=click.IntRange(0), default=DEFAULTS.negative, show_default=True,
              help="Negative samples per word.")
@click.option("--workers", type=click.IntRange(1), default=DEFAULTS.workers, show_default=True,
              help="Training threads (1 for bit-identical reruns).")
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True)
@output_options
@handle_errors
def train(corpus, output_path, dim, window, min_count, epochs, sg, negative, workers, seed,
          json_lines, quiet, verbose):
    """Train word vectors on CORPUS: text files (one sentence or document a line), folders
    of .txt files, or - for file names on stdin."""
    output.quiet = quiet
    paths = w2v.corpus_paths(list(corpus))
    config = w2v.Word2VecConfig(dim=dim, window=window, min_count=min_count, epochs=epochs, sg=sg,
                                negative=negative, workers=workers, seed=seed)
    with output.progress(epochs, "word2vec") as advance:
        vectors = w2v.train(paths, config, on_epoch=advance)
    w2v.save(vectors, output_path)
    output.info(f"wrote {len(vectors.key_to_index)} vectors of {dim} dimensions to {output_path}")
    out = output.Output(json_lines)
    out.emit({"input": ", ".join(paths), "output": output_path, "words": len(vectors.key_to_index),
              "dim": dim, "epochs": epochs})
    raise SystemExit(out.close())


@word2vec.command()
@click.argument("vectors", type=click.Path(dir_okay=False))
@click.argument("words", nargs=-1, required=True)
@click.option("--top", type=click.IntRange(1), default=DEFAULTS.top, show_default=True)
@pickle_option
@output_options
@handle_errors
def similar(vectors, words, top, allow_pickle, json_lines, quiet, verbose):
    """The words nearest to each of WORDS (- reads one word a line from stdin)."""
    output.quiet = quiet
    from dlkit.inputs import iter_texts

    keyed = w2v.load(vectors, allow_pickle)
    out = output.Output(json_lines, columns=COLUMNS)
    for item in iter_texts(words):
        if item.error:
            out.error(item.input, item.error)
            continue
        try:
            neighbours = w2v.similar(keyed, item.text.strip(), top)
        except ItemError as e:
            out.error(item.input, str(e))
            continue
        out.emit({"input": item.input, "word": neighbours[0]["word"], "score": neighbours[0]["score"],
                  "top": neighbours})
    raise SystemExit(out.close())


@word2vec.command()
@click.argument("vectors", type=click.Path(dir_okay=False))
@click.argument("expression", nargs=-1)
@click.option("--positive", "-p", multiple=True, help="A word to add (repeatable).")
@click.option("--negative", "-n", multiple=True, help="A word to subtract (repeatable).")
@click.option("--top", type=click.IntRange(1), default=DEFAULTS.top, show_default=True)
@pickle_option
@output_options
@handle_errors
def analogy(vectors, expression, positive, negative, top, allow_pickle, json_lines, quiet, verbose):
    """Solve an analogy: dlkit word2vec analogy VECTORS king - man + woman
    (quote it or put -- before it if it starts with -), or use --positive/--negative."""
    output.quiet = quiet
    positive, negative = list(positive), list(negative)
    if expression:
        more_positive, more_negative = w2v.parse_analogy(list(expression))
        positive, negative = positive + more_positive, negative + more_negative
    if not positive:
        raise click.UsageError("give an analogy such as: king - man + woman, or --positive WORD")
    keyed = w2v.load(vectors, allow_pickle)
    neighbours = w2v.analogy(keyed, positive, negative, top)
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
    one record per section, then the overall metrics."""
    output.quiet = quiet
    keyed = w2v.load(vectors, allow_pickle)
    sections, metrics = w2v.evaluate(keyed, questions)
    out = output.Output(json_lines, columns={"input": None, "accuracy": None, "correct": None, "total": None,
                                             "skipped": None})
    for record in sections:
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
    word2vec binary."""
    output.quiet = quiet
    keyed = w2v.load(vectors, allow_pickle)
    binary = not target.lower().endswith(".txt")
    w2v.save(keyed, target, binary=binary)
    out = output.Output(json_lines)
    out.emit({"input": vectors, "output": target, "format": "word2vec-binary" if binary else "word2vec-text",
              "words": len(keyed.key_to_index), "dim": keyed.vector_size})
    raise SystemExit(out.close())
