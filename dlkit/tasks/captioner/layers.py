"""The captioner's own Keras layer (registered, so that safe-mode loading finds it)."""

from dlkit.core.layers import register
from dlkit.core.runtime import keras, tf


@register
class AttentionCoverage(keras.layers.Layer):
    """Passes the attention context through and adds the doubly stochastic penalty
    (see Config.coverage) over the caption's real words to the training loss."""

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
