"""Image captioning: a frozen ImageNet CNN encodes the photo, an LSTM writes the
sentence word by word (Vinyals et al., Show and Tell), attending to the regions of the
CNN's feature grid as it goes (Xu et al., Show, Attend and Tell; soft attention).

    from dlkit.caption import Captioner
    captioner = Captioner.load("captioner/")
    print(captioner.caption(["dog.jpg"])[0].text)
"""

import csv
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from dlkit import backbones, modelio
from dlkit.decoding import beam_search
from dlkit.errors import DlkitError, check_choice
from dlkit.images import image_dataset
from dlkit.runtime import keras, tf
from dlkit.text import Vocabulary, tokenize

BOS, EOS = "<start>", "<end>"


# ---- Configuration ---------------------------------------------------------------------

@dataclass
class CaptionerConfig:
    # MobileNetV2's last block: a 7x7 grid of 1280 features at 224 px, cheap on a CPU.
    backbone: str = backbones.DEFAULT
    image_size: int = 224
    # Soft attention over the feature grid; without it the pooled vector starts the LSTM.
    attention: bool = True
    # Words seen fewer times are <unk>: Flickr8k's long tail is mostly typos and names.
    min_count: int = 5
    max_length: int = 22  # words per caption, with the end token; longer ones are cut
    embedding_dim: int = 256
    units: int = 512
    # Flickr8k's 6,000 training images are learnt by heart within a few epochs: heavy dropout.
    dropout: float = 0.5
    # Show, Attend and Tell's "doubly stochastic" penalty, weight * mean((1 - sum over the
    # caption's words of each region's attention)^2): spreads attention over the image
    # instead of staring at one region for every word. 0 turns it off.
    coverage: float = 1.0
    batch_size: int = 64
    epochs: int = 20
    learning_rate: float = 1e-3
    # What picks the best epoch, stops training and halves the learning rate: bleu4
    # (greedy captions of the validation images, the figure captioners are judged by) or
    # the validation loss.
    monitor: str = "bleu4"
    patience: int = 3
    lr_patience: int = 1
    beam_size: int = 3
    length_alpha: float = 0.6
    # Share of images held out for validation when the dataset has no split files.
    val_fraction: float = 0.1
    seed: int = 0


# ---- Data ------------------------------------------------------------------------------

@dataclass
class CaptionData:
    """Images (absolute paths) with their captions, per split."""

    layout: str
    splits: dict[str, dict[str, list[str]]]  # split -> image path -> captions
    skipped: list[str] = field(default_factory=list)  # one message per skipped item


def read_dataset(root: str, val_fraction: float = 0.1) -> CaptionData:
    """Reads Flickr8k as on Kaggle (Images/ + captions.txt), the original Flickr8k
    (Flickr8k.token.txt + Flickr_8k.*Images.txt), or COCO (captions_*.json)."""
    if not os.path.isdir(root):
        raise DlkitError(f"{root}: not a folder")
    coco = sorted(f for f in os.listdir(root) if f.startswith("captions_") and f.endswith(".json"))
    if os.path.exists(os.path.join(root, "captions.txt")):
        layout, captions, skipped = "flickr8k-kaggle", *_read_kaggle(root)
    elif os.path.exists(os.path.join(root, "Flickr8k.token.txt")):
        layout, captions, skipped = "flickr8k", *_read_token_file(root)
    elif coco:
        layout, captions, skipped = "coco", *_read_coco(root, coco)
    else:
        raise DlkitError(f"{root}: no captions found (expected captions.txt, Flickr8k.token.txt or captions_*.json)")
    present = {}
    for image, texts in captions.items():
        if not os.path.isfile(image):
            skipped.append(f"{image}: image missing, {len(texts)} caption(s) skipped")
        else:
            present[image] = texts
    if not present:
        raise DlkitError(f"{root}: none of the captioned images exist")
    return CaptionData(layout, _split(root, present, layout, val_fraction), skipped)


def _image_folder(root: str) -> str:
    for name in ("Images", "Flicker8k_Dataset", "Flickr8k_Dataset", "images"):
        if os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    return root


def _add(captions: dict, skipped: list, image: str, text: str, where: str) -> None:
    text = " ".join(text.split())
    if not text:
        skipped.append(f"{where}: empty caption skipped")
        return
    captions.setdefault(image, []).append(text)


