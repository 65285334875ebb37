"""Image captioning: a frozen ImageNet CNN encodes the photo, an LSTM writes the
sentence word by word (Vinyals et al., Show and Tell), attending to the regions of the
CNN's feature grid as it goes (Xu et al., Show, Attend and Tell; soft attention).

    from dlkit.core.inputs import iter_paths
    from dlkit.tasks import captioner
    for record in captioner.load().predict(iter_paths(["dog.jpg"])):
        print(record["caption"])
"""

import os
from dataclasses import dataclass

import numpy as np

from dlkit.core import files, metrics, modelio
from dlkit.core.config import validate
from dlkit.core.decoding import (DecoderGraphs, Exportable, check_vocabulary, compile_decoder, fit_decoder,
                                  unmasked)
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.events import SILENT, Events, warn_all
from dlkit.core.inputs import Item, as_items
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Predictor, Run
from dlkit.core.training import TrainConfig, Trainer, steps_in, summary
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.captioner import TASK
from dlkit.tasks.captioner.config import Config
from dlkit.tasks.captioner.data import BOS, EOS, FeatureCache, make_dataset, read_dataset, words
from dlkit.tasks.captioner.layers import AttentionCoverage
from dlkit.text.tokens import Vocabulary


# ---- Model -----------------------------------------------------------------------------

def build_model(config: Config, vocab_size: int, regions: int, channels: int) -> "keras.Model":
    """Teacher-forced training graph: image features start the LSTM's state; with
    attention, each output step also reads a weighted sum of the grid's regions."""
    features = keras.Input((regions, channels), name="features")
    decoder_in = keras.Input((None,), dtype="int32", name="decoder_in")
    memory = keras.layers.Dense(config.units, activation="relu", name="project")(features)
    memory = keras.layers.Dropout(config.dropout)(memory)
    mean = keras.layers.GlobalAveragePooling1D()(memory)
    state_h = keras.layers.Dense(config.units, activation="tanh", name="init_h")(mean)
    state_c = keras.layers.Dense(config.units, activation="tanh", name="init_c")(mean)
    x = keras.layers.Embedding(vocab_size, config.embedding_dim, mask_zero=True, name="embedding")(decoder_in)
    decoded, _, _ = keras.layers.LSTM(config.units, return_sequences=True, return_state=True,
                                      dropout=config.dropout, name="decoder")(x, initial_state=[state_h, state_c])
    if config.attention:
        context, scores = keras.layers.Attention(score_mode="dot", name="attention")(
            [decoded, memory], return_attention_scores=True)
        if config.coverage:
            context = AttentionCoverage(config.coverage, name="coverage")([context, scores, decoder_in])
        decoded = keras.layers.Dense(config.units, activation="tanh", name="combine")(
            keras.layers.Concatenate()([decoded, context]))
    decoded = keras.layers.Dropout(config.dropout)(decoded)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype="float32")(decoded)
    return keras.Model([features, decoder_in], logits, name="captioner")


def inference_graphs(model: "keras.Model", config: Config) -> DecoderGraphs:
    """Start state and single-word step, from the trained layers."""
    project, init_h, init_c = (model.get_layer(n) for n in ("project", "init_h", "init_c"))
    embed, decoder, logits_layer = (model.get_layer(n) for n in ("embedding", "decoder", "logits"))
    attention = model.get_layer("attention") if config.attention else None
    combine = model.get_layer("combine") if config.attention else None

    def start(features):
        memory = project(features)
        mean = tf.reduce_mean(memory, axis=1)
        return [memory], [init_h(mean), init_c(mean)]

    def step(tokens, states, memory):
        # The LSTM's cell, not the layer: one word needs no loop over time (cheaper, and
        # what the ONNX converter handles).
        decoded, (h, c) = decoder.cell(unmasked(embed(tokens)), states, training=False)
        decoded = decoded[:, None]
        if attention is None:
            scores = tf.zeros((tf.shape(memory)[0], 1, tf.shape(memory)[1]))
        else:
            context, scores = attention([decoded, memory], return_attention_scores=True, training=False)
            decoded = combine(tf.concat([decoded, context], -1))
        return tf.nn.log_softmax(logits_layer(decoded)[:, 0]), [h, c], scores[:, 0]

    return DecoderGraphs(start, step)


