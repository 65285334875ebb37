"""CNN features + SVM on a real slice of cats_and_dogs, against the Sobel baseline."""

import json
import os

import numpy as np
import pytest

from conftest import PETS, class_slice


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pets")
    return class_slice(PETS / "train", tmp / "train", 40), class_slice(PETS / "validation", tmp / "val", 25)


@pytest.fixture(scope="module")
def trained(pets, tmp_path_factory):
    """A MobileNetV2-feature SVM and a Sobel SVM, trained through the CLI on the same slice."""
    from click.testing import CliRunner

    from dlkit.cli import cli

    train, val = pets
    out = tmp_path_factory.mktemp("svms")
    results = {}
    for backbone in ["mobilenet_v2", "sobel"]:
        result = CliRunner().invoke(cli, ["train-svm", str(train), "--test", str(val), "-o", str(out / backbone),
                                          "--backbone", backbone, "--image-size", "128", "--json"])
        assert result.exit_code == 0, result.output
        results[backbone] = json.loads(result.stdout.strip().splitlines()[-1])
    return out, results


@pytest.mark.slow
def test_cnn_features_beat_chance_and_the_sobel_baseline(trained):
    _, results = trained
    cnn, sobel = results["mobilenet_v2"], results["sobel"]
    assert cnn["test_images"] == 50 and cnn["train_images"] == 80
    assert cnn["test_accuracy"] >= 0.8 and 0.75 <= cnn["test_macro_f1"] <= 1
    assert cnn["test_accuracy"] > sobel["test_accuracy"] + 0.05
    assert 0 < cnn["C"] and 0 <= cnn["cv_accuracy"] <= 1


@pytest.mark.slow
def test_predict_svm_labels_images_and_reports_bad_ones(trained, pets, cli_run, photos):
    out, _ = trained
    _, val = pets
    cats = sorted(str(p) for p in (val / "cats").iterdir())[:5]
    result, records, stderr = cli_run(["predict-svm", "--model", out / "mobilenet_v2", "-",
                                       photos / "skimage_README.txt"], input="\n".join(cats) + "\n")
    assert result.exit_code == 1  # the README is not an image
    assert [r["input"] for r in records] == cats + [str(photos / "skimage_README.txt")]
    good = records[:-1]
    assert all(set(r["scores"]) == {"cats", "dogs"} for r in good)
    assert sum(r["label"] == "cats" for r in good) >= 4
    assert "not an image" in records[-1]["error"] and "Traceback" not in stderr