def _read_kaggle(root: str):
    folder, captions, skipped = _image_folder(root), {}, []
    with open(os.path.join(root, "captions.txt"), encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header and [h.strip().lower() for h in header[:2]] != ["image", "caption"]:
            raise DlkitError(f"{root}/captions.txt: expected a header 'image,caption'")
        for number, row in enumerate(rows, 2):
            if len(row) < 2:
                skipped.append(f"captions.txt line {number}: malformed line skipped")
                continue
            _add(captions, skipped, os.path.join(folder, row[0].strip()), ",".join(row[1:]),
                 f"captions.txt line {number}")
    return captions, skipped


def _read_token_file(root: str):
    folder, captions, skipped = _image_folder(root), {}, []
    with open(os.path.join(root, "Flickr8k.token.txt"), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            name, tab, text = line.rstrip("\n").partition("\t")
            if not tab or "#" not in name:
                if line.strip():
                    skipped.append(f"Flickr8k.token.txt line {number}: malformed line skipped")
                continue
            _add(captions, skipped, os.path.join(folder, name.rsplit("#", 1)[0]), text,
                 f"Flickr8k.token.txt line {number}")
    return captions, skipped


def _read_coco(root: str, files: list[str]):
    captions, skipped = {}, []
    for name in files:
        try:
            with open(os.path.join(root, name), encoding="utf-8") as f:
                data = json.load(f)
            folder = os.path.join(root, name[len("captions_"):-len(".json")])
            folder = folder if os.path.isdir(folder) else _image_folder(root)
            files_by_id = {image["id"]: os.path.join(folder, image["file_name"]) for image in data["images"]}
            for note in data["annotations"]:
                image = files_by_id.get(note.get("image_id"))
                if image is None:
                    skipped.append(f"{name}: caption {note.get('id')} names an unknown image")
                    continue
                _add(captions, skipped, image, note.get("caption", ""), f"{name} caption {note.get('id')}")
        except (ValueError, KeyError, TypeError) as e:
            raise DlkitError(f"{name}: not a COCO captions file ({e})") from None
    return captions, skipped


def _split(root: str, captions: dict, layout: str, val_fraction: float) -> dict:
    """The official Flickr8k split files when present; COCO's train/val files; else a
    fixed hash of each image name."""
    by_name = {os.path.basename(p): p for p in captions}
    splits = {}
    for split in ("train", "dev", "test"):
        path = os.path.join(root, f"Flickr_8k.{split}Images.txt")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                names = [line.strip() for line in f if line.strip() in by_name]
            splits["val" if split == "dev" else split] = {by_name[n]: captions[by_name[n]] for n in names}
    if layout == "coco" and not splits:
        for image, texts in captions.items():
            split = "val" if "val" in os.path.basename(os.path.dirname(image)) else "train"
            splits.setdefault(split, {})[image] = texts
    if "train" not in splits:
        splits["train"] = dict(captions)
    if not splits.get("val"):  # hold out a fixed share of the training images
        train, splits["val"] = splits["train"], {}
        splits["train"] = {}
        for image, texts in train.items():
            key = int(hashlib.md5(os.path.basename(image).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
            splits["val" if key < val_fraction else "train"][image] = texts
    return splits


def words(caption: str) -> list[str]:
    return [t for t in tokenize(caption) if t not in {".", ","}]


# ---- Data: cached image features --------------------------------------------------------

class FeatureCache:
    """CNN features computed once per (backbone, size, kind, image file) and kept on disk,
    so epochs only run the decoder and a second training run starts at once."""

    def __init__(self, backbone: str, image_size: int, spatial: bool, folder: str | None = None):
        self.backbone, self.image_size, self.spatial = backbone, image_size, spatial
        root = folder or os.environ.get("DLKIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "dlkit")
        self.folder = os.path.join(root, "features", f"{backbone}-{image_size}-{'grid' if spatial else 'pooled'}")
        self._model = None

    def _key(self, path: str) -> str:
        stat = os.stat(path)
        return hashlib.sha1(f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()

    def model(self):
        if self._model is None:
            base = backbones.build(self.backbone, include_top=False, input_size=self.image_size,
                                   pooling=None if self.spatial else "avg")
            preprocess = backbones.get(self.backbone).preprocess
            self._model = tf.function(lambda x: base(preprocess(tf.cast(x, tf.float32)), training=False),
                                      reduce_retracing=True)
        return self._model

    def compute(self, paths: list[str], on_batch: Callable[[int], None] | None = None) -> tuple[dict, dict]:
        """({path: features (regions, channels) float16}, {path: error}) for all paths."""
        os.makedirs(self.folder, exist_ok=True)
        found, errors, todo = {}, {}, []
        for path in paths:
            cached = os.path.join(self.folder, self._key(path) + ".npy") if os.path.exists(path) else None
            if cached and os.path.exists(cached):
                try:
                    found[path] = np.load(cached, allow_pickle=False)
                    continue
                except (OSError, ValueError):
                    pass  # a damaged cache entry is recomputed
            todo.append(path)
        if on_batch and len(found):
            on_batch(len(found))
        start = 0
        for images, failures in image_dataset(todo, self.image_size, 32) if todo else []:
            features = self.model()(images).numpy().astype(np.float16)
            for i, (vector, error) in enumerate(zip(features, failures.numpy())):
                path = todo[start + i]
                if error:
                    errors[path] = error.decode()
                    continue
                vector = vector.reshape(-1, vector.shape[-1])
                with modelio.atomic_path(os.path.join(self.folder, self._key(path) + ".npy")) as tmp:
                    with open(tmp, "wb") as f:
                        np.save(f, vector)
                found[path] = vector
            start += len(features)
            if on_batch:
                on_batch(len(features))
        return found, errors


def make_dataset(images: dict[str, list[str]], features: dict, vocab: Vocabulary, config: CaptionerConfig,
                 shuffle: bool) -> "tf.data.Dataset":
    """One element per caption: ((features, decoder input ids), next-word ids, mask)."""
    rows, inputs, targets = [], [], []
    paths = [p for p in images if p in features]
    index = {p: i for i, p in enumerate(paths)}
    for path in paths:
        for caption in images[path]:
            ids = vocab.encode([BOS] + words(caption)[: config.max_length - 1] + [EOS])
            inputs.append(ids[:-1])
            targets.append(ids[1:])
            rows.append(index[path])
    length = config.max_length
    decoder_in = np.zeros((len(rows), length), np.int32)
    decoder_out = np.zeros((len(rows), length), np.int32)
    for i, (a, b) in enumerate(zip(inputs, targets)):
        decoder_in[i, : len(a)], decoder_out[i, : len(b)] = a, b
    grid = np.stack([features[p] for p in paths])  # one copy per image, looked up per caption
    dataset = tf.data.Dataset.from_tensor_slices((np.array(rows, np.int32), decoder_in, decoder_out))
    if shuffle:
        dataset = dataset.shuffle(len(rows), seed=config.seed, reshuffle_each_iteration=True)
    grid_tensor = tf.constant(grid)
    dataset = dataset.batch(config.batch_size).map(
        lambda r, x, y: ((tf.cast(tf.gather(grid_tensor, r), tf.float32), x), y,
                         tf.cast(tf.not_equal(y, 0), tf.float32)),
        num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


# ---- Model -----------------------------------------------------------------------------

def build_model(config: CaptionerConfig, vocab_size: int, regions: int, channels: int) -> "keras.Model":
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


@keras.saving.register_keras_serializable(package="dlkit")
class AttentionCoverage(keras.layers.Layer):
    """Passes the attention context through and adds the doubly stochastic penalty
    (see CaptionerConfig.coverage) over the caption's real words to the training loss."""

    def __init__(self, weight: float, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return mask[0] if mask else None  # the context's own mask (its words)

    def call(self, inputs):
        context, scores, tokens = inputs  # scores: (batch, words, regions)
        words = tf.cast(tf.not_equal(tokens, 0), scores.dtype)[..., None]
        looked = tf.reduce_sum(scores * words, axis=1)
        self.add_loss(self.weight * tf.reduce_mean(tf.square(1.0 - looked)))
        return context

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


class InferenceGraphs:
    """Start state and single-word step, calling the trained layers directly."""

    def __init__(self, model: "keras.Model", config: CaptionerConfig):
        project, init_h, init_c = (model.get_layer(n) for n in ("project", "init_h", "init_c"))
        embed, decoder, logits_layer = (model.get_layer(n) for n in ("embedding", "decoder", "logits"))
        attention = model.get_layer("attention") if config.attention else None
        combine = model.get_layer("combine") if config.attention else None

        @tf.function(reduce_retracing=True)
        def start(features):
            memory = project(features)
            mean = tf.reduce_mean(memory, axis=1)
            return memory, [init_h(mean), init_c(mean)]

        @tf.function(reduce_retracing=True)
        def step(tokens, states, memory):
            decoded, h, c = decoder(embed(tokens[:, None]), initial_state=states, training=False)
            if attention is None:
                scores = tf.zeros((tf.shape(memory)[0], 1, tf.shape(memory)[1]))
            else:
                context, scores = attention([decoded, memory], return_attention_scores=True, training=False)
                decoded = combine(tf.concat([decoded, context], -1))
            return tf.nn.log_softmax(logits_layer(decoded)[:, 0]), [h, c], scores[:, 0]

        self._start, self._step = start, step

    def start(self, features: np.ndarray):
        memory, states = self._start(tf.constant(features, tf.float32))
        return memory.numpy(), [s.numpy() for s in states]

    def step(self, tokens, states, memory):
        log_probs, states, scores = self._step(tf.constant(tokens), [tf.constant(s) for s in states],
                                               tf.constant(memory))
        return log_probs.numpy(), [s.numpy() for s in states], scores.numpy()


# ---- Training --------------------------------------------------------------------------

def train_captioner(data: CaptionData, output: str, config: CaptionerConfig | None = None, train_config=None,
                    callbacks: list | None = None, cache_dir: str | None = None,
                    on_message: Callable[[str], None] | None = None,
                    on_features: Callable[[int], None] | None = None) -> tuple["Captioner", dict]:
    """Caches features, builds the vocabulary from the training captions, trains with
    greedy validation BLEU-4 (or the validation loss, see CaptionerConfig.monitor) picking
    the epoch, halving the learning rate and stopping, writes the model folder atomically."""
    from dlkit.training import EpochScore, TrainConfig, Trainer, halve_on_plateau

    config = config or CaptionerConfig()
    say = on_message or (lambda message: None)
    train, val = data.splits.get("train", {}), data.splits.get("val", {})
    if not train or not val:
        raise DlkitError("need training and validation images (split files, or enough images to hold some out)")
    cache = FeatureCache(config.backbone, config.image_size, config.attention, cache_dir)
    features, errors = cache.compute(list(train) + list(val), on_features)
    for path, error in errors.items():
        say(f"warning: {path}: {error}; skipped")
    vocab = Vocabulary.build((words(c) for captions in train.values() for c in captions), config.min_count)
    vocab = Vocabulary([BOS, EOS] + vocab.tokens[2:])
    say(f"{len(train)} training and {len(val)} validation images, vocabulary of {len(vocab)} words")
    trainer = Trainer(train_config or TrainConfig(seed=config.seed, patience=config.patience), output)
    check_choice("monitor", config.monitor, ("bleu4", "loss"))
    train_data = make_dataset(train, features, vocab, config, shuffle=True)
    val_data = make_dataset(val, features, vocab, config, shuffle=False)
    regions, channels = next(iter(features.values())).shape
    with trainer.scope():
        model = build_model(config, len(vocab), regions, channels)
        model.compile(keras.optimizers.Adam(config.learning_rate, clipnorm=5.0),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=["accuracy"], **trainer.compile_options())
    captioner = Captioner(model, vocab, config, cache_dir)
    if config.monitor == "bleu4":
        scores = [EpochScore("val_bleu4", lambda: evaluate(captioner, val, beam_size=1)[0]["bleu4"]),
                  halve_on_plateau("val_bleu4", config.lr_patience, min_delta=0.002)]
    else:
        scores = [halve_on_plateau("val_loss", config.lr_patience, min_delta=0.001, mode="min")]
    history = trainer.fit(model, trainer.distribute(train_data), trainer.distribute(val_data), config.epochs,
                          callbacks=[*scores, *(callbacks or [])], monitor=f"val_{config.monitor}",
                          mode="max" if config.monitor == "bleu4" else "min")
    if trainer.is_chief:
        captioner.save(output, {"history": history, "layout": data.layout})
    trainer.finish()
    return captioner, history


# ---- Inference -------------------------------------------------------------------------

@dataclass
class Caption:
    text: str
    score: float  # length-normalized log-probability (see dlkit.decoding)
    words: list[str]
    attention: np.ndarray | None = None  # (words + end, regions)


class Captioner:
    def __init__(self, model: "keras.Model", vocab: Vocabulary, config: CaptionerConfig, cache_dir: str | None = None):
        self.model, self.vocab, self.config = model, vocab, config
        self.graphs = InferenceGraphs(model, config)
        self.cache = FeatureCache(config.backbone, config.image_size, config.attention, cache_dir)

    def save(self, folder: str, extra: dict | None = None) -> None:
        modelio.save_folder(folder, self.model, {"config": asdict(self.config), **(extra or {})},
                            {"vocab.json": self.vocab.save})

    @classmethod
    def load(cls, folder: str) -> "Captioner":
        config = modelio.folder_config(folder, "captioner", "train-captioner", CaptionerConfig)
        vocab = Vocabulary.load(os.path.join(folder, "vocab.json"))
        return cls(modelio.load_model(os.path.join(folder, "model.keras")), vocab, config)

    def caption(self, paths: list[str], beam_size: int | None = None, with_attention: bool = False,
                on_batch: Callable[[int], None] | None = None) -> list[Caption | str]:
        """A Caption per path, or the error message for an unusable image."""
        features, errors = self.cache.compute(paths, on_batch)
        results: list[Caption | str] = [errors.get(p, "") for p in paths]
        good = [i for i, p in enumerate(paths) if p in features]
        for start in range(0, len(good), 32):
            chunk = good[start: start + 32]
            for i, caption in zip(chunk, self._decode(np.stack([features[paths[i]] for i in chunk]),
                                                       beam_size or self.config.beam_size, with_attention)):
                results[i] = caption
        return results

    def _decode(self, features: np.ndarray, beam: int, with_attention: bool) -> list[Caption]:
        memory, states = self.graphs.start(features)
        memory = np.repeat(memory, beam, 0)
        best = beam_search(lambda tokens, states: self.graphs.step(tokens, states, memory), states,
                           len(features), beam, self.vocab.ids[BOS], self.vocab.ids[EOS], self.config.max_length,
                           self.config.length_alpha, with_attention,
                           banned=(0, self.vocab.ids[Vocabulary.UNK], self.vocab.ids[BOS]))
        captions = []
        for h in best:
            tokens = self.vocab.decode(h.tokens)
            captions.append(Caption(_sentence(tokens), round(h.score, 4), tokens, h.attention))
        return captions


def _sentence(tokens: list[str]) -> str:
    text = " ".join(tokens)
    return (text[:1].upper() + text[1:] + ".") if text else ""


def bleu_scores(hypotheses: list[str], refs: list[list[str]]) -> dict:
    """Corpus BLEU-1..4 (0..1) against every reference caption, lower-cased."""
    import sacrebleu

    width = max(len(r) for r in refs)
    streams = [[r[i].lower() if i < len(r) else None for r in refs] for i in range(width)]
    hyps = [h.lower() for h in hypotheses]
    return {f"bleu{n}": round(sacrebleu.metrics.BLEU(max_ngram_order=n).corpus_score(hyps, streams).score / 100, 4)
            for n in range(1, 5)}


def evaluate(captioner: Captioner, images: dict[str, list[str]], beam_size: int | None = None,
             on_batch: Callable[[int], None] | None = None) -> tuple[dict, list[tuple[str, str, list[str]]]]:
    paths = list(images)
    results = captioner.caption(paths, beam_size, on_batch=on_batch)
    kept = [(p, r) for p, r in zip(paths, results) if isinstance(r, Caption)]
    scores = bleu_scores([r.text for _, r in kept], [images[p] for p, _ in kept])
    scores["images"] = len(kept)
    return scores, [(p, r.text, images[p]) for p, r in kept]


def attention_map(path: str, caption: Caption, image_size: int, out: str) -> None:
    """The photo once per word, shaded by where the model looked while writing it."""
    from dlkit import plots
    from dlkit.images import load_image

    if caption.attention is None:
        raise DlkitError("this captioner has no attention to draw")
    plt = plots._pyplot()
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
