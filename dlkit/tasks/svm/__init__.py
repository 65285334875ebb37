"""CNN (or Sobel) features of images and linear/RBF SVMs trained on them.

    from dlkit.tasks import svm
    run = svm.train("pets/train", "pets-svm", svm.SVMConfig(kernel="rbf"), test="pets/validation")
    predictor = svm.load("pets-svm")                 # a Predictor: {"label", "scores"}
    features = svm.FeatureExtractor(svm.FeaturesConfig()).extract_dataset("pets/train")

Modules: config (settings, no TensorFlow), model (features, the SVM, its predictor), cli.
"""

from dlkit.core.task import lazy_exports

# command: summary shown by `dlkit --help`; the commands live in .cli
COMMANDS = {
    "extract-features": "Save CNN feature vectors of images (for SVMs and more).",
    "train-svm": "Train a linear or RBF SVM on CNN (or Sobel) features.",
    "predict-svm": "Label images with a trained SVM.",
}

__getattr__ = lazy_exports(__name__, {
    "FeaturesConfig": "config", "SVMConfig": "config",
    "Features": "model", "FeatureExtractor": "model", "SVMModel": "model", "SVMPredictor": "model",
    "Config": "config", "fit": "model", "train": "model", "load": "model", "evaluate": "model",
})