# ---- Training --------------------------------------------------------------------------

def train(data: str, output: str, config: Config | None = None, train_config: TrainConfig | None = None,
          events: Events = SILENT, cache_dir: str | None = None) -> Run:
    """Trains a captioner on the dataset folder `data` (see read_dataset) and writes it
    to the folder `output`: caches the image features, builds the vocabulary from the
    training captions, trains with greedy validation BLEU-4 (or the validation loss, see
    Config.monitor) picking the epoch, halving the learning rate and stopping."""
    files.check_output(output, folder=True, what="captioner folder")
    config = validate(config or Config())
    cache = FeatureCache(config.backbone, config.image_size, config.attention, cache_dir)
    dataset = read_dataset(data, config.val_fraction, config.test_fraction)
    events.message(f"{data}: {dataset.layout} layout; "
                   + ", ".join(f"{k} {len(v)} images" for k, v in dataset.splits.items()))
    warn_all(events, dataset.skipped)
    train_images, val = dataset.splits.get("train", {}), dataset.splits.get("val", {})
    if not train_images or not val:
        raise DlkitError("need training and validation images (split files, or enough images to hold some out)")
    with events.progress(len(train_images) + len(val), "image features") as advance:
        features, errors = cache.compute(list(train_images) + list(val), advance)
    warn_all(events, [f"{path}: {error}; skipped" for path, error in errors.items()])
    vocab = Vocabulary.build((words(c) for captions in train_images.values() for c in captions), config.min_count)
    vocab = Vocabulary([BOS, EOS] + vocab.tokens[2:])
    events.message(f"{len(train_images)} training and {len(val)} validation images, "
                   f"vocabulary of {len(vocab)} words")
    trainer = Trainer(train_config or TrainConfig(seed=config.seed, patience=TASK.train.patience), output, events)
    train_data = make_dataset(train_images, features, vocab, config, shuffle=True)
    val_data = make_dataset(val, features, vocab, config, shuffle=False)
    regions, channels = next(iter(features.values())).shape
    model = compile_decoder(trainer, lambda: build_model(config, len(vocab), regions, channels),
                            config.learning_rate, clipnorm=5.0)
    captioner = Captioner(model, vocab, config, split_by=dataset.split_by)
    score = None
    if config.monitor == "bleu4":  # from the features in hand, not re-read from the cache each epoch
        scored = [p for p in val if p in features]
        grid, refs = np.stack([features[p] for p in scored]), [val[p] for p in scored]

        def score() -> float:
            return bleu_scores([c.text for c in captioner.describe(grid, beam_size=1)], refs)["bleu4"]

    history, curves = fit_decoder(
        trainer, model, train_data, val_data, config.epochs, steps_in(train_data), f"val_{config.monitor}",
        config.lr_patience, min_delta=0.002 if score else 0.001, title="captioner", score=score, events=events,
        save=lambda history: captioner.save(output, {"history": history, "layout": dataset.layout,
                                                     "split_by": dataset.split_by}))
    return Run(output, history, summary(history, input=data, model=output, layout=dataset.layout,
                                        vocabulary=len(vocab), skipped=len(dataset.skipped), curves=curves))


# ---- Inference -------------------------------------------------------------------------

@dataclass
class Caption:
    text: str
    score: float  # length-normalized log-probability (see dlkit.core.decoding)
    words: list[str]
    attention: np.ndarray | None = None  # (words + end, regions)


