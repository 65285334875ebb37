import json

import click

from dlkit import modelio, output
from dlkit.cli.common import device_option, handle_errors, output_options, start, train_config, training_options
from dlkit.errors import DlkitError
from dlkit.inputs import iter_texts
from dlkit.translate import (Translator, TranslatorConfig, attention_map, evaluate, read_pairs, split_pairs,
                             stream_translate)
from dlkit.translate import train_translator as run_train

DEFAULTS = TranslatorConfig()


def _load(model):
    return Translator.load(model or modelio.pretrained_path("translation"))


@click.command()
@click.argument("data", required=False)
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False),
              help="Folder to write the translator to.")
@click.option("--src", type=click.Path(dir_okay=False), help="Source sentences, one a line (with --tgt).")
@click.option("--tgt", type=click.Path(dir_okay=False), help="Target sentences, aligned with --src.")
@click.option("--reverse", is_flag=True, help="Translate from the second column to the first.")
@click.option("--max-length", type=click.IntRange(4), default=DEFAULTS.max_length, show_default=True,
              help="Longest sentence in subwords; longer pairs are left out.")
@click.option("--max-pairs", type=click.IntRange(10), default=None, help="Train on only this many pairs.")
@click.option("--vocab-size", type=click.IntRange(50), default=DEFAULTS.vocab_size, show_default=True)
@click.option("--embedding-dim", type=click.IntRange(4), default=DEFAULTS.embedding_dim, show_default=True)
@click.option("--units", type=click.IntRange(4), default=DEFAULTS.units, show_default=True)
@click.option("--cell", type=click.Choice(["lstm", "gru"]), default=DEFAULTS.cell, show_default=True)
@click.option("--bidirectional/--unidirectional", default=DEFAULTS.bidirectional, show_default=True)
@click.option("--attention", type=click.Choice(["luong", "bahdanau"]), default=DEFAULTS.attention,
              show_default=True)
@click.option("--dropout", type=click.FloatRange(0, 0.9), default=DEFAULTS.dropout, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=DEFAULTS.epochs, show_default=True)
@click.option("-b", "--batch-size", type=click.IntRange(1), default=DEFAULTS.batch_size, show_default=True)
@click.option("--lr", type=float, default=DEFAULTS.learning_rate, show_default=True)
@click.option("--patience", type=click.IntRange(1), default=DEFAULTS.patience, show_default=True,
              help="Stop when validation BLEU has not improved for this many epochs.")
@click.option("--val-fraction", type=click.FloatRange(0.001, 0.5), default=DEFAULTS.val_fraction,
              show_default=True)
@click.option("--test-fraction", type=click.FloatRange(0, 0.5), default=DEFAULTS.test_fraction, show_default=True,
              help="Held out (never trained on) for evaluate-translator --split test.")
@click.option("--lr-patience", type=click.IntRange(1), default=DEFAULTS.lr_patience, show_default=True,
              help="Halve the learning rate when validation BLEU has not improved for this many epochs.")
