"""`dlkit train-classifier`, `evaluate-classifier` and `import-mnist` on real data in ../shared:
a slice of cats_and_dogs (MobileNetV2 transfer learning) and of MNIST (LeNet-5)."""

import json
import os

import numpy as np
import pytest

from conftest import class_slice, interrupt_at
from PIL import Image


def test_import_mnist_writes_class_folders(mnist):
    counts = {d: len(os.listdir(mnist / "train" / d)) for d in sorted(os.listdir(mnist / "train"))}
    assert list(counts) == [str(d) for d in range(10)] and sum(counts.values()) == 8000
    assert min(counts.values()) > 600  # every digit is well represented
    image = Image.open(mnist / "test" / "7" / sorted(os.listdir(mnist / "test" / "7"))[0])
    assert image.size == (28, 28) and image.mode == "L"


@pytest.mark.slow
def test_transfer_learning_beats_chance_and_classifies(cli_run, data, tmp_path):
    cats_dogs = data / "cats_and_dogs"
    train = class_slice(cats_dogs / "train", tmp_path / "train", 40)
    val = class_slice(cats_dogs / "validation", tmp_path / "val", 20)
    model = tmp_path / "pets.keras"
    result, records, stderr = cli_run([
        "train-classifier", train, "--val-dir", val, "-o", model, "--epochs", "3", "--fine-tune-epochs", "1",
        "--lr", "0.003", "--seed", "1", "--json"])
    assert result.exit_code == 0, stderr
    summary = records[-1]
    assert summary["classes"] == ["cats", "dogs"] and summary["epochs"] == 4
    assert summary["train_images"] == 80 and summary["val_images"] == 40
    assert summary["final_val_accuracy"] >= 0.8  # chance is 0.5
    assert "fine-tuning the top" in stderr
    assert os.path.getsize(tmp_path / "pets.curves.png") > 1000
    assert not os.path.exists(str(model) + ".ckpt")  # checkpoints dropped once the model is saved
    # a head started from a probe of sane temperature: training has a loss to learn from (issue 33: "0.0");
    # 40 validation images are too few to fit a temperature on
    assert summary["loss"] > 1e-4 and "temperature" not in summary

    # the model file carries its labels and preprocessing: dlkit classify just works
    photos = [val / "cats" / f for f in sorted(os.listdir(val / "cats"))[:5]]
    photos += [val / "dogs" / f for f in sorted(os.listdir(val / "dogs"))[:5]]
    result, records, _ = cli_run(["classify", "--model", model, *photos, "--json"])
    assert result.exit_code == 0
    assert [r["label"] for r in records].count("cats") >= 3
    assert all(0 < r["score"] < 1 for r in records)  # calibrated: no score pinned at 1
    correct = sum(r["label"] == os.path.basename(os.path.dirname(r["input"])) for r in records)
    assert correct >= 8

    result, records, _ = cli_run(["evaluate-classifier", val, "--model", model, "--json"])
    assert result.exit_code == 0
    (metrics,) = records  # dlkit.core.metrics.classification's record, as one
    assert metrics["labels"] == ["cats", "dogs"] and metrics["examples"] == 40
    assert {name: scores["support"] for name, scores in metrics["per_class"].items()} == {"cats": 20, "dogs": 20}
    assert np.array(metrics["confusion_matrix"]).sum(axis=1).tolist() == [20, 20]  # rows: the true class
    assert metrics["accuracy"] == pytest.approx(summary["final_val_accuracy"], abs=1e-6)
    assert metrics["confusion_plot"] == str(tmp_path / "pets.confusion.png")
    assert os.path.getsize(metrics["confusion_plot"]) > 1000


