"""The classifier's own Keras layer (registered, so models using it load in safe mode)."""

from dlkit.core.layers import register
from dlkit.core.runtime import keras


@register
class LabelHead(keras.layers.Layer):
    """Identity on one head's probabilities; keeps that head's label names in the model
    file, whether it is multi-label (sigmoid outputs, a label is on at or above its
    threshold) or single-label (softmax over the labels)."""

    def __init__(self, names, multi: bool = False, thresholds=None, **kwargs):
        super().__init__(**kwargs)
        self.names = [str(n) for n in names]
        self.multi = bool(multi)
        self.thresholds = [float(t) for t in thresholds] if thresholds is not None else None

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "names": self.names, "multi": self.multi, "thresholds": self.thresholds}
