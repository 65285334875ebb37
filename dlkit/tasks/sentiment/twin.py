"""The sentiment model's ONNX twin (the TensorFlow side): written by train-sentiment beside
model.keras, and by dlkit.core.twins on the first use of a folder from before twins.
Inference (predict.py) reads it without TensorFlow."""

from typing import Iterator

from dlkit import export
from dlkit.core import modelio
from dlkit.core.layers import class_names
from dlkit.core.runtime import keras
from dlkit.tasks.sentiment.layers import BigramIds


def write(source: str, target: dict[str, str]) -> dict:
    """Writes the twin of the Keras file `source` to target["model"]: token ids in,
    class probabilities out, stamped with describe()'s facts. Returns the check's
    {"max_difference", "tolerance"}."""
    model = modelio.load_model(source)
    return export.write_twin(source, model, target["model"], describe(model))


def describe(model: "keras.Model") -> dict:
    """What inference checks a folder's other files against: the labels the model was
    saved with (None for a model without a ClassNames layer), its number of outputs, and
    how many token ids its embeddings take (None: no embedding found)."""
    return {"labels": class_names(model), "outputs": int(model.output_shape[-1]), "token_ids": token_ids(model)}


def _layers(model: "keras.Model") -> Iterator["keras.layers.Layer"]:
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):  # an ensemble's members
            yield from _layers(layer)


def token_ids(model: "keras.Model") -> int | None:
    """How many token ids the model's embeddings take (the fewest, in an ensemble; an
    n-gram model's embedding also holds its bigram buckets, after the words)."""
    sizes = [layer.vocab_size if isinstance(layer, BigramIds) else layer.input_dim for layer in _layers(model)
             if isinstance(layer, (BigramIds, keras.layers.Embedding))]
    return min(sizes) if sizes else None
