"""A fast stylizer's ONNX twin (what dlkit.tasks.stylize.predict runs): the network,
RGB pixels 0..255 of any size in, the painted picture out."""

from dlkit import export
from dlkit.core import modelio


def write(source: str, target: dict[str, str]) -> dict:
    """Writes the twin of the fast stylizer in the .keras file `source` to
    target["model"], checked against Keras."""
    return export.write_twin(source, modelio.load_model(source), target["model"], {"stylizer": True})
