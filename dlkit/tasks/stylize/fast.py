"""The fast stylizer (Johnson et al.): a feed-forward network trained with the perceptual
losses of .model to paint one style, then applied to any photo in one pass (.predict,
on the ONNX twin that training writes beside the model).

    from dlkit.tasks.stylize import StylizerConfig, load, train
    run = train("starry.jpg", "starry.keras", StylizerConfig(steps=800), images="photos/")
    for record in load("starry.keras").predict(["holiday.jpg"]):
        save_image(record["image"], "painted.jpg")
"""

import os

import numpy as np

from dlkit.core import files, plots, twins
from dlkit.core.config import validate
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import expand_paths
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Run
from dlkit.core.training import ProgressBar, TrainConfig, Trainer
from dlkit.tasks.stylize import twin
from dlkit.tasks.stylize.config import StylizerConfig
from dlkit.tasks.stylize.model import (LossNetwork, fit_size, offline_advice, read_image, relative_loss, resized,
                                       style_grams, total_variation)
from dlkit.vision import backbones
from dlkit.vision.images import load_image

CURVE_POINTS = 10  # epochs at least, whatever --steps-per-epoch says: points of the loss curve


# ---- Training ----------------------------------------------------------------------------

def transformation_network(width: int = 16, residual_blocks: int = 5) -> "keras.Model":
    """Johnson et al.'s image transformation network: downsample, residual blocks,
    upsample by nearest-neighbour + convolution (no transposed convolutions, hence no
    checkerboard artifacts), instance normalization. Fully convolutional: any size."""
    def conv(x, filters, kernel, stride=1, relu=True):
        x = keras.layers.Conv2D(filters, kernel, stride, padding="same")(x)
        x = keras.layers.GroupNormalization(groups=-1)(x)  # groups=-1: instance normalization
        return keras.layers.ReLU()(x) if relu else x

    inputs = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = conv(x, width, 9)
    x = conv(x, width * 2, 3, 2)
    x = conv(x, width * 4, 3, 2)
    for _ in range(residual_blocks):
        x = keras.layers.Add()([x, conv(conv(x, width * 4, 3), width * 4, 3, relu=False)])
    for filters in (width * 2, width):
        x = keras.layers.UpSampling2D(2, interpolation="nearest")(x)
        x = conv(x, filters, 3)
    x = keras.layers.Conv2D(3, 9, padding="same", activation="sigmoid")(x)
    outputs = keras.layers.Rescaling(255.0)(x)
    return keras.Model(inputs, outputs, name="stylizer")


def _training_images(folder: str, size: int, batch_size: int, seed: int | None) -> "tf.data.Dataset":
    paths = expand_paths([folder])
    if not paths:
        raise DlkitError(f"{folder}: no images to train on")

    def decode(path):
        try:
            return load_image(path.decode(), size).astype(np.float32)
        except Exception:  # a bad training photo is replaced by a grey one, not fatal
            return np.full((size, size, 3), 127.0, np.float32)

    dataset = tf.data.Dataset.from_tensor_slices(paths).shuffle(len(paths), seed=seed)
    dataset = dataset.map(lambda p: tf.ensure_shape(tf.numpy_function(decode, [p], tf.float32), (size, size, 3)),
                          num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(lambda x: tf.image.random_flip_left_right(x, seed=seed))
    return dataset.batch(batch_size, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE)


class PerceptualTrainer(keras.Model):
    """Wraps a transformation network with the perceptual losses, so that Keras' fit
    (and with it dlkit's Trainer: strategies, checkpoints, resuming) trains it."""

    def __init__(self, net: "keras.Model", network: LossNetwork, targets: list, config: StylizerConfig, **kwargs):
        super().__init__(**kwargs)
        self.net, self.network, self.config = net, network, config
        self.targets = [tf.constant(t) for t in targets]
        self.trackers = {name: keras.metrics.Mean(name) for name in ("loss", "content", "style", "tv")}

    def call(self, images, training=False):
        return self.net(images, training=training)

    def train_step(self, images):
        content_targets, _ = self.network.features(images)
        with tf.GradientTape() as tape:
            out = self.net(images, training=True)
            content, grams = self.network.features(out)
            content_loss = tf.add_n([relative_loss(f, t) for f, t in zip(content, content_targets)]) / len(content)
            style_loss = tf.add_n([relative_loss(g, tf.repeat(t, tf.shape(g)[0], axis=0))
                                   for g, t in zip(grams, self.targets)]) / len(grams)
            tv = total_variation(out)
            total = (self.config.content_weight * content_loss + self.config.style_weight * style_loss
                     + self.config.tv_weight * tv)
        grads = tape.gradient(total, self.net.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.net.trainable_variables))
        for name, value in zip(self.trackers, (total, content_loss, style_loss, tv)):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @property
    def metrics(self):
        return list(self.trackers.values())


