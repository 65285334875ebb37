"""CNN features + SVM: an ImageNet network as a generic feature extractor, a linear
(or RBF) SVM on top, and the shallow Sobel-edge baseline to compare with. Training and
scoring here; the predictors, the features and the SVM's files in .predict.

    from dlkit.tasks import svm
    run = svm.train("pets/train", "pets-svm", test="pets/validation")
    for record in svm.load("pets-svm").predict(["cat.jpg"]):
        print(record)      # {"input", "label", "scores"}, or {"input", "error"}
"""

import os
import shutil
from dataclasses import replace

import numpy as np

from dlkit.core import files, metrics
from dlkit.core.config import validate
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events, warn_all
from dlkit.core.task import Run
from dlkit.core.training_config import TrainConfig
from dlkit.tasks.svm.config import FeaturesConfig, SVMConfig
from dlkit.tasks.svm.predict import Features, FeatureExtractor, SVMModel, SVMPredictor, extraction, load, source_of
from dlkit.vision.folders import class_folders, split_layout


# ---- Training: the SVM -----------------------------------------------------------------

def _svm(config: SVMConfig, C: float):
    """A scaler and the SVM: LinearSVC's dual solver (it scales with the images, not
    the 1,000+ feature dimensions), or an RBF SVC."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    if config.kernel == "linear":
        svm = LinearSVC(C=C, dual=True, max_iter=config.max_iter, random_state=config.seed)
    else:
        svm = SVC(C=C, kernel="rbf", gamma="scale")
    return make_pipeline(StandardScaler(), svm)


def _squared_hinge_ovr(x: np.ndarray, y: np.ndarray, C: float, tol: float,
                       start: np.ndarray | None = None) -> np.ndarray:
    """LinearSVC's problem (squared hinge, L2, one-vs-rest, the intercept a regularized
    constant feature as in liblinear) for every class at once: W of shape (features+1,
    columns) minimizing 0.5 |W|^2 + C sum max(0, 1 - Y * [x 1] W)^2, with Y +1 for the
    class of a column and -1 elsewhere (one column for two classes). The objective is
    smooth, so L-BFGS solves it, and each step is two matrix products over all classes:
    on 100 classes x 20 images it took 1-6 s where liblinear, one class at a time,
    took 11-22 s, for the same weights to within 1% and the same accuracy. `start`:
    the weights at a neighbouring C (a warm start)."""
    from scipy.optimize import minimize

    xb = np.hstack([x, np.ones((len(x), 1))]).astype(np.float32)
    columns = 1 if y.max() == 1 else int(y.max()) + 1
    signs = -np.ones((len(x), columns), np.float32)
    if columns == 1:
        signs[y == 1, 0] = 1
    else:
        signs[np.arange(len(x)), y] = 1

    def objective(w):
        weights = w.reshape(xb.shape[1], columns).astype(np.float32)
        slack = np.maximum(0, 1 - signs * (xb @ weights))
        value = 0.5 * float((weights * weights).sum()) + C * float((slack * slack).sum())
        gradient = weights - 2 * C * (xb.T @ (signs * slack))
        return value, gradient.ravel().astype(np.float64)

    w0 = np.zeros(xb.shape[1] * columns) if start is None else start.ravel()
    result = minimize(objective, w0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "ftol": tol, "gtol": 0})
    return result.x.reshape(xb.shape[1], columns)


def _predict_ovr(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    scores = np.hstack([x, np.ones((len(x), 1))]) @ weights
    return (scores[:, 0] > 0).astype(int) if weights.shape[1] == 1 else scores.argmax(axis=1)


def search(x: np.ndarray, y: np.ndarray, config: SVMConfig, events: Events = SILENT) -> tuple[float, float, dict]:
    """(best C, its cross-validated accuracy, {C: accuracy}). The grid is walked from
    the smallest C up, and the walk stops at the first C that scores below the best:
    accuracy rises then falls with C, and every step up costs more than the last (a
    larger C converges more slowly). Ties keep the smaller C. For the linear SVM each
    fold's weights at one C start the next (_squared_hinge_ovr); an RBF SVM is
    cross-validated by scikit-learn, folds in parallel."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.preprocessing import StandardScaler

    smallest = int(min(np.unique(y, return_counts=True)[1]))
    folds = StratifiedKFold(n_splits=max(2, min(config.folds, smallest)), shuffle=True, random_state=config.seed)
    splits = list(folds.split(x, y))
    labels = np.unique(y, return_inverse=True)[1]
    scaled, weights = [], [None] * len(splits)
    if config.kernel == "linear":
        for train, held_out in splits:
            scaler = StandardScaler().fit(x[train])
            scaled.append((scaler.transform(x[train]), scaler.transform(x[held_out])))
    scores: dict[float, float] = {}
    best = None
    for C in config.grid():
        if config.kernel == "linear":
            accuracies = []
            for i, ((train, held_out), (x_train, x_held_out)) in enumerate(zip(splits, scaled)):
                weights[i] = _squared_hinge_ovr(x_train, labels[train], C, config.search_tol, weights[i])
                accuracies.append(float((_predict_ovr(weights[i], x_held_out) == labels[held_out]).mean()))
            score = float(np.mean(accuracies))
        else:
            score = float(np.mean(cross_val_score(_svm(config, C), x, y, cv=splits,
                                                  n_jobs=min(len(splits), os.cpu_count() or 1))))
        scores[C] = score
        events.message(f"C = {C:g}: cross-validated accuracy {score:.4f}")
        if best is not None and score < scores[best]:
            break
        best = C if best is None or score > scores[best] else best
    return best, scores[best], scores


