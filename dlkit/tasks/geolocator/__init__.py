"""News geolocation: word vectors and gazetteer candidates, a great-circle loss.

    from dlkit.tasks import geolocator
    for record in geolocator.load().predict(["Flooding closed roads across Louisiana"]):
        print(record)   # {"input": ..., "lat": 31.0, "lon": -92.0, "place": "Lafayette", ...}
    run = geolocator.train("articles.jsonl", "geo/", geolocator.Config(epochs=30))
    geolocator.evaluate("test.jsonl", "geo/")   # mean_km, median_km, acc_at_161km
"""

from dlkit.core.task import lazy_exports

# command: summary shown by `dlkit --help`; the commands live in .cli
COMMANDS = {
    "train-geolocator": "Train a news geolocator (word vectors + gazetteer, great-circle loss).",
    "geolocate": "Predict where news texts are about: lat, lon and the nearest city.",
    "evaluate-geolocator": "Mean/median great-circle error (km) and acc@161km of a geolocator.",
}

__getattr__ = lazy_exports(__name__, {
    "Config": "config", "train": "model", "load": "model", "evaluate": "model", "Geolocator": "model",
})
