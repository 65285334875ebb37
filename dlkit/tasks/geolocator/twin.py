"""The geolocator's ONNX twin (the TensorFlow side): written by train-geolocator beside
model.keras, and by dlkit.core.twins on the first use of a folder from before twins.
Inference (predict.py) reads it without TensorFlow."""

from typing import Callable

from dlkit import export
from dlkit.core import modelio
from dlkit.core.runtime import keras, network
from dlkit.tasks.geolocator import layers  # noqa: F401 (the saved model's own layers)


def scores_network(model: "keras.Model") -> "keras.Model":
    """The saved model up to its location layer: its inputs (doc, features, points and
    mask, named, in the order of model.inputs) to the candidate and cell logits, which
    predict.decode turns into a place (in numpy: the softmax over the points, the places
    and the sphere)."""
    candidate_logits, _, _, cell_logits = model.get_layer("location").input
    return keras.Model(model.inputs, {"candidate_logits": candidate_logits, "cell_logits": cell_logits},
                       name="geolocator_scores")


def keras_network(model: "keras.Model") -> Callable[[dict], dict]:
    """What predict.Geolocator runs on Keras where it runs the twin: the featurizer's
    named inputs to {"candidate_logits", "cell_logits"}."""
    scores = scores_network(model)
    names = [tensor.name.split(":")[0] for tensor in scores.inputs]
    run = network(scores)
    return lambda inputs: run(*(inputs[name] for name in names))


def write(source: str, target: dict[str, str]) -> dict:
    """Writes the twin of the Keras file `source` to target["model"], stamped with the
    cells' unit points; returns the check's {"max_difference", "tolerance"}."""
    model = modelio.load_model(source)
    return export.write_twin(source, scores_network(model), target["model"],
                             {"cells": model.get_layer("location").cells})