def fit(train: Features, config: SVMConfig | None = None, test: Features | None = None,
        events: Events = SILENT) -> SVMModel:
    """Standardize, pick C by stratified cross-validation (search), then fit the final
    model on all of `train`. Reports the cross-validated accuracy, and the accuracy and
    macro-F1 on `test` when one is given."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    config = validate(config or SVMConfig())
    if train.labels is None:
        raise DlkitError("training features have no labels (extract them from a folder-per-class dataset)")
    if test is not None and test.labels is None:
        raise DlkitError("test features have no labels (extract them from a folder-per-class dataset)")
    if test is not None and source_of(test.meta) != source_of(train.meta):
        raise DlkitError(f"test features come from {source_of(test.meta)}, the training features from "
                         f"{source_of(train.meta)}")
    x, y = train.features, np.array(train.labels)
    best_c, cv_accuracy, scores = search(x, y, config, events)
    events.message(f"C = {best_c:g} (cross-validated accuracy {cv_accuracy:.4f}); fitting on all "
                   f"{len(y)} images")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fitted = _svm(config, best_c).fit(x, y)
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        events.warning(f"the SVM did not converge in {config.max_iter} iterations at C = {best_c:g}")
    classes = [str(c) for c in fitted.classes_]
    summary = {"cv_accuracy": round(cv_accuracy, 4), "C": best_c,
               "cv_accuracy_by_C": {f"{c:g}": round(v, 4) for c, v in scores.items()},
               "train_images": int(len(y))}
    if test is not None:  # scored as evaluate scores a folder
        tested = metrics.classification(test.labels, fitted.predict(test.features), classes)
        summary.update(test_accuracy=tested["accuracy"], test_macro_f1=tested["macro_f1"],
                       test_images=tested["examples"])
    return SVMModel(fitted, classes, train.meta, summary)


def train(data: "str | Features", output: str, config: SVMConfig | None = None,
          training: TrainConfig | None = None, events: Events = SILENT, *, test: "str | Features | None" = None,
          features: FeaturesConfig | None = None) -> Run:
    """Fits an SVM on `data` (a folder of class folders, a features file from
    extract-features, or Features) and writes the model folder `output`; `test` (the
    same kinds) is held out for the test accuracy. A split folder (train/ plus
    validation/, val/ or test/) trains on train/ and tests on the other. `features`: how
    images are turned into features (a features file says it itself), on the feature
    network's ONNX twin as predict-svm computes them; the test set's follow the training
    set's, and the twin is kept in `output` (see predict.SVMModel.save). Of `training`:
    the seed (of the cross-validation folds) and the checkpoint folder: the features
    extracted from image folders are kept in `training.workdir` (default OUTPUT.ckpt)
    until the SVM is saved, and `training.resume` reads them back instead of
    extracting them again. The Run's summary is the record `dlkit train-svm` prints."""
    files.check_output(output, folder=True, what="SVM model")
    config = validate(config or SVMConfig())
    training = training or TrainConfig()
    if training.seed is not None:
        config = replace(config, seed=training.seed)
    workdir = training.workdir or output.rstrip(os.sep) + ".ckpt"
    resume = training.resume or training.workdir is not None
    features = features or FeaturesConfig()
    layout = split_layout(data) if isinstance(data, str) else None
    if layout:
        data, held_out = layout[0], test if test is not None else layout[1]
        events.message(f"{os.path.dirname(data)} is split: training on {data}, testing on {held_out}")
        test = held_out
    train_set = _checkpointed(data, features, events, os.path.join(workdir, "train.npz"), resume)
    test_set = _checkpointed(test, extraction(train_set.meta, features.batch_size), events,
                             os.path.join(workdir, "test.npz"), resume) if test is not None else None
    events.message(f"training a {config.kernel} SVM on {len(train_set.paths)} images, "
                   f"{train_set.features.shape[1]} features")
    model = fit(train_set, config, test_set, events)
    model.save(output, FeatureExtractor(extraction(train_set.meta)).twin)
    made_by = {"features_model": train_set.meta["model"]} if train_set.meta.get("model") else \
        {"backbone": train_set.meta["backbone"]}
    summary = {"model": output, **made_by, "kernel": config.kernel, **model.metrics}
    shutil.rmtree(workdir, ignore_errors=True)
    return Run(output, summary=summary)