class Captioner(Predictor):
    """A trained captioner: `predict(items)` gives {"input", "caption", "score"} per photo.

    It reads the image features training cached, and stores new ones only in a
    `cache_dir` given here: captioning alone leaves no files behind. `split_by`: how its
    training data was split (see CaptionData; None: not recorded)."""

    batch_size = 32  # photos per batch of CNN features and of decoding

    def __init__(self, model: "keras.Model", vocab: Vocabulary, config: Config, cache_dir: str | None = None,
                 beam_size: int | None = None, split_by: str | None = None):
        self.model, self.vocab, self.config = model, vocab, config
        self.beam_size = beam_size or config.beam_size
        self.split_by = split_by
        self.graphs = inference_graphs(model, config)
        self.cache = FeatureCache(config.backbone, config.image_size, config.attention, cache_dir,
                                  write=cache_dir is not None)

    def save(self, folder: str, extra: dict | None = None) -> None:
        modelio.save_folder(folder, self.model, self.config, extra, {"vocab.json": self.vocab.save})

    def predict_batch(self, paths: list[str]) -> list:
        return [c if isinstance(c, ItemError) else {"caption": c.text, "score": c.score}
                for c in self.captions(paths)]

    def exportable(self, samples: int = 2) -> Exportable:
        """For `dlkit export`: the encoder from RGB pixels 0..255 (the CNN included, so a
        runtime needs nothing else) and the one-word step."""
        start = self.graphs.encode
        cache = self.cache
        graphs = DecoderGraphs(lambda pixels: start(_regions(cache.features(pixels))), self.graphs.step)
        side = self.config.image_size
        pixels = np.random.default_rng(0).uniform(0, 255, (samples, side, side, 3)).astype(np.float32)
        return Exportable(graphs, [tf.TensorSpec([None, side, side, 3], tf.float32, name="pixels")],
                          [self.model, cache.network()], [pixels], assets={"vocab.json": self.vocab.save},
                          decoding={"bos": self.vocab.ids[BOS], "eos": self.vocab.ids[EOS],
                                    "banned": [0, self.vocab.ids[Vocabulary.UNK], self.vocab.ids[BOS]],
                                    "max_length": self.config.max_length,
                                    "length_alpha": self.config.length_alpha, "beam_size": self.beam_size})

    def predict_with_attention(self, item: "Item | str", out: str) -> dict:
        """The record of one photo, drawing to `out` (PNG) where the model looked for each word."""
        item = next(as_items([item]))
        caption = ItemError(item.error) if item.error else self.captions([item.value], with_attention=True)[0]
        if isinstance(caption, ItemError):
            return {"input": item.input, "error": str(caption)}
        attention_map(item.value, caption, self.config.image_size, out)
        return {"input": item.input, "caption": caption.text, "score": caption.score}

    def captions(self, paths: list[str], beam_size: int | None = None, with_attention: bool = False,
                 advance=None) -> "list[Caption | ItemError]":
        """A Caption per path, or an ItemError for an unusable image; `advance(n)` as
        features are computed."""
        features, errors = self.cache.compute(paths, advance)
        good = [p for p in paths if p in features]
        found = iter(self.describe(np.stack([features[p] for p in good]), beam_size, with_attention) if good else ())
        return [next(found) if p in features else ItemError(errors[p]) for p in paths]

    def describe(self, features: np.ndarray, beam_size: int | None = None,
                 with_attention: bool = False) -> list[Caption]:
        """A Caption per row of CNN features (photos, regions, channels)."""
        banned = (0, self.vocab.ids[Vocabulary.UNK], self.vocab.ids[BOS])
        captions = []
        for start in range(0, len(features), self.batch_size):
            best = self.graphs.search([features[start: start + self.batch_size].astype(np.float32)],
                                      beam_size or self.beam_size, self.vocab.ids[BOS], self.vocab.ids[EOS],
                                      self.config.max_length, self.config.length_alpha, with_attention, banned)
            for h in best:
                tokens = self.vocab.decode(h.tokens)
                captions.append(Caption(_sentence(tokens), round(h.score, 4), tokens, h.attention))
        return captions


def _regions(features):
    """CNN features as (photos, regions, channels), as the cache stores them."""
    return tf.reshape(features, (tf.shape(features)[0], -1, features.shape[-1]))


def _sentence(tokens: list[str]) -> str:
    text = " ".join(tokens)
    return (text[:1].upper() + text[1:] + ".") if text else ""


def load(path: str | None = None, beam_size: int | None = None, cache_dir: str | None = None) -> Captioner:
    """A captioner folder written by train(); None: the one dlkit ships. `cache_dir`:
    store the features of new photos there (see Captioner)."""
    folder = path or modelio.pretrained_path(TASK.name)
    config, saved = modelio.read_folder(folder, "captioner", "train-captioner", Config,
                                        files=("model.keras", "vocab.json"))
    vocab_path = os.path.join(folder, "vocab.json")
    vocab = Vocabulary.load(vocab_path)
    model = modelio.load_model(os.path.join(folder, "model.keras"))
    check_vocabulary(model, len(vocab), vocab_path, ("embedding", "logits"))
    return Captioner(model, vocab, config, cache_dir, beam_size, saved.get("split_by"))


