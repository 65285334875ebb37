"""Image-to-vector Keras models from files: the features of any network that turns RGB
pixels into one vector per image, without knowing which task trained it.

Conventions (dlkit.core.modelio): a dlkit model takes raw RGB pixels (0..255) and holds
its own preprocessing. A model with a sub-model named "encoder" (an autoencoder from
`dlkit train-autoencoder`) gives that sub-model's output, its bottleneck code; any other
model gives its own output, average-pooled over space when it is a feature map.
"""

from dlkit.core import modelio
from dlkit.core.errors import DlkitError
from dlkit.core.runtime import keras

# The sub-model of an autoencoder that maps pixels to codes: what its features are.
ENCODER = "encoder"


def load_encoder(path: str) -> tuple["keras.Model", int]:
    """(a model from RGB pixels [N, size, size, 3] (0..255) to vectors [N, D], size)
    from a .keras file; one line naming the file when it is not such a model."""
    model = modelio.load_model(path)
    try:
        encoder = model.get_layer(ENCODER)
    except ValueError:
        encoder = model
    if not isinstance(encoder, keras.Model):
        raise DlkitError(f"{path}: its layer {ENCODER!r} is not a model")
    shape = encoder.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[-1] != 3 or shape[1] is None or shape[1] != shape[2]:
        raise DlkitError(f"{path}: expected a model taking square RGB images, got input shape {shape}")
    outputs = encoder.outputs
    if len(outputs) != 1 or len(outputs[0].shape) not in (2, 4):
        raise DlkitError(f"{path}: expected one vector or feature map per image, got outputs "
                         f"{[tuple(o.shape) for o in outputs]}")
    if len(outputs[0].shape) == 4:
        encoder = keras.Model(encoder.input, keras.layers.GlobalAveragePooling2D()(outputs[0]))
    return encoder, int(shape[1])