def _checkpointed(source: "str | Features", config: FeaturesConfig, events: Events, path: str,
                  resume: bool) -> Features:
    """_features(source), read back from the checkpoint `path` when resuming; features
    extracted from an image folder are written there (extraction is the long part)."""
    if resume and os.path.exists(path):
        events.message(f"resuming: features from {path}")
        return Features.load(path)
    if resume and isinstance(source, str) and os.path.isdir(source):
        events.warning(f"--resume: no checkpoint at {path}; extracting the features from the beginning")
    found = _features(source, config, events)
    if isinstance(source, str) and os.path.isdir(source):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        found.save(path)
    return found


def _features(source: "str | Features", config: FeaturesConfig, events: Events) -> Features:
    if isinstance(source, Features):
        return source
    if os.path.isfile(source):
        return Features.load(source)
    if not os.path.exists(source):
        raise DlkitError(f"no such file or folder: {source}")
    found = FeatureExtractor(config).extract_dataset(
        source, events, f"features of {os.path.basename(source.rstrip('/'))}")
    warn_all(events, [f"{path}: {error}; skipped" for path, error in found.skipped.items()])
    return found


# ---- Scoring ---------------------------------------------------------------------------

def evaluate(data: str, model: "str | SVMPredictor | None" = None, events: Events = SILENT) -> dict:
    """An SVM's scores on a folder of class folders named like its classes:
    dlkit.core.metrics.classification's record (examples, accuracy, macro_f1, per_class,
    confusion_matrix with rows the true class, labels: the SVM's classes) with "data"
    and "skipped": the unusable images, left out."""
    predictor = model if isinstance(model, SVMPredictor) else load(model)
    classes = predictor.svm.classes
    by_class = class_folders(data, events)
    unknown = sorted(set(by_class) - set(classes))
    if unknown:
        raise DlkitError(f"{data}: class folder(s) {', '.join(unknown)} unknown to the SVM "
                         f"(it knows {', '.join(classes)})")
    paths = [p for c in by_class for p in by_class[c]]
    truth = [c for c in by_class for _ in by_class[c]]
    kept_truth, predicted, skipped = [], [], []
    with events.progress(len(paths), "evaluating") as advance:
        for label, record in zip(truth, predictor.predict(paths)):
            advance()
            if "error" in record:
                skipped.append(f"{record['input']}: {record['error']}; skipped")
                continue
            kept_truth.append(label)
            predicted.append(record["label"])
    warn_all(events, skipped)
    if not predicted:
        raise DlkitError(f"{data}: no usable images to evaluate on")
    return {"data": data, **metrics.classification(kept_truth, predicted, classes), "skipped": len(skipped)}

