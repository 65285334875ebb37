"""The translator's own Keras objects, registered as "dlkit>ClassName" (the names its
saved models refer to, so that they load in safe mode)."""

import math

from dlkit.core.layers import register
from dlkit.core.runtime import keras, tf


@register
class Positions(keras.layers.Layer):
    """Token embeddings scaled by √dim plus the sinusoidal position signal of Vaswani et
    al. (2017), for positions `start`, `start` + 1, ...: no weights, so a sentence longer
    than any seen in training still gets positions (a decoder step passes its own)."""

    def call(self, embedded, start=0):
        dim = embedded.shape[-1]
        positions = tf.cast(tf.range(tf.shape(embedded)[1]) + start, tf.float32)[:, None]
        rates = tf.exp(tf.range(0, dim, 2, dtype=tf.float32) * (-math.log(10000.0) / dim))[None]
        angles = positions * rates
        signal = tf.reshape(tf.stack([tf.sin(angles), tf.cos(angles)], -1), [-1, dim])
        return embedded * math.sqrt(dim) + tf.cast(signal, embedded.dtype)[None]


@register
class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """The Transformer's learning rate: a linear rise to `peak` over `warmup` steps, then
    decay with the inverse square root of the step. Attention layers trained at a full
    rate from the first step diverge or stall; the decay stands in for a tuned schedule.

    A run that goes on from a model trained for `done` steps decays from where that one
    stopped, and warms up again to that rate: its optimizer's moments start afresh."""

    def __init__(self, peak: float, warmup: int, done: int = 0):
        self.peak, self.warmup, self.done = float(peak), int(warmup), int(done)

    def __call__(self, step):
        step = tf.cast(step, tf.float32) + 1.0
        return self.peak * tf.minimum(step / self.warmup, tf.sqrt(self.warmup / (step + self.done)))

    def get_config(self):
        return {"peak": self.peak, "warmup": self.warmup, "done": self.done}
