import click

from dlkit import modelio, output
from dlkit.caption import (Caption, Captioner, CaptionerConfig, attention_map, evaluate, read_dataset,
                           train_captioner as run_train)
from dlkit.cli.common import device_option, handle_errors, output_options, start, train_config, training_options
from dlkit.errors import DlkitError
from dlkit.inputs import expand_paths

DEFAULTS = CaptionerConfig()


def _load(model):
    return Captioner.load(model or modelio.pretrained_path("captioning"))


@click.command()
@click.argument("data_dir", type=click.Path())
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False),
              help="Folder to write the captioner to.")
@click.option("--backbone", default=DEFAULTS.backbone, show_default=True, help="Frozen ImageNet encoder.")
@click.option("--attention/--no-attention", default=DEFAULTS.attention, show_default=True,
              help="Soft attention over the feature grid (Show, Attend and Tell).")
@click.option("--min-count", type=click.IntRange(1), default=DEFAULTS.min_count, show_default=True,
              help="Rarer words become <unk>.")
@click.option("--max-length", type=click.IntRange(4), default=DEFAULTS.max_length, show_default=True)
@click.option("--embedding-dim", type=click.IntRange(4), default=DEFAULTS.embedding_dim, show_default=True)
@click.option("--units", type=click.IntRange(4), default=DEFAULTS.units, show_default=True)
@click.option("--dropout", type=click.FloatRange(0, 0.9), default=DEFAULTS.dropout, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=DEFAULTS.epochs, show_default=True)
@click.option("-b", "--batch-size", type=click.IntRange(1), default=DEFAULTS.batch_size, show_default=True)
@click.option("--lr", type=float, default=DEFAULTS.learning_rate, show_default=True)
@click.option("--coverage", type=click.FloatRange(0), default=DEFAULTS.coverage, show_default=True,
              help="Weight of the penalty that spreads attention over the image (0: off).")
@click.option("--monitor", type=click.Choice(["bleu4", "loss"]), default=DEFAULTS.monitor, show_default=True,
              help="Validation figure that keeps the best epoch, stops training and halves the learning rate.")
@click.option("--patience", type=click.IntRange(1), default=DEFAULTS.patience, show_default=True,
              help="Early stopping: epochs without a better --monitor figure.")
@click.option("--lr-patience", type=click.IntRange(1), default=DEFAULTS.lr_patience, show_default=True,
              help="Epochs without a better --monitor figure before the learning rate halves.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where image features are cached [default: $DLKIT_CACHE or ~/.cache/dlkit].")