@pytest.mark.slow
def test_a_frozen_backbone_head_trains_on_cached_features_from_a_linear_probe(cli_run, data, tmp_path):
    """Few-shot transfer: 10 photos a class, one epoch. The head trains on features
    computed once (each photo and augmented views of it), not on the backbone per
    epoch, and starts from a linear probe, so even one epoch gives a useful model."""
    from dlkit.core.runtime import keras
    from dlkit.core.training import TrainConfig
    from dlkit.tasks.classifier import TrainClassifierConfig, train
    from dlkit.tasks.classifier.training import PROBE_C

    class Inputs(keras.callbacks.Callback):
        shapes = []

        def on_train_begin(self, logs=None):
            self.shapes.append(tuple(self.model.input_shape))

    cats_dogs = data / "cats_and_dogs"
    photos = class_slice(cats_dogs / "train", tmp_path / "train", 10)
    val = class_slice(cats_dogs / "validation", tmp_path / "val", 10)
    model = tmp_path / "few.keras"
    run = train(str(photos), str(model), TrainClassifierConfig(val_dir=str(val), epochs=1),
                TrainConfig(seed=1), callbacks=[Inputs()])
    assert Inputs.shapes == [(None, 1280)]  # pooled MobileNetV2 features, not pixels
    summary = run.summary
    assert summary["feature_views"] == 5  # 20 photos: each plus 4 augmented views
    assert summary["probe_C"] in PROBE_C and summary["probe_chosen_by"] == "5-fold cross-validation"
    assert summary["probe_val_accuracy"] >= 0.8
    assert summary["epochs"] == 1 and summary["final_val_accuracy"] >= 0.8  # chance is 0.5

    # the head's weights are in the saved model: it labels photos by itself
    result, records, _ = cli_run(["evaluate-classifier", val, "--model", model, "--json"])
    assert result.exit_code == 0
    assert records[-1]["accuracy"] == pytest.approx(summary["final_val_accuracy"], abs=1e-6)

    result, records, stderr = cli_run(["train-classifier", photos, "--val-dir", val, "--no-augment", "--epochs", "1",
                                       "-o", tmp_path / "plain.keras", "--json"])
    assert result.exit_code == 0, stderr
    assert "linear probe C = " in stderr and "x 1 views" in stderr and records[-1]["feature_views"] == 1


@pytest.mark.slow
def test_few_photos_all_train_and_cross_validation_picks_the_head(cli_run, data, tmp_path):
    """10 photos a class and no validation folder: a 20% split would leave 2 photos a
    class to validate on and 8 to learn from. Every photo trains instead, and the head is
    the linear probe whose C 5-fold cross-validation over them chose (issue 20)."""
    cats_dogs = data / "cats_and_dogs"
    photos = class_slice(cats_dogs / "train", tmp_path / "train", 10)
    val = class_slice(cats_dogs / "validation", tmp_path / "val", 10)
    model = tmp_path / "few.keras"
    result, records, stderr = cli_run(["train-classifier", photos, "-o", model, "--epochs", "3", "--seed", "1",
                                       "--json"])
    assert result.exit_code == 0, stderr
    summary = records[-1]
    assert summary["train_images"] == 20 and summary["val_images"] == 0 and summary["head"] == "linear probe"
    assert summary["probe_chosen_by"] == "5-fold cross-validation" and summary["cv_accuracy"] >= 0.8
    assert "every image trains" in stderr and summary["curves"] is None
    assert not (tmp_path / "few.curves.png").exists()
    result, records, _ = cli_run(["evaluate-classifier", val, "--model", model, "--json"])
    assert result.exit_code == 0 and records[-1]["accuracy"] >= 0.85  # 20 unseen photos; chance is 0.5

    # one photo in a class: nothing to cross-validate, the default C, still a model
    one = class_slice(cats_dogs / "train", tmp_path / "one", 1)
    result, records, stderr = cli_run(["train-classifier", one, "-o", tmp_path / "one.keras", "--json"])
    assert result.exit_code == 0, stderr
    assert records[-1]["probe_chosen_by"].startswith("default") and records[-1]["probe_score"] is None