@pytest.mark.slow
def test_extract_features_keeps_labels_and_skips_bad_images(pets, cli_run, tmp_path):
    train, _ = pets
    broken = class_slice(train, tmp_path / "data", 4)
    (broken / "dogs" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    result, _, stderr = cli_run(["extract-features", broken, "-o", tmp_path / "f.npz", "--image-size", "96"])
    assert result.exit_code == 1 and "corrupt.jpg" in stderr
    with np.load(tmp_path / "f.npz", allow_pickle=False) as data:
        assert data["features"].shape == (8, 1280)
        assert data["labels"].tolist() == ["cats"] * 4 + ["dogs"] * 4
        assert json.loads(str(data["meta"]))["backbone"] == "mobilenet_v2"

    # a features file trains an SVM directly, without the images
    result, records, _ = cli_run(["train-svm", tmp_path / "f.npz", "-o", tmp_path / "svm", "--C", "1",
                                  "--folds", "2", "--json"])
    assert result.exit_code == 0 and records[0]["C"] == 1.0
    # the final model is fitted on every image; without --test only CV accuracy is reported
    assert records[0]["train_images"] == 8 and "test_accuracy" not in records[0]

    # a split folder trains on train/ and tests on validation/
    split = tmp_path / "split"
    split.mkdir()
    (split / "train").symlink_to(broken)
    class_slice(train, split / "validation", 2, skip=10)
    result, records, stderr = cli_run(["train-svm", split, "-o", tmp_path / "svm2", "--image-size", "96",
                                       "--folds", "2", "--json"])
    assert result.exit_code == 0, stderr
    assert f"training on {split / 'train'}, testing on {split / 'validation'}" in stderr
    assert records[0]["train_images"] == 8 and records[0]["test_images"] == 4


@pytest.mark.slow
def test_the_c_search_walks_up_the_grid_and_stops_when_accuracy_stops_rising(trained):
    """The search is what made 100 classes take over an hour: it must stop early, keep
    the best C, and leave the final model fitted on all images."""
    from dlkit.tasks.svm import SVMConfig
    from dlkit.tasks.svm.model import SVMModel

    out, results = trained
    cnn = results["mobilenet_v2"]
    tried = [float(c) for c in cnn["cv_accuracy_by_C"]]
    grid = list(SVMConfig().c_grid)
    assert tried == grid[:len(tried)]  # from the smallest C up, in order
    scores = list(cnn["cv_accuracy_by_C"].values())
    best = scores.index(max(scores))
    assert tried[best] == cnn["C"] and cnn["cv_accuracy"] == max(scores)
    if len(tried) < len(grid):  # stopped: the last C scored below the best before it
        assert scores[-1] < max(scores[:-1])
    assert SVMModel.load(str(out / "mobilenet_v2")).metrics["train_images"] == 80


@pytest.mark.slow
def test_corrupt_or_tampered_models_are_refused(trained, tmp_path, cli_run, photos):
    import shutil

    import skops.io
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    out, _ = trained
    corrupt = tmp_path / "corrupt"
    shutil.copytree(out / "mobilenet_v2", corrupt)
    (corrupt / "svm.skops").write_bytes(b"garbage")
    result, _, stderr = cli_run(["predict-svm", "--model", corrupt, photos / "chelsea.png"])
    assert result.exit_code == 1 and "cannot load SVM model" in stderr and "Traceback" not in stderr

    from dlkit.tasks.svm import SVMModel

    tampered = tmp_path / "tampered"
    shutil.copytree(out / "mobilenet_v2", tampered)
    skops.io.dump(make_pipeline(FunctionTransformer(os.system)), tampered / "svm.skops")
    with pytest.raises(Exception, match="unexpected types"):
        SVMModel.load(str(tampered))

    # config.json must describe the pipeline it sits beside: a labels-swapped copy or
    # a hand-edited setting is refused with the file and the field
    for name, edit, message in [
        ("swapped", lambda c: c.update(classes=c["classes"][::-1]), "do not match the SVM's"),
        ("one-class", lambda c: c.update(classes=["cats"]), "classes must be a list of at least 2"),
        ("backbone", lambda c: c["features"].update(backbone="alexnet"), "backbone must be one of"),
        ("dimensions", lambda c: c["features"].update(dimensions=12), "12 feature dimensions"),
    ]:
        edited = tmp_path / name
        shutil.copytree(out / "mobilenet_v2", edited)
        config = json.loads((edited / "config.json").read_text())
        edit(config)
        (edited / "config.json").write_text(json.dumps(config))
        result, _, stderr = cli_run(["predict-svm", "--model", edited, photos / "chelsea.png"])
        assert result.exit_code == 1 and message in stderr and str(edited / "config.json") in stderr, stderr
        assert "Traceback" not in stderr

    result, _, stderr = cli_run(["predict-svm", "--model", tmp_path / "nowhere", photos / "chelsea.png"])
    assert result.exit_code == 1 and "SVM model not found" in stderr


@pytest.mark.slow
def test_evaluate_scores_an_svm_on_class_folders_like_its_training_record(trained, pets):
    """The task interface's evaluate: the same test accuracy and macro-F1 train-svm
    reported, in the classification record every classifier's evaluate gives."""
    from dlkit.tasks import svm

    out, results = trained
    _, val = pets
    metrics = svm.evaluate(str(val), str(out / "mobilenet_v2"))
    assert metrics["examples"] == 50 and metrics["skipped"] == 0 and metrics["labels"] == ["cats", "dogs"]
    assert metrics["accuracy"] == pytest.approx(results["mobilenet_v2"]["test_accuracy"], abs=1e-6)
    assert metrics["macro_f1"] == pytest.approx(results["mobilenet_v2"]["test_macro_f1"], abs=1e-6)
    matrix = np.array(metrics["confusion_matrix"])  # rows: the true class
    assert matrix.sum() == 50 and matrix.sum(axis=1).tolist() == [25, 25]
    assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / 50, abs=1e-6)
    for i, name in enumerate(metrics["labels"]):
        scores = metrics["per_class"][name]
        assert scores["support"] == 25
        assert scores["recall"] == pytest.approx(matrix[i, i] / 25, abs=1e-6)
        assert scores["precision"] == pytest.approx(matrix[i, i] / max(1, matrix[:, i].sum()), abs=1e-6)
    assert svm.Config is svm.SVMConfig


