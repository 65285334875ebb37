"""The sentiment models' own Keras layers, registered as "dlkit>ClassName" (the names
saved models refer to; shipped models load by them)."""

import numpy as np

from dlkit.core.layers import register
from dlkit.core.runtime import keras


@register
class DlkitLSTMCell(keras.layers.Layer):
    """One LSTM step written from the gate equations, for keras.layers.RNN:

        i = σ(x W_i + h U_i + b_i)     input gate: how much new content to write
        f = σ(x W_f + h U_f + b_f)     forget gate: how much of the cell to keep
        g = tanh(x W_g + h U_g + b_g)  candidate content
        o = σ(x W_o + h U_o + b_o)     output gate: how much of the cell to show
        c' = f ⊙ c + i ⊙ g             cell state
        h' = o ⊙ tanh(c')              output and hidden state

    The weights are laid out as keras.layers.LSTM's (kernel, recurrent_kernel, bias, gates
    in the order i, f, g, o), so either layer's weights load into the other.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        units = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * units), initializer="glorot_uniform",
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(units, 4 * units), initializer="orthogonal",
                                                name="recurrent_kernel")
        # Forget-gate bias 1 (Jozefowicz et al. 2015): remember by default early in training.
        self.bias = self.add_weight(shape=(4 * units,), initializer="zeros", name="bias")
        self.bias.assign(np.concatenate([np.zeros(units), np.ones(units), np.zeros(2 * units)]).astype("float32"))

    def call(self, inputs, states, training=False):
        h, c = states
        z = keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(h, self.recurrent_kernel) + self.bias
        i, f, g, o = keras.ops.split(z, 4, axis=-1)
        c = keras.ops.sigmoid(f) * c + keras.ops.sigmoid(i) * keras.ops.tanh(g)
        h = keras.ops.sigmoid(o) * keras.ops.tanh(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register
class BigramIds(keras.layers.Layer):
    """Appends a hashed id for each pair of neighbouring tokens to the token ids, so the
    n-gram model still takes plain token ids. A pair touching padding gets id 0."""

    def __init__(self, vocab_size: int, buckets: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.buckets = vocab_size, buckets

    def call(self, ids):
        ids = keras.ops.cast(ids, "int64")
        left, right = ids[:, :-1], ids[:, 1:]
        hashed = self.vocab_size + (left * 1000003 + right) % self.buckets
        bigrams = keras.ops.where((left > 0) & (right > 0), hashed, keras.ops.zeros_like(hashed))
        return keras.ops.cast(keras.ops.concatenate([ids, bigrams], axis=1), "int32")

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        return (input_shape[0], None if length is None else max(0, 2 * length - 1))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets}


@register
class AttentionPooling(keras.layers.Layer):
    """Weighted mean over the steps that are not padding, with weights from a small
    learned scorer (Yang et al., 2016, hierarchical attention networks)."""

    def build(self, input_shape):
        width = input_shape[-1]
        self.project = keras.layers.Dense(width, activation="tanh", name="project")
        self.project.build(input_shape)
        self.score = keras.layers.Dense(1, use_bias=False, name="score")
        self.score.build((*input_shape[:-1], width))

    def call(self, inputs, mask=None):
        scores = self.score(self.project(inputs))[..., 0]
        if mask is not None:
            scores = keras.ops.where(mask, scores, keras.ops.full_like(scores, -1e9))
        weights = keras.ops.softmax(scores, axis=1)
        return keras.ops.sum(inputs * weights[..., None], axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@register
class NotPadding(keras.layers.Layer):
    """True where a token id is a word, False where it is padding (id 0)."""

    def call(self, ids):
        return keras.ops.not_equal(ids, 0)


@register
class ZeroMasked(keras.layers.Layer):
    """Sets the padded steps to zero."""

    def call(self, inputs, mask):
        return inputs * keras.ops.cast(mask, inputs.dtype)[..., None]


@register
class MaskedMax(keras.layers.Layer):
    """Max over time of the steps that are not padding (padded steps hold zeros, which
    would otherwise beat every negative activation)."""

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = keras.ops.where(mask[..., None], inputs, keras.ops.full_like(inputs, -1e9))
        return keras.ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])