@pytest.mark.slow
def test_lenet5_learns_mnist_and_classifies_digits(cli_run, mnist, tmp_path):
    train = class_slice(mnist / "train", tmp_path / "train", 150)
    model = tmp_path / "lenet.keras"
    result, records, stderr = cli_run([
        "train-classifier", train, "--val-dir", mnist / "test", "--arch", "lenet5", "--no-augment",
        "--epochs", "4", "--optimizer", "sgd", "--lr", "0.05", "--lr-schedule", "step", "--l2", "1e-4",
        "-o", model, "--seed", "1", "--json"])
    assert result.exit_code == 0, stderr
    summary = records[-1]
    assert "28px grey, lenet5" in stderr
    assert summary["train_images"] == 1500 and summary["val_images"] == 2000
    assert summary["final_val_accuracy"] > 0.7  # chance is 0.1

    from dlkit.core import layers, modelio

    loaded = modelio.load_model(str(model))
    assert loaded.input_shape == (None, 28, 28, 3)  # RGB in: greyed inside the model
    assert layers.class_names(loaded) == [str(d) for d in range(10)]
    threes = sorted((mnist / "test" / "3").iterdir())[:10]
    result, records, _ = cli_run(["classify", "--model", model, *threes, "--json"])
    assert sum(r["label"] == "3" for r in records) >= 6


@pytest.mark.slow
def test_a_split_layout_trains_on_train_and_validates_on_the_held_out_split(cli_run, mnist, tmp_path):
    """import-mnist writes digits/{train,test}/0..9; train-classifier digits/ used to train
    a 2-class "train vs test" model. Now it trains on train/ and validates on test/."""
    layout = tmp_path / "digits"
    class_slice(mnist / "train", layout / "train", 30)
    class_slice(mnist / "test", layout / "test", 10)
    model = tmp_path / "lenet.keras"
    result, records, stderr = cli_run(["train-classifier", layout, "--arch", "lenet5", "--no-augment",
                                       "--epochs", "2", "-o", model, "--seed", "1", "--json"])
    assert result.exit_code == 0, stderr
    assert f"training on {layout / 'train'}, validating on {layout / 'test'}" in stderr
    summary = records[-1]
    assert summary["classes"] == [str(d) for d in range(10)]
    assert summary["train_images"] == 300 and summary["val_images"] == 100

    # validation/ is preferred to test/, which stays untouched
    class_slice(mnist / "test", layout / "validation", 10, skip=10)
    result, records, stderr = cli_run(["train-classifier", layout, "--arch", "lenet5", "--no-augment",
                                       "--epochs", "1", "-o", tmp_path / "v.keras", "--json"])
    assert result.exit_code == 0 and f"validating on {layout / 'validation'}" in stderr

    # splits with different classes, and commands reading one set of class folders,
    # are refused with the folder to pass
    os.makedirs(layout / "validation" / "extra" / "x")
    result, _, stderr = cli_run(["train-classifier", layout, "--arch", "lenet5", "-o", tmp_path / "x.keras"])
    assert result.exit_code == 1 and f"pass {layout / 'train'} as the data" in stderr
    result, _, stderr = cli_run(["evaluate-classifier", layout, "--model", model])
    assert result.exit_code == 1 and f"pass {layout / 'train'} or {layout / 'validation'}" in stderr


@pytest.mark.slow
def test_resumed_run_continues_from_its_checkpoint(cli_run, mnist, tmp_path):
    from dlkit.core.training import TrainConfig
    from dlkit.tasks.classifier import TrainClassifierConfig, train

    data = class_slice(mnist / "train", tmp_path / "train", 30)
    model = tmp_path / "lenet.keras"
    config = TrainClassifierConfig(arch="lenet5", augment=False, epochs=4, val_split=0.2)
    with pytest.raises(KeyboardInterrupt):
        train(str(data), str(model), config, TrainConfig(seed=1, patience=None), callbacks=[interrupt_at(2)])
    with open(tmp_path / "lenet.keras.ckpt" / "history.json") as f:
        before = json.load(f)["history"]
    assert len(before["loss"]) == 2 and not model.exists()

    result, records, stderr = cli_run(["train-classifier", data, "--arch", "lenet5", "--no-augment",
                                       "--epochs", "4", "--patience", "10", "-o", model, "--seed", "1",
                                       "--resume", "--json"])
    assert result.exit_code == 0, stderr
    assert "resuming from" in stderr and "(epoch 2)" in stderr
    assert "epoch 1/4" not in stderr and "epoch 3/4" in stderr  # only the missing epochs ran
    assert records[-1]["epochs"] == 4
    assert model.exists() and not (tmp_path / "lenet.keras.ckpt").exists()