# ---- Evaluation ------------------------------------------------------------------------

def caption(items, model: str | None = None, settings: dict | None = None, engine: EngineConfig = EngineConfig(),
            events: Events = SILENT):
    """The records of `dlkit caption`: load(model, **settings).predict(items) here or on
    Ray; with settings["attention_map"] a PNG path, the one image's record with its
    attention map drawn there."""
    settings = dict(settings or {})
    picture = settings.pop("attention_map", None)
    if picture is None:
        return predictions("dlkit.tasks.captioner.model:load", {"path": model, **settings}, items, engine, 32, events)
    items = list(as_items(items))
    if len(items) != 1:
        raise DlkitError("--attention-map draws one image: give exactly one IMAGE")
    return [load(model, **settings).predict_with_attention(items[0], picture)]


def bleu_scores(hypotheses: list[str], references: list[list[str]]) -> dict:
    """Corpus BLEU-1..4 (0..1) against every reference caption, lower-cased."""
    return {f"bleu{n}": round(metrics.bleu(hypotheses, references, n, lowercase=True).score / 100, 4)
            for n in range(1, 5)}


def evaluate(data: str, model: "str | Captioner | None" = None, split: str = "test", beam_size: int | None = None,
             samples: int = 0, events: Events = SILENT) -> dict:
    """Corpus BLEU-1..4 of a captioner (a folder, a loaded one, or None: the shipped one)
    against all reference captions of a split of the dataset folder `data`; the first
    `samples` captions are reported as messages beside their first reference."""
    captioner = model if isinstance(model, Captioner) else load(model, beam_size)
    beam = beam_size or captioner.beam_size
    dataset = read_dataset(data, captioner.config.val_fraction, captioner.config.test_fraction)
    images = dataset.splits.get(split)
    if not images:
        raise DlkitError(f"{data} has no {split} split (it has {', '.join(k for k, v in dataset.splits.items() if v)})")
    if dataset.split_by == "hash" and split != "train" and captioner.split_by != "hash":
        trained = "on split files" if captioner.split_by == "files" else "on a split it did not record"
        events.warning(f"{data} has no split files: its {split} images are those a hash of their names holds out, "
                       f"and this captioner was trained {trained}, so some may be among its training images and "
                       f"the scores read high")
    paths = list(images)
    with events.progress(len(paths), "captioning") as advance:
        results = captioner.captions(paths, beam, advance=advance)
    kept = [(p, c) for p, c in zip(paths, results) if isinstance(c, Caption)]
    if not kept:
        raise DlkitError(f"{data}: none of the {split} images could be read")
    for path, caption in kept[:samples]:
        events.message(f"{path}\n  -> {caption.text}\n  ref: {images[path][0]}")
    scores = bleu_scores([c.text for _, c in kept], [images[p] for p, _ in kept])
    return {"input": data, "split": split, "beam_size": beam, **scores, "images": len(kept)}


def attention_map(path: str, caption: Caption, image_size: int, out: str) -> None:
    """The photo once per word, shaded by where the model looked while writing it."""
    from dlkit.core import plots
    from dlkit.vision.images import load_image

    if caption.attention is None:
        raise DlkitError("this captioner has no attention to draw")
    plt = plots.pyplot()
    image = load_image(path, image_size)
    side = int(round(np.sqrt(caption.attention.shape[1])))
    shown = caption.words + ["<end>"]
    columns = min(5, len(shown))
    rows = -(-len(shown) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.5 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, word, weights in zip(axes.ravel(), shown, caption.attention):
        axis.imshow(image)
        axis.imshow(weights[: side * side].reshape(side, side), cmap="gray", alpha=0.6,
                    extent=(0, image.shape[1], image.shape[0], 0), interpolation="bilinear")
        axis.set_title(word)
    figure.suptitle(caption.text)
    plots.save_figure(figure, out)
