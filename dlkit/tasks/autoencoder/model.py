"""Autoencoders: the networks and training (plain or denoising); inference is in
dlkit.tasks.autoencoder.predict (no TensorFlow).

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
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dlkit.core import files, plots, training, twins
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.events import SILENT, Events, warn_all
from dlkit.core.inputs import expand_paths
from dlkit.core.runtime import keras, network, tf
from dlkit.core.task import Run
from dlkit.core.training import ProgressBar, TrainConfig, Trainer
from dlkit.tasks.autoencoder import twin
from dlkit.tasks.autoencoder.config import DECODER, PIXELS, Config, check, default_size
from dlkit.vision.encoders import ENCODER
from dlkit.vision.folders import split_layout
from dlkit.tasks.autoencoder.predict import LUMA, Autoencoder, corrupt, mean, mse
from dlkit.vision.images import load_image, try_load_image



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
    """predict.to_rgb, for tensors too (training's tf.data pipeline)."""
    if pixels01.shape[-1] == 1:
        pixels01 = tf.repeat(pixels01, 3, axis=-1) if tf.is_tensor(pixels01) else np.repeat(pixels01, 3, axis=-1)
    return pixels01 * 255.0


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
        twin.write(output, twins.twin_paths(output))
        plots.training_curves(history, curves, title=f"{config.arch} autoencoder"
                              + (f", noise {noise:g}" if noise else ""))
    trainer.finish()

    predictor = Autoencoder(network(model), output, size, channels, batch_size=config.batch_size)
    scores = {"val_error_mse": mean(mse(predictor.rebuild(to_rgb(val_clean)), val_clean))}
    if noise:
        scores["val_denoised_mse"] = mean(mse(predictor.rebuild(to_rgb(val_noisy)), val_clean))
        scores["val_noisy_input_mse"] = mean(mse(val_noisy, val_clean))
    summary = {"input": sources[0] if len(sources) == 1 else sources, **training.summary(
        history, model=output, curves=curves, arch=config.arch, bottleneck=config.bottleneck, noise=noise,
        image_size=size, color="grey" if grey else "rgb", train_images=len(data), val_images=len(val), **scores)}
    return Run(output, history, summary)