@training_options
@output_options
@device_option
@handle_errors
def train_captioner(data_dir, out, backbone, attention, min_count, max_length, embedding_dim, units, dropout, epochs,
                    batch_size, lr, coverage, monitor, patience, lr_patience, cache_dir, json_lines, quiet, verbose,
                    device, **kwargs):
    """Train an image captioner on DATA_DIR: Flickr8k as on Kaggle (Images/ +
    captions.txt), the original Flickr8k (Flickr8k.token.txt + split files) or COCO
    (captions_*.json). Image features are computed once and cached.

    \b
    Examples:
      dlkit train-captioner flickr8k/ -o captioner/
      dlkit train-captioner coco/ -o coco-captioner/ --min-count 10 --epochs 30
      dlkit caption photo.jpg --model captioner/
    """
    from dlkit import plots
    from dlkit.training import ProgressBar, summary

    seed = kwargs.get("seed") or 0
    start(device, seed, quiet)
    config = CaptionerConfig(backbone=backbone, attention=attention, min_count=min_count, max_length=max_length,
                             embedding_dim=embedding_dim, units=units, dropout=dropout, batch_size=batch_size,
                             coverage=coverage, epochs=epochs, learning_rate=lr, monitor=monitor, patience=patience,
                             lr_patience=lr_patience, seed=seed)
    data = read_dataset(data_dir, config.val_fraction)
    output.info(f"{data_dir}: {data.layout} layout; " + ", ".join(f"{k} {len(v)} images"
                                                                    for k, v in data.splits.items()))
    for message in data.skipped[:10]:
        output.warn(message)
    if len(data.skipped) > 10:
        output.warn(f"... {len(data.skipped) - 10} more skipped")
    images = len(data.splits.get("train", {})) + len(data.splits.get("val", {}))
    captions = sum(len(c) for c in data.splits.get("train", {}).values())
    steps = -(-captions // batch_size)
    with output.progress(images, "image features") as advance:
        progress = advance
        captioner, history = run_train(
            data, out, config, train_config(kwargs, patience=patience),
            callbacks=[ProgressBar(epochs, steps, "training captioner")], cache_dir=cache_dir,
            on_message=output.info, on_features=lambda n: progress(n))
    curves = out.rstrip("/") + ".curves.png"
    plots.training_curves(history, curves, title="captioner")
    out_table = output.Output(json_lines)
    out_table.emit(summary(history, input=data_dir, model=out, layout=data.layout, vocabulary=len(captioner.vocab),
                           skipped=len(data.skipped), curves=curves))
    raise SystemExit(out_table.close())


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", type=click.Path(), default=None, help="Captioner folder [default: the shipped one].")
@click.option("--beam-size", type=click.IntRange(1), default=DEFAULTS.beam_size, show_default=True,
              help="1: greedy decoding.")
@click.option("--attention-map", "attention_path", type=click.Path(dir_okay=False), default=None,
              help="Draw, for each word, where the model looked (PNG; one image only).")
@output_options
@device_option
@handle_errors
def caption(images, model, beam_size, attention_path, json_lines, quiet, verbose, device):
    """Describe IMAGES (files, globs, folders, or - for paths on stdin) in a sentence.

    \b
    Examples:
      dlkit caption photo.jpg
      dlkit caption holiday/ --beam-size 5 > captions.jsonl
      dlkit caption dog.jpg --attention-map dog-attention.png
    """
    start(device, quiet=quiet)
    captioner = _load(model)
    paths = expand_paths(images)
    if attention_path and len(paths) != 1:
        raise DlkitError("--attention-map draws one image: give exactly one IMAGE")
    out = output.Output(json_lines, columns={"input": None, "caption": None, "score": None})
    with output.progress(len(paths), "captioning") as advance:
        results = captioner.caption(paths, beam_size, with_attention=bool(attention_path), on_batch=advance)
    for path, result in zip(paths, results):
        if isinstance(result, Caption):
            out.emit({"input": path, "caption": result.text, "score": result.score})
        else:
            out.error(path, result)
    if attention_path and isinstance(results[0], Caption):
        attention_map(paths[0], results[0], captioner.config.image_size, attention_path)
    raise SystemExit(out.close())


@click.command()
@click.argument("data_dir", type=click.Path())
@click.option("--model", type=click.Path(), default=None, help="Captioner folder [default: the shipped one].")
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test", show_default=True)
@click.option("--beam-size", type=click.IntRange(1), default=DEFAULTS.beam_size, show_default=True)
@click.option("--samples", type=click.IntRange(0), default=5, show_default=True)
@output_options
@device_option
@handle_errors
def evaluate_captioner(data_dir, model, split, beam_size, samples, json_lines, quiet, verbose, device):
    """Corpus BLEU-1..4 of a captioner against all reference captions of a split.

    \b
    Example:
      dlkit evaluate-captioner flickr8k/ --split test
    """
    start(device, quiet=quiet)
    captioner = _load(model)
    data = read_dataset(data_dir, captioner.config.val_fraction)
    images = data.splits.get(split)
    if not images:
        raise DlkitError(f"{data_dir} has no {split} split")
    out = output.Output(json_lines)
    with output.progress(len(images), "captioning") as advance:
        scores, examples = evaluate(captioner, images, beam_size, on_batch=advance)
    for path, text, refs in examples[:samples]:
        output.info(f"{path}\n  -> {text}\n  ref: {refs[0]}")
    out.emit({"input": data_dir, "split": split, "beam_size": beam_size, **scores})
    raise SystemExit(out.close())
