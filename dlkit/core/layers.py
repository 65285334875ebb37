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


def register_alias(name: str, cls: type) -> None:
    """Loads what models saved earlier name "dlkit>`name`" as the registered `cls` (a
    class renamed or merged into another); new models name `cls` itself."""
    keras.saving.get_custom_objects()[f"dlkit>{name}"] = cls


@register
class ClassNames(keras.layers.Layer):
    """Identity on class probabilities; keeps the label names in the model file: of a
    classifier's output, or of one head of a model with several (a dict of outputs,
    dlkit.tasks.classifier.multitask), single-label (softmax over the labels) or
    multi-label (`multi`: sigmoid outputs, a label is on at or above its threshold)."""

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
        config = {**super().get_config(), "names": self.names}
        if self.multi or self.thresholds is not None:  # a single-label model's file stays as it was
            config.update(multi=self.multi, thresholds=self.thresholds)
        return config


# Multi-task heads were a copy of ClassNames named LabelHead (dlkit.tasks.classifier.layers).
register_alias("LabelHead", ClassNames)


def class_names(model: "keras.Model") -> list[str] | None:
    """The label names of a classifier with one output; None for a model that names
    none, or one with several heads (dlkit.tasks.classifier.twin.heads_of)."""
    named = [layer for layer in model.layers if isinstance(layer, ClassNames)]
    return named[0].names if len(named) == 1 and not named[0].multi else None
