import click

from dlkit import output
from dlkit.cli.common import (device_option, handle_errors, output_options, start, train_config,
                              training_options)
from dlkit.geolocate import GeolocatorConfig

DEFAULTS = GeolocatorConfig()
COLUMNS = {"input": lambda text: text if len(text) <= 60 else text[:57] + "...", "lat": None, "lon": None,
           "place": None, "country": None}


def field_options(fn):
    for option in reversed([
        click.option("--text-field", default=DEFAULTS.text_field, show_default=True,
                     help="The field (JSON key or CSV column) holding the text."),
        click.option("--lat-field", default=DEFAULTS.lat_field, show_default=True, help="The latitude field."),
        click.option("--lon-field", default=DEFAULTS.lon_field, show_default=True, help="The longitude field."),
    ]):
        fn = option(fn)
    return fn


@click.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output_dir", type=click.Path(file_okay=False), required=True,
              help="The geolocator folder to write.")
@field_options
@click.option("--toponyms-field", default=DEFAULTS.toponyms_field, show_default=True,
              help="Optional field listing annotated place names ({name, lat, lon}) to learn from.")
@click.option("--embeddings", type=click.Path(dir_okay=False), default=None,
              help="Word vectors (word2vec binary/text or GloVe text) instead of training Word2Vec.")
@click.option("--allow-pickle", is_flag=True,
              help="Accept --embeddings in gensim's native format (a pickle: only files you trust).")
@click.option("--corpus", type=click.Path(dir_okay=False), multiple=True,
              help="Extra text file for Word2Vec training (repeatable).")
@click.option("--dim", type=click.IntRange(1), default=DEFAULTS.dim, show_default=True,
              help="Word2Vec dimensions (when training vectors).")
@click.option("--pooling", type=click.Choice(["tfidf", "mean"]), default=DEFAULTS.pooling, show_default=True,
              help="How word vectors become a document vector.")
@click.option("--epochs", type=click.IntRange(1), default=DEFAULTS.epochs, show_default=True)
@click.option("-b", "--batch-size", type=click.IntRange(1), default=DEFAULTS.batch_size, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), default=DEFAULTS.learning_rate,
              show_default=True)
@click.option("--patience", type=click.IntRange(1), default=DEFAULTS.patience, show_default=True,
              help="Stop after this many epochs without a better validation error.")
@click.option("--validation", type=click.FloatRange(0, 0.5, min_open=True), default=DEFAULTS.validation,
              show_default=True, help="Share of DATA held out for early stopping.")
@training_options
@output_options
@device_option
@handle_errors
def train_geolocator(data, output_dir, text_field, lat_field, lon_field, toponyms_field, embeddings, allow_pickle,
                     corpus, dim, pooling, epochs, batch_size, learning_rate, patience, validation, json_lines, quiet,
                     verbose, device, **kwargs):
    """Train a geolocator on DATA (JSON Lines or CSV: a text and its coordinates per row).

    \b
    Examples:
      dlkit train-geolocator ../shared/data/geo_news/articles.jsonl -o geolocator/
      dlkit train-geolocator news.csv -o geo/ --text-field body --lat-field lat --lon-field lng \\
          --embeddings glove.6B.50d.bin
    """
    from dlkit import geolocate

    start(device, kwargs["seed"], quiet)
    config = GeolocatorConfig(text_field=text_field, lat_field=lat_field, lon_field=lon_field,
                              toponyms_field=toponyms_field, embeddings=embeddings,
                              allow_pickle=allow_pickle, corpus=list(corpus), dim=dim,
                              pooling=pooling, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                              patience=patience, validation=validation)
    record = geolocate.train(data, output_dir, config, train_config(kwargs, patience=patience))
    output.info(f"wrote {output_dir}: held-out median error {record['val_median_km']} km")
    out = output.Output(json_lines)
    out.emit({"input": data, **record})
    raise SystemExit(out.close())


@click.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", type=click.Path(file_okay=False), default=None,
              help="A folder written by dlkit train-geolocator [default: the shipped one].")
@click.option("--map", "map_path", type=click.Path(dir_okay=False), default=None,
              help="Also plot the predictions on a world map (PNG).")
@click.option("-b", "--batch-size", type=click.IntRange(1), default=64, show_default=True,
              help="Texts predicted together (stdin is read in batches of this size).")
@output_options
@device_option
@handle_errors
def geolocate(texts, model, map_path, batch_size, json_lines, quiet, verbose, device):
    """Predict where each of TEXTS is about (- reads one text a line from stdin).

    \b
    Examples:
      dlkit geolocate "Flooding closed roads across Louisiana"
      cat headlines.txt | dlkit geolocate - --map headlines.png > places.jsonl
    """
    from dlkit.geolocate import Geolocator, plot_map
    from dlkit.inputs import iter_texts

    start(device, quiet=quiet)
    geolocator = Geolocator(model)
    out = output.Output(json_lines, columns=COLUMNS)
    located = []

    def flush(batch):
        for record in geolocator.locate([item.text for item in batch], [item.input for item in batch]):
            out.emit(record)
            located.append(record)
        batch.clear()

    batch = []
    for item in iter_texts(texts):
        if item.error:
            out.error(item.input, item.error)
            continue
        batch.append(item)
        if len(batch) == batch_size:
            flush(batch)
    flush(batch)
    if map_path and located:
        plot_map(map_path, [[r["lat"], r["lon"]] for r in located], labels=[r["place"] for r in located],
                 title="dlkit geolocate")
        output.info(f"wrote {map_path}")
    raise SystemExit(out.close())


@click.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--model", type=click.Path(file_okay=False), default=None,
              help="A folder written by dlkit train-geolocator [default: the shipped one].")
@field_options
@click.option("--map", "map_path", type=click.Path(dir_okay=False), default=None,
              help="Plot predicted against true points on a world map (PNG).")
@output_options
@device_option
@handle_errors
def evaluate_geolocator(data, model, text_field, lat_field, lon_field, map_path, json_lines, quiet, verbose,
                        device):
    """Great-circle error of a geolocator on labelled DATA: mean_km, median_km and
    acc_at_161km (the share within 100 miles)."""
    from dlkit.geolocate import Geolocator, evaluate, plot_map

    start(device, quiet=quiet)
    geolocator = Geolocator(model)
    config = GeolocatorConfig.from_dict({**vars(geolocator.config), "text_field": text_field,
                                         "lat_field": lat_field, "lon_field": lon_field})
    predicted, true, metrics = evaluate(geolocator, data, config)
    if map_path:
        plot_map(map_path, predicted, true, title=f"{data}: median error {metrics['median_km']} km")
        output.info(f"wrote {map_path}")
    out = output.Output(json_lines)
    out.emit({"input": data, **metrics})
    raise SystemExit(out.close())
