"""Autoencoders: the networks, training (plain or denoising), the reconstruction
predictor and its grid picture.

The saved model ("autoencoder") takes raw RGB pixels (0..255), like every dlkit model,
and is two sub-models in a row:
- "encoder": pixels to the bottleneck code. It starts with the sub-model "pixels",
  which scales to 0..1 and, for a grey model, turns RGB to grey (ITU-R 601 luma);
- "decoder": code to the reconstructed image, 0..1, grey or RGB (a sigmoid).
Reconstruction errors are measured in the space "pixels" gives (0..1), and so is the
noise of a denoising autoencoder (Gaussian, clipped to 0..1): Config.noise.
Only Keras' own layers are used, so any code can load the file in safe mode, and
dlkit.vision.encoders finds the encoder by its name.
"""

import os
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dlkit.core import files, modelio, plots, training
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.events import SILENT, Events, warn_all
from dlkit.core.inputs import expand_paths
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Run
from dlkit.core.training import ProgressBar, TrainConfig, Trainer
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.autoencoder.config import Config, check, default_size
from dlkit.vision.encoders import ENCODER
from dlkit.vision.folders import split_layout
from dlkit.vision.images import ImagePredictor, load_image, try_load_image

# ITU-R BT.601 luma, as Pillow's convert("L"): a grey model sees what an image viewer shows.
LUMA = (0.299, 0.587, 0.114)
PIXELS, DECODER = "pixels", "decoder"


# ---- Networks --------------------------------------------------------------------------

def pixels_model(size: int, channels: int) -> "keras.Model":
    """RGB 0..255 to the 0..1 pixels the autoencoder reconstructs (grey: one channel)."""
    raw = keras.Input((size, size, 3), name="rgb")
    x = keras.layers.Rescaling(1 / 255.0)(raw)
    if channels == 1:
        grey = keras.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="grey")
        x = grey(x)
        grey.set_weights([np.array(LUMA, np.float32).reshape(1, 1, 3, 1)])
    return keras.Model(raw, x, name=PIXELS)


