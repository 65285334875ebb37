"""An autoencoder's ONNX twin (what dlkit.tasks.autoencoder.predict runs): the whole
network, RGB pixels 0..255 in, its 0..1 reconstruction out."""

from dlkit import export
from dlkit.core import modelio
from dlkit.core.errors import DlkitError
from dlkit.tasks.autoencoder.config import PIXELS
from dlkit.vision.encoders import ENCODER


def write(source: str, target: dict[str, str]) -> dict:
    """Writes the twin of the autoencoder in the .keras file `source` to target["model"],
    checked against Keras."""
    model = checked(modelio.load_model(source), source)
    return export.write_twin(source, model, target["model"], {
        "autoencoder": True, "input_size": int(model.input_shape[1]), "channels": int(model.output_shape[-1])})


def checked(model: "keras.Model", source: str) -> "keras.Model":
    """`model`, once it is known to be an autoencoder written by train (its encoder holds
    the "pixels" part)."""
    try:
        model.get_layer(ENCODER).get_layer(PIXELS)
    except ValueError:
        raise DlkitError(f"{source}: not an autoencoder written by dlkit train-autoencoder (it has no "
                         f"{ENCODER}/{PIXELS} sub-model)") from None
    return model