def test_train_svm_resumes_from_its_checkpointed_features(cli_run, tmp_path):
    """Extraction is the long part of train-svm: an interrupted run's features wait in
    OUTPUT.ckpt, --resume reads them back, and they go once the SVM is saved."""
    from dlkit.tasks import svm

    pets = class_slice(PETS / "train", tmp_path / "pets", 6)
    found = svm.FeatureExtractor(svm.FeaturesConfig(backbone="sobel")).extract_dataset(str(pets))
    (tmp_path / "svm.ckpt").mkdir()
    found.save(str(tmp_path / "svm.ckpt" / "train.npz"))
    args = ["train-svm", pets, "--backbone", "sobel", "-o", tmp_path / "svm", "--json", "--seed", "3"]
    result, records, stderr = cli_run([*args, "--resume"])
    assert result.exit_code == 0, stderr
    assert f"resuming: features from {tmp_path / 'svm.ckpt' / 'train.npz'}" in stderr
    assert not (tmp_path / "svm.ckpt").exists()
    # the same SVM as a run that extracts the features itself
    result, again, stderr = cli_run([*args[:-5], "-o", tmp_path / "fresh", "--json", "--seed", "3", "--resume"])
    assert result.exit_code == 0 and "resuming" not in stderr
    assert f"--resume: no checkpoint at {tmp_path / 'fresh.ckpt' / 'train.npz'}" in stderr  # not silent
    assert {k: v for k, v in again[-1].items() if k != "model"} == {k: v for k, v in records[-1].items()
                                                                     if k != "model"}


@pytest.mark.slow
def test_evaluate_svm_names_each_unusable_image_and_goes_on(trained, pets, cli_run, tmp_path):
    """dlkit evaluate-svm on class folders holding a broken file and hostile names: one
    warning line naming the file, the rest scored; an empty folder or a missing model is
    one line, exit 1."""
    out, _ = trained
    _, val = pets
    folder = tmp_path / "val"
    for label in ("cats", "dogs"):
        (folder / label).mkdir(parents=True)
        first = sorted((val / label).iterdir())[0]
        (folder / label / f"[red]{label}.jpg").symlink_to(first)
    (folder / "dogs" / "broken.jpg").write_bytes(b"not a photo")
    os.symlink(sorted((val / "cats").iterdir())[1], os.path.join(bytes(folder / "cats"), b"\xff.jpg"))
    result, records, stderr = cli_run(["evaluate-svm", folder, "--model", out / "sobel", "--json"])
    assert result.exit_code == 0, stderr
    assert records[-1]["examples"] == 3 and records[-1]["skipped"] == 1
    assert f"{folder / 'dogs' / 'broken.jpg'}: not an image" in stderr and "Traceback" not in stderr
    (tmp_path / "empty").mkdir()
    for args, message in [([tmp_path / "empty", "--model", out / "sobel"], "found 0 class folder(s)"),
                          ([folder, "--model", tmp_path / "nowhere"], "SVM model not found")]:
        result, records, stderr = cli_run(["evaluate-svm", *args])
        assert result.exit_code == 1 and message in stderr and records == [] and "Traceback" not in stderr