def train(style: str, output: str, config: StylizerConfig | None = None, train_config: TrainConfig | None = None,
          events: Events = SILENT, *, images: str, callbacks: list | None = None) -> Run:
    """Trains a transformation network on the photos in the folder `images` to paint like
    the image `style`, with the perceptual losses of stylize(); writes it to `output`
    (.keras) atomically, and its training curves beside it. `train_config` sets
    strategy, precision and checkpoints; `callbacks` go to Keras' fit. The Run's summary
    is the record `dlkit train-stylizer` prints."""
    files.check_output(output, suffixes=(".keras",), what="stylizer")
    config = validate(config or StylizerConfig())
    if config.weights == "imagenet":  # a missing download stops the run before its lock and checkpoints
        backbones.ensure_weights(config.backbone, advice=offline_advice(config.backbone))
    trainer = Trainer(train_config or TrainConfig(seed=config.seed, patience=None), output, events)
    painting = read_image(style)
    painting = resized(painting, fit_size(painting.shape[1], painting.shape[0], config.style_size))
    # A short run still reports (and draws) several points: with one epoch its first and
    # final loss would be the same number.
    steps_per_epoch = min(config.steps_per_epoch, max(1, config.steps // CURVE_POINTS))
    epochs = max(1, config.steps // steps_per_epoch)
    dataset = _training_images(images, config.image_size, config.batch_size, config.seed).take(steps_per_epoch)
    with trainer.scope():
        network = LossNetwork(config.backbone, smooth=config.smooth, weights=config.weights)
        targets = [t.numpy() for t in style_grams(network, [painting], [1.0])]
        model = PerceptualTrainer(transformation_network(config.width, config.residual_blocks), network,
                                  targets, config)
        model.compile(keras.optimizers.Adam(config.learning_rate), **trainer.compile_options())
        model(tf.zeros((1, config.image_size, config.image_size, 3)))  # build before restoring
    shorter = ["--steps", "--image-size"] + (["--backbone mobilenet_v2"] if config.backbone != "mobilenet_v2" else [])
    progress = ProgressBar(epochs, steps_per_epoch, "training stylizer", events=events,
                           hint=f"{', '.join(shorter[:-1])} and {shorter[-1]} shorten it")
    history = trainer.fit(model, trainer.distribute(dataset), None, epochs, callbacks=[*(callbacks or []), progress],
                          monitor="loss")
    trainer.save(model.net, output)
    curves = os.path.splitext(output)[0] + ".curves.png"
    if trainer.is_chief:
        twin.write(output, twins.twin_paths(output))
        plots.training_curves(history, curves, title=f"fast stylizer: {os.path.basename(style)}")
    trainer.finish()
    summary = {"input": style, "model": output, "steps": epochs * steps_per_epoch,
               "seconds": round(history["seconds"], 1), "first_loss": round(history["loss"][0], 4),
               "final_loss": round(history["loss"][-1], 4), "curves": curves}
    return Run(output, history, summary)
