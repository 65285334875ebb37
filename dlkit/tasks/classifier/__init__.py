"""Image classification: ImageNet CNNs, and classifiers trained on class folders.

    from dlkit.tasks import classifier
    predictor = classifier.load()                    # the ImageNet backbone (ClassifyConfig)
    predictor = classifier.load("pets.keras")        # a model trained by train()
    run = classifier.train("pets/", "pets.keras", classifier.TrainClassifierConfig(epochs=5))
    metrics = classifier.evaluate("pets-val/", "pets.keras")

Modules: config (settings, no TensorFlow), classify (load, the Classifier predictor),
networks (the CNNs), training (train, evaluate), multitask (multi-label and multi-task
heads from a labels CSV), layers (LabelHead), mnist (import_mnist), cli.
"""

from dlkit.core.task import lazy_exports

# command: summary shown by `dlkit --help`; the commands live in .cli
COMMANDS = {
    "classify": "Label photos with an ImageNet CNN or your own model.",
    "train-classifier": "Train an image classifier on class folders (transfer learning, LeNet-5, VGG, ...).",
    "evaluate-classifier": "Accuracy, per-class precision/recall and confusion matrix of a classifier.",
    "import-mnist": "Write MNIST idx files as PNG class folders for train-classifier.",
}

__getattr__ = lazy_exports(__name__, {
    "Config": "config", "ClassifyConfig": "config", "TrainClassifierConfig": "config",
    "load": "classify", "Classifier": "classify",
    "train": "training", "evaluate": "training",
    "import_mnist": "mnist",
})