@pytest.mark.slow
def test_resume_during_fine_tuning_keeps_the_trained_head(mnist, tmp_path):
    """An interruption while fine-tuning resumes there: the head phase is not redone."""
    from dlkit.core.runtime import keras
    from dlkit.core.training import TrainConfig
    from dlkit.tasks.classifier import TrainClassifierConfig, train

    class Interrupt(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.phase = 0

        def on_train_begin(self, logs=None):
            self.phase += 1

        def on_epoch_begin(self, epoch, logs=None):
            if self.phase == 2 and epoch == 1:
                raise KeyboardInterrupt

    data = class_slice(mnist / "train", tmp_path / "train", 10)
    model = str(tmp_path / "tiny.keras")
    # Random weights at 32 px: exercises the backbone code path cheaply.
    config = TrainClassifierConfig(arch="mobilenet_v2", image_size=32, weights=None, epochs=2,
                                   fine_tune_epochs=2, augment=False)
    with pytest.raises(KeyboardInterrupt):
        train(str(data), model, config, TrainConfig(seed=1, patience=None), callbacks=[Interrupt()])
    counter = Interrupt()
    run = train(str(data), model, config, TrainConfig(seed=1, patience=None, resume=True), callbacks=[counter])
    assert counter.phase == 1  # only the fine-tuning phase ran again
    assert run.summary["epochs"] == 4 and run.model == model and os.path.exists(model)
    assert len(run.history["loss"]) == 4


def test_fine_tuning_keeps_batch_norm_in_inference_mode():
    """fit() calls the model with training=True; unfrozen batch norm would then use batch
    statistics and wreck the pretrained features (accuracy fell to chance)."""
    from dlkit.tasks.classifier import TrainClassifierConfig
    from dlkit.tasks.classifier.networks import backbone_of, build_model, unfreeze_top

    model = build_model(TrainClassifierConfig(weights=None), ["a", "b"], 32)
    assert unfreeze_top(model, 0.35) > 10
    base = backbone_of(model)
    assert any(layer.trainable for layer in base.layers[-20:]) and not base.layers[5].trainable
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32") / 127.5 - 1
    np.testing.assert_allclose(base(pixels, training=True), base(pixels, training=False), atol=1e-5)


@pytest.mark.slow
def test_classic_architectures_train_on_mnist(mnist, tmp_path):
    from dlkit.core import modelio
    from dlkit.core.runtime import keras
    from dlkit.tasks.classifier import TrainClassifierConfig, train

    data = class_slice(mnist / "train", tmp_path / "train", 50)
    for arch, depth in [("alexnet", None), ("vgg", 13), ("resnet", 18)]:
        config = TrainClassifierConfig(arch=arch, depth=depth, width=0.25, epochs=3, batch_size=16, augment=False,
                                       dropout=0.1, l2=1e-4, image_size=28)
        out = str(tmp_path / f"{arch}.keras")
        record = train(str(data), out, config).summary
        assert record["epochs"] == 3 and record["final_val_accuracy"] >= 0.3, (arch, record)  # chance: 0.1
        model = modelio.load_model(out)
        kinds = {type(layer).__name__ for layer in model.layers}
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and layer.name != "grey"]
        if arch == "vgg":
            assert len(convs) == 10  # VGG-13: 2+2+2+2+2 convs
        if arch == "resnet":
            assert "Add" in kinds and "BatchNormalization" in kinds  # skip connections
        if arch == "alexnet":
            assert len(convs) == 5 and "Dropout" in kinds


def test_caffe_preprocessing_matches_keras(tmp_path):
    """ResNet50/VGG models take raw RGB: their BGR mean-subtraction is a frozen layer."""
    from dlkit.core import layers, modelio
    from dlkit.core.runtime import keras
    from dlkit.tasks.classifier import TrainClassifierConfig
    from dlkit.tasks.classifier.networks import build_model, preprocessing

    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    (layer,) = preprocessing("resnet50", grey=False)
    ours = keras.Sequential([keras.Input((8, 8, 3)), layer])(pixels)
    np.testing.assert_allclose(ours, keras.applications.resnet50.preprocess_input(pixels.copy()), atol=1e-3)

    model = build_model(TrainClassifierConfig(arch="resnet50", weights=None), ["a", "b", "c"], 64)
    path = str(tmp_path / "r.keras")
    modelio.save_model(model, path)
    loaded = modelio.load_model(path)  # safe mode: no custom code needed
    assert loaded.output_shape == (None, 3) and layers.class_names(loaded) == ["a", "b", "c"]
    np.testing.assert_allclose(loaded(pixels.repeat(8, 1).repeat(8, 2)), model(pixels.repeat(8, 1).repeat(8, 2)),
                               atol=1e-5)


