"""The classifier's ONNX twins (TensorFlow side): what dlkit.core.twins converts a
classifier with, and the Keras networks the light predictors (.predict) stand for.

    from dlkit.core import twins
    from dlkit.tasks.classifier import twin
    twin.write("pets.keras", twins.twin_paths("pets.keras"))    # pets.onnx, checked against Keras

A twin takes RGB pixels 0..255 like the Keras model and carries, in its metadata, what
the light predictor needs besides the graph: a trained classifier's class names (null
when it names none) and input size; a multi-head model's heads (name, multi-label or
not, label names, thresholds) in the order of the twin's outputs. The ImageNet
classifiers' twins are dlkit.vision.imagenet_twin's.
"""


from dlkit import export
from dlkit.core import layers, modelio, twins
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.runtime import keras
from dlkit.vision.imagenet_twin import functional



def write(source: str, target: dict[str, str]) -> dict:
    """The twin of the classifier in the .keras file `source` at target["model"]; the
    check's {"max_difference", "tolerance"}."""
    model = load(source)
    size = input_size(model, source)
    if heads_of(model):
        return export.write_twin(source, in_head_order(model), target["model"],
                                 {"input_size": size, "heads": heads(model)})
    return export.write_twin(source, model, target["model"], {"input_size": size, "labels": layers.class_names(model)})


def load(source: str) -> "keras.Model":
    """The Keras model in the file `source` (see functional)."""
    return functional(modelio.load_model(source))


def write_beside(path: str, events: Events = SILENT) -> dict:
    """Writes the twin of the classifier just saved at `path` beside it (what every
    train-classifier leaves: twins.twin_paths), and says so."""
    target = twins.twin_paths(path)
    checked = write(path, target)
    events.message(f"ONNX twin {target['model']}: within {checked['max_difference']:.3g} of Keras")
    return checked


def heads_of(model: "keras.Model") -> list[layers.ClassNames]:
    """The heads of a model trained with labels (multitask.train): the ClassNames layer of
    each of its outputs (a dict), in output order ([] for any other model)."""
    if not isinstance(model.output, dict):
        return []
    return [layer for layer in model.layers if isinstance(layer, layers.ClassNames)]


def heads(model: "keras.Model") -> list[dict]:
    """What the light HeadsClassifier knows of each head, in heads_of's order."""
    return [{"name": h.name, "multi": h.multi, "names": h.names, "thresholds": h.thresholds} for h in heads_of(model)]


def in_head_order(model: "keras.Model") -> "keras.Model":
    """A multi-head model with its outputs as a list in heads_of's order. Keras' ONNX
    export flattens a dict of outputs by sorted key (and names them by key), while the
    model answers in the dict's own order: a list fixes one order for both runtimes."""
    return keras.Model(model.input, [model.output[head.name] for head in heads_of(model)], name=model.name)


def input_size(model: "keras.Model", source: str) -> int:
    """The side of the square RGB images `model` takes."""
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[-1] != 3:
        raise DlkitError(f"{source}: expected a model taking RGB images, got input shape {shape}")
    height, width = shape[1], shape[2]
    # Fully convolutional models accept any size; 224 is what ImageNet models expect.
    return int(height or width or 224)
