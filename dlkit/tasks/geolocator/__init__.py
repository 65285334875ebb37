"""News geolocation: word vectors and gazetteer candidates, a great-circle loss.

    from dlkit.tasks import geolocator
    for record in geolocator.load().predict(["Flooding closed roads across Louisiana"]):
        print(record)   # {"input": ..., "lat": 31.0, "lon": -92.0, "place": "Lafayette", ...}
    run = geolocator.train("articles.jsonl", "geo/", geolocator.Config(epochs=30))
    geolocator.evaluate("test.jsonl", "geo/")   # mean_km, median_km, acc_at_161km
"""

from dlkit.core.task import Evaluate, Fields, Predict, Task, Train, lazy_exports
from dlkit.tasks.geolocator.config import Config, EvaluateConfig, MapConfig, PredictConfig

MODEL_HELP = "A folder written by dlkit train-geolocator [default: the shipped one]."
FIELDS = ("text_field", "lat_field", "lon_field")


def _headline(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


TASK = Task(
    name="geolocator",
    summary="Where news texts are about.",
    config=Config,
    train=Train(
        command="train-geolocator",
        summary="Train a news geolocator (word vectors + gazetteer, great-circle loss).",
        function="dlkit.tasks.geolocator.model:train",
        output="The geolocator folder to write.",
        # Small data is noisy: early stopping on the validation error waits longer.
        patience=10,
        help="""Train a geolocator on DATA (JSON Lines or CSV: a text and its coordinates per row).

    \b
    Examples:
      dlkit train-geolocator ../shared/data/geo_news/articles.jsonl -o geolocator/
      dlkit train-geolocator news.csv -o geo/ --text-field body --lat-field lat --lon-field lng \\
          --embeddings glove.6B.50d.bin
    """),
    predict=(Predict(
        command="geolocate",
        summary="Predict where news texts are about: lat, lon and the nearest city.",
        load="dlkit.tasks.geolocator.predict:load",
        run="dlkit.tasks.geolocator.predict:locate",
        inputs="texts",
        options=(Fields(PredictConfig),),
        run_options=(Fields(MapConfig),),
        columns={"input": _headline, "lat": None, "lon": None, "place": None, "country": None},
        model_help=MODEL_HELP,
        serve="Where news texts are about: lat, lon, nearest city.",
        help="""Predict where each of INPUTS is about (- reads one text a line from stdin).

    \b
    Examples:
      dlkit geolocate "Flooding closed roads across Louisiana"
      cat headlines.txt | dlkit geolocate - --map headlines.png > places.jsonl
      dlkit geolocate --engine ray --workers 4 - < year-of-news.txt > places.jsonl
    """),),
    evaluate=Evaluate(
        command="evaluate-geolocator",
        summary="Mean/median great-circle error (km) and acc@161km of a geolocator.",
        function="dlkit.tasks.geolocator.predict:evaluate",
        options=(Fields(Config, only=FIELDS), Fields(EvaluateConfig)),
        model_help=MODEL_HELP,
        help="""Great-circle error of a geolocator on labelled DATA: mean_km, median_km and
    acc_at_161km (the share within 100 miles).

    \b
    Examples:
      dlkit evaluate-geolocator test.jsonl --model geo/ --map errors.png
      dlkit evaluate-geolocator news.csv --text-field body --lat-field lat --lon-field lon
    """),
)

__getattr__ = lazy_exports(__name__, {
    "train": "model", "load": "predict", "evaluate": "predict", "locate": "predict", "Geolocator": "predict",
})
