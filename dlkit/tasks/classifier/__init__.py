"""Image classification: ImageNet CNNs, and classifiers trained on class folders.

    from dlkit.tasks import classifier
    predictor = classifier.load()                    # the ImageNet backbone (ClassifyConfig), on ONNX Runtime
    predictor = classifier.load("pets.keras")        # a model trained by train(): its twin, pets.onnx
    run = classifier.train("pets/", "pets.keras", classifier.TrainClassifierConfig(epochs=5))
    run = classifier.train("photos/", "tags.keras", labels="labels.csv")   # a head per CSV column
    metrics = classifier.evaluate("pets-val/", "pets.keras")

Modules: config (settings, no TensorFlow), predict (load, the Classifier and
HeadsClassifier predictors, on ONNX twins: no TensorFlow), twin (writes the twins),
classify (classify's records, Grad-CAM heat-maps), networks (the CNNs), run (train,
evaluate: class folders or a labels CSV), training (on class folders), multitask
(multi-label and multi-task heads from a labels CSV), mnist (import_mnist), cli
(import-mnist).
"""

from dlkit.core.task import Argument, Evaluate, Fields, Predict, Task, Train, lazy_exports
from dlkit.tasks.classifier.config import (ClassifyConfig, Config, EvaluateConfig, Saliency, TrainClassifierConfig,
                                           TrainData)


def _top(entries):
    return ", ".join(f"{e['label']} {e['score']:.2f}" for e in entries[1:])


TASK = Task(
    name="classifier",
    summary="Label photos.",
    config=TrainClassifierConfig,
    train=Train(
        command="train-classifier",
        summary="Train an image classifier on class folders (transfer learning, LeNet-5, VGG, ...).",
        function="dlkit.tasks.classifier.run:train",
        data=Argument("data_dir", exists="dir"),
        output="Where to save the trained .keras model (a training-curve PNG goes beside it).",
        options=(Fields(TrainData),),
        patience=3,
        help="""Train an image classifier on DATA_DIR: one sub-folder of images per class.

    A DATA_DIR split into train/ and validation/, val/ or test/ (each with the same
    class folders) trains on train/ and validates on the other. With fewer than 100
    images to hold out, every image trains and cross-validation picks the head.

    With --labels CSV, DATA_DIR holds the images the CSV names (paths relative to it).
    Each column after the first is a task with its own head: several labels in a cell,
    separated by ";" (or an empty cell), make it multi-label (sigmoid outputs, a
    threshold per label); otherwise one softmax over its values.

    Prints one JSON summary (accuracy, loss, epochs, seconds) and writes OUTPUT plus a
    training-curve PNG beside it. Rerun with --resume after an interruption.

    \b
    Examples:
      dlkit train-classifier pets/ -o pets.keras
      dlkit train-classifier train/ --val-dir val/ --fine-tune-epochs 5 -o pets.keras
      dlkit import-mnist ../shared/data/mnist digits/
      dlkit train-classifier digits/ --arch lenet5 --no-augment -o lenet.keras
      dlkit classify --model pets.keras photo.jpg
      dlkit train-classifier photos/ --labels labels.csv --task-weights species=2 -o tags.keras
    """),
    predict=(Predict(
        command="classify",
        summary="Label photos with an ImageNet CNN or your own model.",
        load="dlkit.tasks.classifier.predict:load",
        run="dlkit.tasks.classifier.classify:classify",
        options=(Fields(ClassifyConfig, keyword="config"),),
        run_options=(Fields(Saliency),),
        columns={"input": None, "label": None, "score": None, "top": _top, "saliency": None},
        model_help="A .keras classifier trained with dlkit train-classifier (or any Keras image classifier) "
                   "[default: the ImageNet --backbone].",
        serve="ImageNet labels (or your classifier's) of photos.",
        help="""Label INPUTS (image files, globs, folders, or - for paths on stdin).

    \b
    Examples:
      dlkit classify photo.jpg
      dlkit classify holiday/ --top-k 3
      find . -name '*.png' | dlkit classify - > labels.jsonl
      dlkit classify --model pets.keras cat.jpg
      dlkit classify holiday/ --saliency heatmaps/     # where the network looked, one PNG each
      dlkit classify photos/ --engine ray --address head:6379 --workers 16 > labels.jsonl
    """),),
    evaluate=Evaluate(
        command="evaluate-classifier",
        summary="Accuracy, per-class precision/recall and confusion matrix of a classifier.",
        function="dlkit.tasks.classifier.run:evaluate",
        data=Argument("data_dir", exists="dir"),
        options=(Fields(EvaluateConfig),),
        model="required",
        model_help="A .keras classifier trained with dlkit train-classifier.",
        help="""Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix
    (also drawn to a PNG) of a classifier on DATA_DIR (class folders). With --labels: each
    head's scores (accuracy; micro and macro F1 and exact match for a multi-label head).

    \b
    Examples:
      dlkit evaluate-classifier val/ --model pets.keras
      dlkit evaluate-classifier photos/ --labels test.csv --model tags.keras
    """),
    commands={"import-mnist": ("dlkit.tasks.classifier.cli", "Write MNIST idx files as PNG class folders for "
                               "train-classifier.")},
)

__getattr__ = lazy_exports(__name__, {
    "load": "predict", "Classifier": "predict", "HeadsClassifier": "predict", "classify": "classify",
    "train": "run", "evaluate": "run",
    "import_mnist": "mnist",
})
