"""dlkit's own Keras layers: one registry, so that safe-mode loading finds them.

A layer class decorated with `@register` is serialized as "dlkit>ClassName". Models
that use it load only where its module has been imported; each task keeps its layers
in `dlkit/tasks/<task>/layers.py`, which the task imports itself, and code that loads
any dlkit model (`dlkit quantize`) imports them all through dlkit.tasks.import_layers().
Layers shared by several tasks live here.
"""

from dlkit.core.runtime import keras

REGISTERED: dict[str, type] = {}


def register(cls: type) -> type:
    """Registers a Keras layer (or loss, or function) under dlkit's package name."""
    registered = keras.saving.register_keras_serializable(package="dlkit")(cls)
    REGISTERED[cls.__name__] = registered
    return registered


@register
class ClassNames(keras.layers.Layer):
    """Identity on class probabilities; exists to keep the label names in the model file."""

    def __init__(self, names, **kwargs):
        super().__init__(**kwargs)
        self.names = [str(n) for n in names]

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "names": self.names}


def class_names(model: "keras.Model") -> list[str] | None:
    for layer in model.layers:
        if isinstance(layer, ClassNames):
            return layer.names
    return None