@pytest.mark.slow
def test_bad_datasets_give_clear_messages(cli_run, mnist, tmp_path):
    data = class_slice(mnist / "train", tmp_path / "data", 12)
    corrupt = data / "3" / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    args = ["train-classifier", data, "--arch", "lenet5", "--no-augment", "--epochs", "1", "-o",
            tmp_path / "m.keras", "--json"]
    result, records, stderr = cli_run(args)
    assert result.exit_code == 0, stderr
    assert f"{corrupt}:" in stderr and "skipped" in stderr
    assert records[-1]["train_images"] + records[-1]["val_images"] == 120

    os.makedirs(data / "empty")  # skipped with a warning: the classes with images train
    result, records, stderr = cli_run(args)
    assert result.exit_code == 0 and "Traceback" not in stderr
    assert f"{data / 'empty'}: class folder holds no images; skipped" in stderr
    assert records[-1]["train_images"] + records[-1]["val_images"] == 120

    flat = tmp_path / "flat"
    os.makedirs(flat)
    result, _, stderr = cli_run(["train-classifier", flat, "-o", tmp_path / "m.keras"])
    assert result.exit_code == 1 and "at least 2 sub-folders" in stderr

    result, _, stderr = cli_run(["evaluate-classifier", data, "--model", tmp_path / "missing.keras"])
    assert result.exit_code == 1 and "model not found" in stderr

    truncated = tmp_path / "mnist"
    os.makedirs(truncated)
    import gzip
    from conftest import DATA

    for name in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]:
        raw = gzip.open(DATA / "mnist" / name).read()
        with gzip.open(truncated / name, "wb") as f:
            f.write(raw[: len(raw) // 2] if "images" in name else raw)
    result, _, stderr = cli_run(["import-mnist", truncated, tmp_path / "out"])
    assert result.exit_code == 1 and "truncated idx file" in stderr
    assert not (tmp_path / "out").exists()


def test_a_wrong_output_is_refused_before_training(cli_run, tmp_path):
    """-o m.h5 used to train every epoch, then refuse the suffix; now nothing is read or
    trained (the data folder is not even a data set) and no checkpoint is left."""
    result, _, stderr = cli_run(["train-classifier", tmp_path, "-o", tmp_path / "m.h5", "--epochs", "1"])
    assert result.exit_code == 1 and "m.h5: the model must end in .keras" in stderr
    assert "epoch" not in stderr and os.listdir(tmp_path) == []
    result, _, stderr = cli_run(["train-classifier", tmp_path, "-o", "/proc/m.keras"])
    assert result.exit_code == 1 and "cannot write the model there" in stderr and "Traceback" not in stderr


def _digit_labels(mnist, target, per_class, skip=0):
    """A labels CSV for MNIST digits with two columns: `digit` (one of ten) and
    `properties`, several of even / large (5-9) / round (0, 6, 8, 9) per digit, none for
    1, 3 and 7 (an empty cell)."""
    import csv

    rows = []
    for digit in range(10):
        folder = mnist / "train" / str(digit)
        for name in sorted(os.listdir(folder))[skip:skip + per_class]:
            properties = [p for p, on in (("even", digit % 2 == 0), ("large", digit >= 5),
                                          ("round", digit in (0, 6, 8, 9))) if on]
            rows.append([f"{digit}/{name}", str(digit), ";".join(properties)])
    with open(target, "w", newline="") as f:
        csv.writer(f).writerows([["image", "digit", "properties"], *rows])
    return target


@pytest.mark.slow
def test_multi_task_and_multi_label_heads_train_and_classify_reports_each(cli_run, mnist, tmp_path):
    """--labels with two columns: one shared backbone, a softmax head for the digit, a
    sigmoid head for its properties with per-label thresholds; classify and
    evaluate-classifier report both heads (issue 19)."""
    labels = _digit_labels(mnist, tmp_path / "labels.csv", 20)
    model = tmp_path / "heads.keras"
    result, records, stderr = cli_run([
        "train-classifier", mnist / "train", "--labels", labels, "--task-weights", "digit=2",
        "--image-size", "96", "--epochs", "40", "--lr", "0.003", "--no-augment", "-o", model, "--seed", "1",
        "--json"])
    assert result.exit_code == 0, stderr
    summary = records[-1]
    heads = summary["heads"]
    assert heads["digit"]["kind"] == "single-label" and heads["digit"]["labels"] == [str(d) for d in range(10)]
    assert heads["properties"]["kind"] == "multi-label" and heads["properties"]["labels"] == ["even", "large",
                                                                                                "round"]
    assert summary["task_weights"] == {"digit": 2.0, "properties": 1.0}
    # the training curves the README promises: the heads' losses and scores (issue 33: none were drawn)
    assert summary["curves"] == str(tmp_path / "heads.curves.png") and os.path.getsize(summary["curves"]) > 1000
    assert summary["train_images"] + summary["val_images"] == 200
    assert heads["digit"]["accuracy"] > 0.3  # 40 validation digits; chance is 0.1
    assert heads["properties"]["micro_f1"] > 0.55

    test = _digit_labels(mnist, tmp_path / "test.csv", 10, skip=500)
    result, records, stderr = cli_run(["evaluate-classifier", mnist / "train", "--labels", test, "--model", model,
                                       "--json"])
    assert result.exit_code == 0, stderr
    scores = records[-1]["heads"]
    assert records[-1]["images"] == 100 and scores["digit"]["accuracy"] > 0.3  # chance 0.1
    # a single-label head: dlkit.core.metrics.classification's record, over the head's labels
    assert scores["digit"]["labels"] == [str(d) for d in range(10)] and scores["digit"]["examples"] == 100
    assert np.array(scores["digit"]["confusion_matrix"]).sum(axis=1).tolist() == [10] * 10
    assert all(scores["digit"]["per_class"][str(d)]["support"] == 10 for d in range(10))
    assert scores["properties"]["micro_f1"] > 0.55 and 0 <= scores["properties"]["exact_match"] <= 1

    zero = sorted((mnist / "train" / "0").iterdir())[600]
    result, records, stderr = cli_run(["classify", "--model", model, zero, tmp_path / "missing.png", "--json"])
    assert result.exit_code == 1  # the missing file
    record = records[0]
    assert record["digit"] in [str(d) for d in range(10)] and 0 < record["digit_score"] <= 1
    assert set(record["properties"]) <= {"even", "large", "round"}
    assert set(record["properties_scores"]) == {"even", "large", "round"}
    assert "error" in records[1]


def test_bad_labels_files_are_refused_with_one_line(cli_run, mnist, tmp_path):
    bad = tmp_path / "bad.csv"
    cases = [("image\n", "expected a header"),
             ("image,digit\n0/a.png,1,2\n", "line 2: 3 cells"),
             ("image,digit\n0/a.png,1\n0/b.png,1\n", "one value"),
             ("image,digit,digit\n0/a.png,1,2\n", "distinct")]
    for text, words in cases:
        bad.write_text(text)
        result, _, stderr = cli_run(["train-classifier", mnist / "train", "--labels", bad,
                                     "-o", tmp_path / "m.keras"])
        assert result.exit_code == 1 and words in stderr and stderr.count("\n") == 1, stderr
    labels = _digit_labels(mnist, tmp_path / "labels.csv", 2)
    result, _, stderr = cli_run(["train-classifier", mnist / "train", "--labels", labels, "--task-weights",
                                 "colour=2", "-o", tmp_path / "m.keras"])
    assert result.exit_code == 1 and "no column 'colour'" in stderr


def test_held_out_scores_all_on_the_right_side_give_a_finite_temperature():
    """Temperature scaling against Platt's targets: held-out SVM scores that all fall on
    the right side (cats and dogs, easily told apart) used to get the largest multiplier
    tried, which pinned every probability at 0 or 1 (issue 33); now the fitted
    probabilities stay near 1 - 1/(n + 2) for n held-out images a class, and a model
    that errs gets a smaller multiplier than one that does not."""
    from dlkit.tasks.classifier.training import LOG2_TEMPERATURES, _temperature

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    margins = rng.uniform(0.5, 2.0, len(y)) * np.where(y == 1, 1, -1)
    separated = np.stack([np.zeros_like(margins), margins], 1)
    t = _temperature(separated, y)
    assert 2.0 ** LOG2_TEMPERATURES[0] < t < 2.0 ** LOG2_TEMPERATURES[1]
    top = 1 / (1 + np.exp(-t * np.abs(margins)))
    assert 0.9 < top.mean() < 0.999 and top.max() < 1 - 1e-6
    mistaken = separated.copy()
    mistaken[:6, 1] *= -1  # a tenth of the cats on the wrong side
    assert _temperature(mistaken, y) < t


@pytest.mark.slow
def test_sixty_photos_a_class_give_scores_short_of_zero_and_one(cli_run, data, tmp_path):
    """The issue's run: train-classifier on 60 photos a class of cats_and_dogs (every
    photo trains, cross-validation picks the probe and its temperature) gave every photo
    a score of exactly 1.0 or 0.0. Now no score is pinned, and the cat photos are still
    told from the dogs."""
    cats_dogs = data / "cats_and_dogs"
    photos = class_slice(cats_dogs / "train", tmp_path / "pets", 60)
    val = class_slice(cats_dogs / "validation", tmp_path / "val", 10)
    model = tmp_path / "pets.keras"
    result, records, stderr = cli_run(["train-classifier", photos, "-o", model, "--no-augment", "--seed", "0",
                                       "--json"])
    assert result.exit_code == 0, stderr
    assert records[-1]["head"] == "linear probe" and records[-1]["probe_temperature"] < 100
    result, records, _ = cli_run(["classify", "--model", model, val, "--json"])
    assert result.exit_code == 0 and len(records) == 20
    for record in records:
        assert all(0 < t["score"] < 1 for t in record["top"]), record
    assert sum(r["label"] == os.path.basename(os.path.dirname(r["input"])) for r in records) >= 18


@pytest.mark.slow
def test_calibrate_folds_the_validation_temperature_into_the_logits_layer():
    """Temperature scaling on 120 validation images: the saved model's probabilities are
    the softmax of its logits times the fitted temperature (so its twin needs nothing of
    its own), its labels unchanged; fewer validation images leave the model as it is."""
    from dlkit.core.runtime import keras
    from dlkit.tasks.classifier.training import ImageSet, _temperature, calibrate

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (120, 4, 4, 3)).astype(np.uint8)
    labels = (images[:, 0, 0, 0] > 127).astype(np.int32)
    pixels = keras.Input((4, 4, 3))
    logits = keras.layers.Dense(2, name="logits")(keras.layers.Flatten()(pixels))
    model = keras.Model(pixels, keras.layers.Activation("softmax")(logits))
    kernel = np.zeros((48, 2), np.float32)
    kernel[0] = [-0.2, 0.2]  # the first pixel's red decides, with logits up to +-25: over-confident
    model.get_layer("logits").set_weights([kernel, np.array([25.4, -25.4], np.float32)])
    before = model.predict(images.astype(np.float32), verbose=0)
    raw = np.log(before)  # the logits, up to a constant per row
    assert calibrate(model, ImageSet(images[:99], labels[:99], ["dark", "bright"]), 32) is None
    temperature = calibrate(model, ImageSet(images, labels, ["dark", "bright"]), 32)
    assert temperature == pytest.approx(_temperature(raw.astype(np.float64), labels), rel=1e-3)
    after = model.predict(images.astype(np.float32), verbose=0)
    assert (after.argmax(1) == before.argmax(1)).all() and temperature < 1
    expected = np.exp(temperature * raw) / np.exp(temperature * raw).sum(1, keepdims=True)
    assert np.allclose(after, expected, atol=1e-5) and after.max() < before.max()
