"""CNN (or Sobel) features of images and linear/RBF SVMs trained on them.

    from dlkit.tasks import svm
    run = svm.train("pets/train", "pets-svm", svm.SVMConfig(kernel="rbf"), test="pets/validation")
    predictor = svm.load("pets-svm")                 # a Predictor: {"label", "scores"}
    features = svm.FeatureExtractor(svm.FeaturesConfig()).extract_dataset("pets/train")

Modules: config (settings, no TensorFlow), predict (features, the SVM's files, the
predictors, on ONNX twins: no TensorFlow), twin (the feature networks and their twins),
model (fitting the SVM, evaluate), cli (extract-features).
"""

from dlkit.core.task import Argument, Evaluate, Fields, Predict, Task, Train, lazy_exports
from dlkit.tasks.svm.config import Config, FeaturesConfig, PredictConfig, SVMConfig, TrainData

TASK = Task(
    name="svm",
    summary="CNN features of images and SVMs on them.",
    config=SVMConfig,
    train=Train(
        command="train-svm",
        summary="Train a linear or RBF SVM on CNN (or Sobel) features.",
        function="dlkit.tasks.svm.model:train",
        output="Folder to write the SVM model to.",
        options=(Fields(TrainData), Fields(FeaturesConfig, keyword="features")),
        patience=None,
        keras=False,
        help="""Train an SVM on CNN features of DATA and save it to a folder.

    DATA: a folder with one sub-folder of images per class, or a features file from
    extract-features. C is chosen by cross-validation, then the SVM is fitted on all of
    DATA; prints the cross-validated accuracy, and the accuracy on --test if given.

    \b
    Examples:
      dlkit train-svm pets/train --test pets/validation -o pets-svm
      dlkit train-svm train.npz -o pets-svm --kernel rbf
      dlkit train-svm pets/train --backbone sobel -o sobel-svm
    """),
    predict=(
        Predict(
            command="predict-svm",
            summary="Label images with a trained SVM.",
            load="dlkit.tasks.svm.predict:load",
            options=(Fields(PredictConfig),),
            columns={"input": None, "label": None, "scores": None},
            model="required",
            model_help="Folder written by train-svm.",
            serve="Labels of photos from a trained SVM.",
            help="""Label INPUTS (image files, globs, folders, - for stdin) with a trained SVM.

    \b
    Examples:
      dlkit predict-svm --model pets-svm holiday/*.jpg
      dlkit predict-svm --model pets-svm photos/ --engine ray --workers 4 > labels.jsonl
    """),
        # extract-features writes a features file (svm.cli); served, it answers vectors.
        Predict(
            command="extract-features",
            summary="Save CNN feature vectors of images (for SVMs and more).",
            load="dlkit.tasks.svm.predict:extractor",
            options=(Fields(FeaturesConfig, exclude=("model",)),),
            model_help="A .keras model from RGB pixels to vectors [default: the ImageNet backbone].",
            serve="CNN feature vectors of photos.",
            help="",
            cli=False,
        ),
    ),
    evaluate=Evaluate(
        command="evaluate-svm",
        summary="Accuracy, per-class scores and confusion matrix of a trained SVM.",
        function="dlkit.tasks.svm.model:evaluate",
        data=Argument("data", exists="dir"),
        model="required",
        model_help="Folder written by train-svm.",
        help="""Accuracy, per-class precision/recall/F1 and the confusion matrix of an SVM on
    DATA, a folder with one sub-folder of images per class named like the SVM's classes.

    \b
    Example:
      dlkit evaluate-svm pets/validation --model pets-svm
    """),
    commands={"extract-features": ("dlkit.tasks.svm.cli", "Save CNN feature vectors of images (for SVMs and "
                                   "more).")},
)

__getattr__ = lazy_exports(__name__, {
    "Features": "predict", "FeatureExtractor": "predict", "SVMModel": "predict", "SVMPredictor": "predict",
    "load": "predict", "extractor": "predict", "extract_files": "predict",
    "fit": "model", "train": "model", "evaluate": "model",
})