def build_model(config: Config, size: int, channels: int) -> "keras.Model":
    """The autoencoder for `size` px images with `channels` (1 grey, 3 RGB) outputs."""
    raw = keras.Input((size, size, 3), name="rgb")
    x = pixels_model(size, channels)(raw)
    if config.arch == "dense":
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(config.hidden, activation="relu")(x)
    else:
        x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
        x = keras.layers.Flatten()(x)
    # A linear code: its values are features for other models (extract-features).
    code = keras.layers.Dense(config.bottleneck, name="code")(x)
    encoder = keras.Model(raw, code, name=ENCODER)

    codes = keras.Input((config.bottleneck,), name="code_in")
    if config.arch == "dense":
        y = keras.layers.Dense(config.hidden, activation="relu")(codes)
        y = keras.layers.Dense(size * size * channels)(y)
        y = keras.layers.Reshape((size, size, channels))(y)
    else:
        y = keras.layers.Dense((size // 4) * (size // 4) * 64, activation="relu")(codes)
        y = keras.layers.Reshape((size // 4, size // 4, 64))(y)
        y = keras.layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(y)
        y = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(y)
        y = keras.layers.Conv2D(channels, 3, padding="same")(y)
    # float32 output under mixed precision: the errors are small numbers.
    y = keras.layers.Activation("sigmoid", dtype="float32")(y)
    decoder = keras.Model(codes, y, name=DECODER)
    return keras.Model(raw, decoder(encoder(raw)), name="autoencoder")


def to_rgb(pixels01):
    """0..1 pixels (grey or RGB) back to the RGB 0..255 the model takes (a grey image
    as R = G = B, which its grey layer maps back to the same grey: the weights sum to 1)."""
    if pixels01.shape[-1] == 1:
        pixels01 = tf.repeat(pixels01, 3, axis=-1) if tf.is_tensor(pixels01) else np.repeat(pixels01, 3, axis=-1)
    return pixels01 * 255.0


def corrupt(pixels01: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of std `noise`, clipped to 0..1 (Config.noise)."""
    if not noise:
        return pixels01
    return np.clip(pixels01 + rng.normal(0.0, noise, pixels01.shape).astype(np.float32), 0.0, 1.0)


# ---- Data ------------------------------------------------------------------------------

def _training_paths(images: list[str], events: Events) -> tuple[list[str], list[str] | None]:
    """(training paths, validation paths or None): one split folder (train/ plus
    validation/, val/ or test/, as import-mnist writes) trains on train/ and validates
    on the other; anything else is all training images (files, folders, globs)."""
    layout = split_layout(images[0]) if len(images) == 1 and os.path.isdir(images[0]) else None
    if layout is None:
        return expand_paths(images), None
    events.message(f"{images[0]} is split: training on {layout[0]}, validating on {layout[1]}")
    return expand_paths([layout[0]]), expand_paths([layout[1]])


def read_images(paths: list[str], size: int, events: Events = SILENT) -> np.ndarray:
    """Every image decoded once, resized to size x size: uint8 [N, size, size, 3];
    unusable files are skipped with one warning each."""
    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        arrays = list(pool.map(lambda path: try_load_image(path, size), paths))
    warn_all(events, [f"{path}: {array}; skipped" for path, array in zip(paths, arrays)
                      if isinstance(array, ItemError)])
    kept = [a for a in arrays if not isinstance(a, ItemError)]
    if not kept:
        raise DlkitError("no usable images to train on")
    return np.stack(kept)


def _first_size(paths: list[str]) -> tuple[int, int]:
    for path in paths:
        try:
            image = load_image(path)
        except ItemError:
            continue
        return image.shape[1], image.shape[0]
    raise DlkitError("no usable images to train on")


def _is_grey(images: np.ndarray) -> bool:
    return bool(np.all(images[..., 0] == images[..., 1]) and np.all(images[..., 1] == images[..., 2]))


def to_pixels(pixels: "keras.Model", images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 RGB images through the model's "pixels" part: the 0..1 images it rebuilds."""
    parts = [np.asarray(pixels(images[i:i + batch_size].astype(np.float32), training=False))
             for i in range(0, len(images), batch_size)]
    return np.concatenate(parts)


# ---- Training --------------------------------------------------------------------------

def train(images: "str | list[str]", output: str, config: Config | None = None,
          train_config: TrainConfig | None = None, events: Events = SILENT, callbacks: list | None = None) -> Run:
    """Trains an autoencoder on `images` (files, folders, globs; a split folder trains on
    train/ and validates on its held-out split, anything else holds out val_split),
    saves `output` (.keras) and a training-curve PNG beside it; the Run's summary is the
    record `dlkit train-autoencoder` prints. A denoising one (config.noise) sees freshly
    corrupted images each epoch and its validation images with fixed noise."""
    files.check_output(output, suffixes=(".keras",), what="model")
    config = check(config or Config())
    train_config = train_config or TrainConfig()
    sources = [images] if isinstance(images, str) else list(images)
    train_paths, val_paths = _training_paths(sources, events)
    size = config.image_size or default_size(*_first_size(train_paths), config.arch)
    data = read_images(train_paths, size, events)
    if val_paths is None:
        order = np.random.default_rng(config.split_seed).permutation(len(data))
        held = max(1, int(round(len(data) * config.val_split)))
        if held >= len(data):
            raise DlkitError(f"{len(data)} image(s): too few to hold {config.val_split:.0%} out for validation")
        data, val = data[np.sort(order[held:])], data[np.sort(order[:held])]
    else:
        val = read_images(val_paths, size, events)
    grey = config.color == "grey" or (config.color == "auto" and _is_grey(data) and _is_grey(val))
    channels = 1 if grey else 3
    events.message(f"{len(data)} training and {len(val)} validation images, {size}px "
                   f"{'grey' if grey else 'RGB'}, {config.arch} autoencoder, code of {config.bottleneck}"
                   + (f", denoising (noise {config.noise:g})" if config.noise else ""))

    trainer = Trainer(train_config, output, events)
    with trainer.scope():
        model = build_model(config, size, channels)
        model.compile(keras.optimizers.Adam(config.learning_rate), "mse", **trainer.compile_options())
    pixels = model.get_layer(ENCODER).get_layer(PIXELS)
    clean, val_clean = to_pixels(pixels, data), to_pixels(pixels, val)
    noise = float(config.noise)

    def corrupted(batch):
        if not noise:
            return to_rgb(batch), batch
        noisy = tf.clip_by_value(batch + tf.random.normal(tf.shape(batch), stddev=noise), 0.0, 1.0)
        return to_rgb(noisy), batch

    train_ds = tf.data.Dataset.from_tensor_slices(clean).shuffle(
        len(clean), seed=train_config.seed, reshuffle_each_iteration=True).batch(config.batch_size)
    train_ds = trainer.distribute(train_ds.map(corrupted, num_parallel_calls=tf.data.AUTOTUNE)
                                  .prefetch(tf.data.AUTOTUNE))
    # The same noisy validation images every epoch, so that epochs compare.
    val_noisy = corrupt(val_clean, noise, np.random.default_rng(config.split_seed))
    val_ds = trainer.distribute(tf.data.Dataset.from_tensor_slices((to_rgb(val_noisy), val_clean))
                                .batch(config.batch_size))
    steps = training.steps_in(train_ds) or 1
    history = trainer.fit(model, train_ds, val_ds, config.epochs,
                          callbacks=[*(callbacks or []), ProgressBar(config.epochs, steps, "training", events)])
    trainer.save(model, output)
    curves = os.path.splitext(output)[0] + ".curves.png"
    if trainer.is_chief:
        plots.training_curves(history, curves, title=f"{config.arch} autoencoder"
                              + (f", noise {noise:g}" if noise else ""))
    trainer.finish()

    predictor = Autoencoder(model, output, batch_size=config.batch_size)
    scores = {"val_error_mse": _mean(_mse(predictor.rebuild(to_rgb(val_clean)), val_clean))}
    if noise:
        scores["val_denoised_mse"] = _mean(_mse(predictor.rebuild(to_rgb(val_noisy)), val_clean))
        scores["val_noisy_input_mse"] = _mean(_mse(val_noisy, val_clean))
    summary = {"input": sources[0] if len(sources) == 1 else sources, **training.summary(
        history, model=output, curves=curves, arch=config.arch, bottleneck=config.bottleneck, noise=noise,
        image_size=size, color="grey" if grey else "rgb", train_images=len(data), val_images=len(val), **scores)}
    return Run(output, history, summary)


def _mse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per image: the mean over its pixels (and channels) of the squared difference."""
    return np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2, axis=(1, 2, 3))


def _mean(values: np.ndarray) -> float:
    return round(float(np.mean(values)), 6)


# ---- Inference -------------------------------------------------------------------------

class Autoencoder(ImagePredictor):
    """Image paths in, {"error_mse"} out: the mean squared difference (pixels 0..1)
    between the image and its reconstruction, an anomaly score. With `noise`, the
    image is corrupted first (seeded by `seed` and the image's pixels: an image gets the
    same noise in any order, batch or rerun) and the record adds
    "noisy_input_mse", the corrupted input's own error against the clean image, so that
    error_mse below it means the model removed noise. `keep`: how many of the first
    images to keep (clean, corrupted, reconstructed) in `kept`, for write_grid."""

    def __init__(self, model: "keras.Model", source: str, noise: float = 0.0, seed: int = 0,
                 batch_size: int = 64, keep: int = 0):
        try:
            self.pixels = model.get_layer(ENCODER).get_layer(PIXELS)
        except ValueError:
            raise DlkitError(f"{source}: not an autoencoder written by dlkit train-autoencoder (it has no "
                             f"{ENCODER}/{PIXELS} sub-model)") from None
        if not 0 <= noise <= 1:
            raise DlkitError(f"--noise must be between 0 and 1 (pixels are 0..1), not {noise}")
        super().__init__(model, int(model.input_shape[1]), None, batch_size)
        self.source, self.noise, self.keep = source, float(noise), keep
        self.channels = int(model.output_shape[-1])
        self.kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.seed = seed

    def rebuild(self, rgb: np.ndarray) -> np.ndarray:
        """Reconstructions (0..1) of RGB images (0..255, any float or uint8 array)."""
        parts = [self.outputs(rgb[i:i + self.batch_size]) for i in range(0, len(rgb), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.input_size, self.input_size, self.channels))

    def predict_images(self, images: np.ndarray) -> list[dict]:
        clean = to_pixels(self.pixels, images, self.batch_size)
        noisy = np.stack([corrupt(pixels, self.noise, np.random.default_rng([self.seed, zlib.crc32(image.tobytes())]))
                          for pixels, image in zip(clean, images)])
        rebuilt = self.rebuild(to_rgb(noisy).astype(np.float32))
        room = max(0, self.keep - len(self.kept))
        self.kept.extend(zip(clean[:room], noisy[:room], rebuilt[:room]))
        errors = _mse(rebuilt, clean)
        if not self.noise:
            return [{"error_mse": round(float(e), 6)} for e in errors]
        return [{"error_mse": round(float(e), 6), "noisy_input_mse": round(float(n), 6)}
                for e, n in zip(errors, _mse(noisy, clean))]


def load(path: str, noise: float = 0.0, seed: int = 0, batch_size: int = 64, keep: int = 0) -> Autoencoder:
    """The autoencoder in `path` (a .keras file from train / dlkit train-autoencoder);
    dlkit ships none, so a path is needed."""
    if path is None:
        raise DlkitError("dlkit ships no autoencoder; pass --model PATH (train one with dlkit train-autoencoder)")
    return Autoencoder(modelio.load_model(path), path, noise, seed, batch_size, keep)


def reconstruct(items, model: str, settings: dict | None = None, engine: EngineConfig = EngineConfig(),
                events: Events = SILENT):
    """The records of `dlkit reconstruct` ({"input", "error_mse", "noisy_input_mse"}):
    load(model, **settings).predict(items) here or on Ray; with settings["grid"] a PNG
    path, here, drawing the first settings["grid_images"] images to it at the end."""
    settings = dict(settings or {})
    grid, count = settings.pop("grid", None), settings.pop("grid_images", 16)
    if grid is None:
        yield from predictions("dlkit.tasks.autoencoder.model:load", {"path": model, **settings}, items, engine,
                               settings.get("batch_size", 64), events)
        return
    files.check_output(grid, suffixes=(".png",), what="grid picture")
    if engine.engine != "local":
        raise DlkitError("--output draws the grid from this process: use it with --engine local")
    predictor = load(model, keep=count, **settings)
    yield from predictor.predict(items)
    if predictor.kept:
        write_grid(predictor.kept, grid, noisy=predictor.noise > 0)
        events.message(f"{len(predictor.kept)} images, {'corrupted and ' if predictor.noise else ''}"
                       f"reconstructed -> {grid}")
    else:
        events.warning(f"{grid}: no image was reconstructed, so no grid was drawn")


def evaluate(images: "str | list[str]", model: "str | Autoencoder", noise: float = 0.0, seed: int = 0,
             events: Events = SILENT) -> dict:
    """The mean reconstruction error over `images` (files, folders, globs), with
    `noise` that of the corrupted inputs too; unusable images are left out and counted."""
    predictor = model if isinstance(model, Autoencoder) else load(model, noise, seed)
    paths = expand_paths([images] if isinstance(images, str) else images)
    errors, noisy, skipped = [], [], []
    with events.progress(len(paths), "reconstructing") as advance:
        for record in predictor.predict(paths):
            advance()
            if "error" in record:
                skipped.append(f"{record['input']}: {record['error']}; skipped")
                continue
            errors.append(record["error_mse"])
            noisy.append(record.get("noisy_input_mse"))
    warn_all(events, skipped)
    if not errors:
        raise DlkitError("no usable images to evaluate on")
    metrics = {"model": predictor.source, "images": len(errors), "skipped": len(skipped), "noise": predictor.noise,
               "error_mse": _mean(np.array(errors))}
    if predictor.noise:
        metrics["noisy_input_mse"] = _mean(np.array(noisy))
    return metrics


# ---- The grid picture ------------------------------------------------------------------

# Each image is drawn at least this many pixels high (28 px digits are scaled up 3x).
MIN_CELL = 72
# Images per row band; more images wrap into further bands below.
COLUMNS = 8


def write_grid(kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]], path: str, noisy: bool) -> None:
    """A PNG of the kept images: per band, a row of inputs, of corrupted inputs (when
    `noisy`) and of reconstructions, each column one image; written atomically."""
    from PIL import Image, ImageDraw

    if not kept:
        raise DlkitError(f"{path}: no image was reconstructed, so there is no grid to draw")
    size = kept[0][0].shape[0]
    scale = max(1, -(-MIN_CELL // size))
    cell, gap, margin = size * scale, 4, 64
    names = ["input", "noisy", "output"] if noisy else ["input", "output"]
    picks = [0, 1, 2] if noisy else [0, 2]
    columns = min(COLUMNS, len(kept))
    bands = -(-len(kept) // columns)
    band_height = len(names) * (cell + gap) + gap * 2
    canvas = Image.new("RGB", (margin + columns * (cell + gap) + gap, bands * band_height), "white")
    draw = ImageDraw.Draw(canvas)
    for i, triple in enumerate(kept):
        band, column = divmod(i, columns)
        for row, pick in enumerate(picks):
            pixels = np.clip(np.rint(triple[pick] * 255.0), 0, 255).astype(np.uint8)
            tile = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert("RGB")
            tile = tile.resize((cell, cell), Image.NEAREST)
            canvas.paste(tile, (margin + gap + column * (cell + gap), band * band_height + gap + row * (cell + gap)))
    for band in range(bands):
        for row, name in enumerate(names):
            draw.text((4, band * band_height + gap + row * (cell + gap) + cell // 2 - 6), name, fill="black")
    with files.atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG", optimize=True)