@click.option("--bleu-sentences", type=click.IntRange(1), default=DEFAULTS.bleu_sentences, show_default=True)
@training_options
@output_options
@device_option
@handle_errors
def train_translator(data, out, src, tgt, reverse, max_length, max_pairs, vocab_size, embedding_dim, units, cell,
                     bidirectional, attention, dropout, epochs, batch_size, lr, patience, val_fraction,
                     test_fraction, lr_patience, bleu_sentences, json_lines, quiet, verbose, device, **kwargs):
    """Train a seq2seq translator with attention on DATA (tab-separated pairs, e.g. the
    Tatoeba/Anki files) or on --src/--tgt aligned files.

    \b
    Examples:
      dlkit train-translator fra.txt -o en-fr/
      dlkit train-translator fra.txt --reverse -o fr-en/
      dlkit train-translator --src corpus.en --tgt corpus.fr -o en-fr/ --attention bahdanau
    """
    from dlkit import plots
    from dlkit.training import ProgressBar

    seed = kwargs.get("seed") or 0
    start(device, seed, quiet)
    config = TranslatorConfig(vocab_size=vocab_size, max_length=max_length, embedding_dim=embedding_dim,
                              units=units, cell=cell, bidirectional=bidirectional, attention=attention,
                              dropout=dropout, batch_size=batch_size, epochs=epochs, learning_rate=lr,
                              val_fraction=val_fraction, test_fraction=test_fraction, bleu_sentences=bleu_sentences,
                              lr_patience=lr_patience, patience=patience, seed=seed, max_pairs=max_pairs)
    pairs = read_pairs(data, src, tgt, reverse)
    if pairs.skipped:
        output.warn(f"skipped {pairs.skipped} malformed line(s) (one column or an empty side)")
    train, validation, test = split_pairs(pairs, val_fraction, test_fraction)
    if max_pairs:
        train.sources, train.targets = train.sources[:max_pairs], train.targets[:max_pairs]
    if not validation.sources:
        raise DlkitError("no validation pairs: raise --val-fraction or give more data")
    output.info(f"{len(train.sources)} training, {len(validation.sources)} validation, {len(test.sources)} test pairs")
    steps = -(-len(train.sources) // batch_size)
    translator, history = run_train(train, validation, out, config, train_config(kwargs, patience=patience),
                                    callbacks=[ProgressBar(epochs, steps, "training translator")],
                                    on_message=output.info)
    curves = out.rstrip("/") + ".curves.png"
    plots.training_curves(history, curves, title="translator")
    out_table = output.Output(json_lines)
    best = max(history.get("val_bleu", [0.0]))
    out_table.emit({"input": data or src, "model": out, "epochs": len(history["loss"]),
                    "loss": round(history["loss"][-1], 4), "best_val_bleu": best,
                    "seconds": round(history["seconds"], 1), "skipped": pairs.skipped, "curves": curves})
    raise SystemExit(out_table.close())


@click.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", type=click.Path(), default=None, help="Translator folder [default: the shipped en->fr].")
@click.option("--beam-size", type=click.IntRange(1), default=DEFAULTS.beam_size, show_default=True)
@click.option("--attention-map", "attention_path", type=click.Path(dir_okay=False), default=None,
              help="Draw where the model looked, for a single sentence (PNG).")
@click.option("--json", "json_lines", is_flag=True, help="JSON Lines with scores instead of plain text.")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--verbose", is_flag=True, help="Let TensorFlow's own log messages through.")
@device_option
@handle_errors
def translate(texts, model, beam_size, attention_path, json_lines, quiet, verbose, device):
    """Translate TEXTS, or - for one sentence per line from stdin: one output line per
    input line, in order (empty lines stay empty), streamed in batches.

    \b
    Examples:
      dlkit translate "Where is the station?"
      dlkit translate - < english.txt > french.txt
      dlkit translate --json "I am hungry." --attention-map hungry.png
    """
    start(device, quiet=quiet)
    translator = _load(model)
    if attention_path:
        if len(texts) != 1 or texts[0] == "-":
            raise DlkitError("--attention-map draws one sentence: give exactly one TEXT")
        result = translator.translate(list(texts), beam_size, with_attention=True)[0]
        attention_map(result, attention_path)
        _write(texts[0], result, json_lines)
        return
    failed = 0
    for item, result in stream_translate(translator, iter_texts(texts), beam_size):
        if result is None:
            failed += 1
            output.console().print(f"[red]error:[/red] {item.error}", highlight=False)
            click.echo(json.dumps({"input": item.input, "error": item.error}) if json_lines else "")
            continue
        _write(item.text, result, json_lines)
    raise SystemExit(1 if failed else 0)


def _write(text, result, json_lines):
    if json_lines:
        click.echo(json.dumps({"input": text, "translation": result.text, "score": result.score},
                              ensure_ascii=False))
    else:
        click.echo(result.text)


@click.command()
@click.argument("data")
@click.option("--model", type=click.Path(), default=None, help="Translator folder [default: the shipped en->fr].")
@click.option("--split", type=click.Choice(["test", "all"]), default="test", show_default=True,
              help="test: only the pairs train-translator held out from DATA (same hashing); all: every pair.")
@click.option("--reverse", is_flag=True, help="Evaluate the second column -> first.")
@click.option("--beam-size", type=click.IntRange(1), default=DEFAULTS.beam_size, show_default=True)
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
    start(device, quiet=quiet)
    translator = _load(model)
    pairs = read_pairs(data, reverse=reverse)
    if split == "test":
        config = translator.config
        pairs = split_pairs(pairs, config.val_fraction, config.test_fraction)[2]
        if not pairs.sources:
            raise DlkitError(f"{data}: no test pairs (the translator was trained with --test-fraction 0)")
    out = output.Output(json_lines)
    with output.progress(len(set(pairs.sources)), "translating") as advance:
        scores, examples = evaluate(translator, pairs, beam_size, on_batch=advance)
    for source, hypothesis, refs in examples[:samples]:
        output.info(f"{source}\n  -> {hypothesis}\n  ref: {refs[0]}")
    out.emit({"input": data, "split": split, "beam_size": beam_size, **scores})
    raise SystemExit(out.close())
