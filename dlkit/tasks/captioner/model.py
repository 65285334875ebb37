"""Image captioning, TensorFlow's side: a frozen ImageNet CNN encodes the photo, an
LSTM writes the sentence word by word (Vinyals et al., Show and Tell), attending to the
regions of the CNN's feature grid as it goes (Xu et al., Show, Attend and Tell; soft
attention); its training and evaluation (the inference graphs that its ONNX twin is made
of are in dlkit.tasks.captioner.twin; captioning itself is in
dlkit.tasks.captioner.predict, without TensorFlow).

    from dlkit.tasks import captioner
    run = captioner.train("flickr8k/", "captioner/", captioner.Config(epochs=5))
    captioner.evaluate("flickr8k/", "captioner/")
"""

import os

import numpy as np

from dlkit.core import files, metrics, modelio, twins
from dlkit.core.config import validate
from dlkit.core.decoding import compile_decoder, fit_decoder
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events, warn_all
from dlkit.core.runtime import keras
from dlkit.core.task import Run
from dlkit.core.training import TrainConfig, Trainer, steps_in, summary
from dlkit.tasks.captioner import TASK, twin
from dlkit.tasks.captioner.config import Config
from dlkit.tasks.captioner.data import BOS, EOS, FeatureCache, make_dataset, read_dataset, words
from dlkit.tasks.captioner.layers import AttentionCoverage
from dlkit.tasks.captioner.predict import GRAPHS, Caption, Captioner, load
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
    # Its scores come from the predictor on the Keras graphs, which start from CNN features.
    captioner = Captioner(twin.inference_graphs(model, config), vocab, config, twin.decoding(vocab, config))
    score = None
    if config.monitor == "bleu4":  # from the features in hand, not re-read from the cache each epoch
        scored = [p for p in val if p in features]
        grid = np.stack([features[p] for p in scored]).astype(np.float32)
        refs = [val[p] for p in scored]

        def score() -> float:
            return bleu_scores([c.text for c in captioner.describe(grid, beam_size=1)], refs)["bleu4"]

    history, curves = fit_decoder(
        trainer, model, train_data, val_data, config.epochs, steps_in(train_data), f"val_{config.monitor}",
        config.lr_patience, min_delta=0.002 if score else 0.001, title="captioner", score=score, events=events,
        save=lambda history: save(output, model, vocab, config, {"history": history, "layout": dataset.layout,
                                                                  "split_by": dataset.split_by}))
    return Run(output, history, summary(history, input=data, model=output, layout=dataset.layout,
                                        vocabulary=len(vocab), skipped=len(dataset.skipped), curves=curves))


def save(folder: str, model: "keras.Model", vocab: Vocabulary, config: Config, extra: dict | None = None) -> None:
    """The captioner folder (model.keras, vocab.json, config.json with `extra`) and, beside
    the model, its ONNX twin, which captioning runs."""
    modelio.save_folder(folder, TASK.name, model, config, extra, {"vocab.json": vocab.save})
    source = os.path.join(folder, "model.keras")
    twin.write(source, twins.twin_paths(source, GRAPHS))


# ---- Evaluation ------------------------------------------------------------------------

def bleu_scores(hypotheses: list[str], references: list[list[str]]) -> dict:
    """Corpus BLEU-1..4 (0..1) against every reference caption, lower-cased."""
    return {f"bleu{n}": round(metrics.bleu(hypotheses, references, n, lowercase=True).score / 100, 4)
            for n in range(1, 5)}


def evaluate(data: str, model: "str | Captioner | None" = None, split: str = "test", beam_size: int | None = None,
             samples: int = 0, guide: bool | None = None, guide_threshold: float | None = None,
             events: Events = SILENT) -> dict:
    """Corpus BLEU-1..4 of a captioner (a folder, a loaded one, or None: the shipped one)
    against all reference captions of a split of the dataset folder `data`; the first
    `samples` captions are reported as messages beside their first reference. `guide`,
    `guide_threshold`: as load's."""
    captioner = model if isinstance(model, Captioner) else load(model, beam_size, guide=guide,
                                                                 guide_threshold=guide_threshold)
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

