import click

from dlkit.cli import common
from dlkit.cli.common import device_option, handle_errors, output_options, start, train_config, training_options
from dlkit.core import files, output
from dlkit.core.config import from_params, options
from dlkit.core.inputs import iter_texts
from dlkit.tasks.geolocator.config import Config

COLUMNS = {"input": lambda text: text if len(text) <= 60 else text[:57] + "...", "lat": None, "lon": None,
           "place": None, "country": None}
MODEL_HELP = "A folder written by dlkit train-geolocator [default: the shipped one]."
field_options = options(Config, only=("text_field", "lat_field", "lon_field"))


@click.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output_dir", type=click.Path(file_okay=False), required=True,
              help="The geolocator folder to write.")
@options(Config)
@click.option("--corpus", type=click.Path(dir_okay=False), multiple=True,
              help="Extra text file for Word2Vec training (repeatable).")
@training_options
@output_options
@device_option
@handle_errors
def train_geolocator(data, output_dir, json_lines, quiet, verbose, device, **params):
    """Train a geolocator on DATA (JSON Lines or CSV: a text and its coordinates per row).

    \b
    Examples:
      dlkit train-geolocator ../shared/data/geo_news/articles.jsonl -o geolocator/
      dlkit train-geolocator news.csv -o geo/ --text-field body --lat-field lat --lon-field lng \\
          --embeddings glove.6B.50d.bin
    """
    config = from_params(Config, params)
    settings = train_config(params, patience=config.patience)
    start(device, settings.seed, quiet)
    from dlkit.tasks.geolocator.model import train

    run = train(data, output_dir, config, settings, common.events(quiet))
    output.info(f"wrote {output_dir}: held-out median error {run.summary['val_median_km']} km")
    out = output.Output(json_lines)
    out.emit({"input": data, **run.summary})
    raise SystemExit(out.close())


@click.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--model", type=click.Path(file_okay=False), default=None, help=MODEL_HELP)
@click.option("--map", "map_path", type=click.Path(dir_okay=False), default=None,
              help="Also plot the predictions on a world map (PNG).")
@click.option("-b", "--batch-size", type=click.IntRange(1), default=64, show_default=True,
              help="Texts predicted together; with -, results for each batch are written as it completes.")
@common.engine_options
@output_options
@device_option
@handle_errors
def geolocate(texts, model, map_path, batch_size, json_lines, quiet, verbose, device, **engine):
    """Predict where each of TEXTS is about (- reads one text a line from stdin).

    \b
    Examples:
      dlkit geolocate "Flooding closed roads across Louisiana"
      cat headlines.txt | dlkit geolocate - --map headlines.png > places.jsonl
      dlkit geolocate --engine ray --workers 4 - < year-of-news.txt > places.jsonl
    """
    if map_path:
        files.check_output(map_path, what="map")
    start(device, quiet=quiet)
    from dlkit.tasks.geolocator.model import plot_map

    records = common.predictions(engine, "dlkit.tasks.geolocator:load", {"path": model, "batch_size": batch_size},
                                 iter_texts(texts), batch_size, quiet)
    out = output.Output(json_lines, columns=COLUMNS)
    located = []
    for record in records:
        out.emit(record)
        if "error" not in record:
            located.append(record)
    if map_path and located:
        plot_map(map_path, [[r["lat"], r["lon"]] for r in located], labels=[r["place"] for r in located],
                 title="dlkit geolocate")
        output.info(f"wrote {map_path}")
    raise SystemExit(out.close())


@click.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--model", type=click.Path(file_okay=False), default=None, help=MODEL_HELP)
@field_options
@click.option("--map", "map_path", type=click.Path(dir_okay=False), default=None,
              help="Plot predicted against true points on a world map (PNG).")
@output_options
@device_option
@handle_errors
def evaluate_geolocator(data, model, text_field, lat_field, lon_field, map_path, json_lines, quiet, verbose,
                        device):
    """Great-circle error of a geolocator on labelled DATA: mean_km, median_km and
    acc_at_161km (the share within 100 miles).

    \b
    Examples:
      dlkit evaluate-geolocator test.jsonl --model geo/ --map errors.png
      dlkit evaluate-geolocator news.csv --text-field body --lat-field lat --lon-field lon
    """
    start(device, quiet=quiet)
    from dlkit.tasks.geolocator.model import evaluate

    record = evaluate(data, model, text_field, lat_field, lon_field, map_path, common.events(quiet))
    if map_path:
        output.info(f"wrote {map_path}")
    out = output.Output(json_lines)
    out.emit(record)
    raise SystemExit(out.close())
