"""`dlkit train-autoencoder`, `reconstruct` and `extract-features --model` on real MNIST
digits from ../shared (imported with `dlkit import-mnist`), small slices and tiny models."""

import json
import os

import numpy as np
import pytest

from conftest import class_slice, interrupt_at
from PIL import Image

NOISE = "0.5"


@pytest.fixture(scope="module")
def digits(mnist, tmp_path_factory):
    """A split layout as import-mnist writes it, cut small: train/ 60 and test/ 20 digits
    of each class, all from ../shared's MNIST through the CLI."""
    small = tmp_path_factory.mktemp("mnist") / "small"
    class_slice(mnist / "train", small / "train", 60)
    class_slice(mnist / "test", small / "test", 20)
    return small


@pytest.fixture(scope="module")
def dae(digits, tmp_path_factory):
    """A denoising dense autoencoder trained through the CLI: (model path, summary)."""
    from click.testing import CliRunner

    from dlkit.cli import cli

    model = tmp_path_factory.mktemp("dae") / "dae.keras"
    result = CliRunner().invoke(cli, ["train-autoencoder", str(digits), "--denoise", NOISE, "--epochs", "15",
                                      "-b", "32", "--seed", "1", "-o", str(model), "--json"])
    assert result.exit_code == 0, result.output
    return model, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_denoising_autoencoder_removes_noise_and_draws_the_grid(dae, digits, cli_run, tmp_path):
    model, summary = dae
    assert summary["train_images"] == 600 and summary["val_images"] == 200  # train/ and test/ of the split
    assert summary["color"] == "grey" and summary["image_size"] == 28 and summary["epochs"] == 15
    assert summary["val_denoised_mse"] < summary["val_noisy_input_mse"]
    assert os.path.getsize(model.with_name("dae.curves.png")) > 1000

    grid = tmp_path / "grid.png"
    result, records, stderr = cli_run(["reconstruct", "--model", model, digits / "test", "--noise", NOISE,
                                       "-o", grid, "--json"])
    assert result.exit_code == 0, stderr
    assert len(records) == 200 and all(r["input"].endswith(".png") for r in records)
    denoised = np.mean([r["error_mse"] for r in records])
    noisy = np.mean([r["noisy_input_mse"] for r in records])
    # MSE(reconstruction, clean) well below MSE(noisy input, clean): the noise is removed
    assert denoised < 0.6 * noisy, (denoised, noisy)
    # the same command twice corrupts alike (seeded noise): scores are reproducible
    _, again, _ = cli_run(["reconstruct", "--model", model, digits / "test" / "3", "--noise", NOISE, "--json"])
    threes = [r for r in records if "/test/3/" in r["input"]]
    assert again == threes
    # the library's evaluate averages the same records
    from dlkit.tasks import autoencoder

    metrics = autoencoder.evaluate(str(digits / "test" / "3"), str(model), noise=float(NOISE))
    assert metrics["images"] == 20 and metrics["skipped"] == 0
    assert metrics["error_mse"] == pytest.approx(np.mean([r["error_mse"] for r in threes]), abs=1e-5)
    assert metrics["noisy_input_mse"] == pytest.approx(np.mean([r["noisy_input_mse"] for r in threes]), abs=1e-5)

    picture = np.asarray(Image.open(grid).convert("L"), np.float32)
    assert picture.shape[1] > 8 * 56 and picture.shape[0] > 2 * 3 * 56  # 16 images: 2 bands of 3 rows of 8
    assert picture.std() > 30  # not blank
    # the three rows differ: clean inputs, noisy ones (many more mid-grey pixels), outputs
    band = picture[: picture.shape[0] // 2]
    rows = np.array_split(band, 3)
    assert len({round(float(r.std())) for r in rows}) == 3


@pytest.mark.slow
def test_reconstruction_error_is_an_anomaly_score(dae, digits, cli_run, photos):
    """Digits like those it was trained on reconstruct far better than photos."""
    model, _ = dae
    result, records, stderr = cli_run(["reconstruct", "--model", model, digits / "test" / "1",
                                       photos / "chelsea.png", photos / "coffee.png", "--json"])
    assert result.exit_code == 0, stderr
    digit = [r["error_mse"] for r in records if "/test/1/" in r["input"]]
    photo = [r["error_mse"] for r in records if "/test/1/" not in r["input"]]
    assert len(digit) == 20 and len(photo) == 2 and "noisy_input_mse" not in records[0]
    assert min(photo) > 2 * max(digit)


@pytest.mark.slow
def test_bottleneck_codes_train_an_svm_far_above_chance(dae, digits, cli_run, tmp_path):
    model, _ = dae
    for split in ("train", "test"):
        result, _, stderr = cli_run(["extract-features", digits / split, "--model", model,
                                     "-o", tmp_path / f"{split}.npz"])
        assert result.exit_code == 0, stderr
    with np.load(tmp_path / "train.npz", allow_pickle=False) as data:
        assert data["features"].shape == (600, 32)  # the bottleneck's 32 numbers
        assert sorted(set(data["labels"].tolist())) == [str(d) for d in range(10)]
        assert json.loads(str(data["meta"]))["model"] == str(model)

    result, records, stderr = cli_run(["train-svm", tmp_path / "train.npz", "--test", tmp_path / "test.npz",
                                       "--folds", "2", "--C", "0.1", "-o", tmp_path / "svm", "--json"])
    assert result.exit_code == 0, stderr
    summary = records[-1]
    assert summary["features_model"] == str(model) and summary["test_images"] == 200
    assert summary["test_accuracy"] >= 0.6  # chance is 0.1

    # the SVM finds the encoder again to label images itself
    sevens = sorted(str(p) for p in (digits / "test" / "7").iterdir())[:5]
    result, records, stderr = cli_run(["predict-svm", "--model", tmp_path / "svm", *sevens, "--json"])
    assert result.exit_code == 0, stderr
    assert [r["input"] for r in records] == sevens and sum(r["label"] == "7" for r in records) >= 3


@pytest.mark.slow
def test_resumed_run_continues_from_its_checkpoint(digits, cli_run, tmp_path):
    from dlkit.core.training import TrainConfig
    from dlkit.tasks.autoencoder import Config, train

    data = class_slice(digits / "train", tmp_path / "train", 10)
    model = tmp_path / "ae.keras"
    with pytest.raises(KeyboardInterrupt):
        train(str(data), str(model), Config(epochs=4, hidden=32), TrainConfig(seed=1, patience=None),
              callbacks=[interrupt_at(2)])
    assert not model.exists() and (tmp_path / "ae.keras.ckpt").exists()

    result, records, stderr = cli_run(["train-autoencoder", data, "--epochs", "4", "--hidden", "32",
                                       "--patience", "10", "--seed", "1", "-o", model, "--resume", "--json"])
    assert result.exit_code == 0, stderr
    assert "resuming from" in stderr and "(epoch 2)" in stderr
    assert "epoch 1/4" not in stderr and "epoch 3/4" in stderr  # only the missing epochs ran
    assert records[-1]["epochs"] == 4 and records[-1]["train_images"] == 90 and records[-1]["val_images"] == 10
    assert model.exists() and not (tmp_path / "ae.keras.ckpt").exists()


@pytest.mark.slow
def test_bad_images_are_one_line_each_and_the_batch_goes_on(dae, digits, cli_run, tmp_path):
    model, _ = dae
    good = sorted(str(p) for p in (digits / "test" / "0").iterdir())[:3]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    missing = tmp_path / "missing.png"
    result, records, stderr = cli_run(["reconstruct", "--model", model, good[0], bad, good[1], missing, good[2],
                                       "-o", tmp_path / "grid.png", "--json"])
    assert result.exit_code == 1  # some items failed
    assert [r["input"] for r in records] == [good[0], str(bad), good[1], str(missing), good[2]]
    assert "not an image" in records[1]["error"] and records[3]["error"] == "no such file"
    assert all("error_mse" in records[i] for i in (0, 2, 4))
    assert f"{bad}: not an image" in stderr and "Traceback" not in stderr
    assert (tmp_path / "grid.png").exists()  # drawn from the good ones


@pytest.mark.slow
def test_evaluate_autoencoder_names_each_unusable_image_and_goes_on(dae, digits, cli_run, tmp_path):
    """dlkit evaluate-autoencoder: the mean errors of the images it can read, one warning
    line naming each it cannot; a folder with nothing to read is one line, exit 1."""
    model, _ = dae
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = sorted((digits / "test" / "0").iterdir())[:2]
    (folder / "[red]zero.png").symlink_to(good[0])
    os.symlink(good[1], os.path.join(bytes(folder), b"\xff.png"))
    (folder / "broken.png").write_bytes(b"not a png")
    result, records, stderr = cli_run(["evaluate-autoencoder", folder, "--model", model, "--noise", NOISE, "--json"])
    assert result.exit_code == 0, stderr
    assert records[-1]["images"] == 2 and records[-1]["skipped"] == 1
    assert records[-1]["error_mse"] < records[-1]["noisy_input_mse"]  # a denoiser, scored on noisy inputs
    assert f"{folder / 'broken.png'}: not an image" in stderr and "Traceback" not in stderr
    (tmp_path / "empty").mkdir()
    result, records, stderr = cli_run(["evaluate-autoencoder", tmp_path / "empty", "--model", model])
    assert result.exit_code == 1 and "no files to read" in stderr and records == [] and "Traceback" not in stderr


@pytest.mark.slow
def test_outputs_are_checked_before_any_work(dae, digits, cli_run, tmp_path):
    model, _ = dae
    result, records, stderr = cli_run(["reconstruct", "--model", model, digits / "test", "-o", tmp_path / "g.jpg"])
    assert result.exit_code == 1 and "must end in .png" in stderr and records == []
    result, _, stderr = cli_run(["train-autoencoder", digits, "-o", tmp_path / "ae.h5"])
    assert result.exit_code == 1 and "must end in .keras" in stderr
    result, _, stderr = cli_run(["train-autoencoder", digits, "--arch", "conv", "--image-size", "30",
                                 "-o", tmp_path / "ae.keras"])
    assert result.exit_code == 1 and "multiple of 4" in stderr
    result, _, stderr = cli_run(["reconstruct", "--model", tmp_path / "none.keras", digits / "test"])
    assert result.exit_code != 0 and "Traceback" not in stderr


def test_conv_autoencoder_on_colour_photos(photos, cli_run, tmp_path):
    """RGB photos give an RGB model; a conv model's codes are features too."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos.iterdir():
        (folder / photo.name).symlink_to(photo)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    model = tmp_path / "photos.keras"
    result, records, stderr = cli_run(["train-autoencoder", folder, "--arch", "conv", "--image-size", "32",
                                       "--epochs", "2", "--bottleneck", "8", "--val-split", "0.2", "--seed", "1",
                                       "-o", model, "--json"])
    assert result.exit_code == 0, stderr
    summary = records[-1]
    assert summary["color"] == "rgb" and summary["image_size"] == 32 and summary["arch"] == "conv"
    assert f"{folder / 'broken.jpg'}: not an image" in stderr and "skipped" in stderr  # one line, training goes on
    assert summary["train_images"] + summary["val_images"] == 12
    grid = tmp_path / "photos.png"
    result, records, stderr = cli_run(["reconstruct", "--model", model, photos / "chelsea.png",
                                       photos / "coffee.png", "--noise", "0.1", "-o", grid, "--json"])
    assert result.exit_code == 0, stderr
    assert len(records) == 2 and all(0 < r["error_mse"] < 1 for r in records)
    picture = np.asarray(Image.open(grid).convert("RGB"), np.int16)
    assert np.abs(picture[..., 0] - picture[..., 2]).max() > 30  # colour kept, not grey
    result, _, stderr = cli_run(["extract-features", photos / "chelsea.png", "--model", model,
                                 "-o", tmp_path / "f.npz"])
    assert result.exit_code == 0, stderr
    with np.load(tmp_path / "f.npz", allow_pickle=False) as data:
        assert data["features"].shape == (1, 8)


# ---- The light path: ONNX twin against Keras ----------------------------------------------

@pytest.mark.slow
def test_training_writes_a_checked_twin_that_matches_keras(dae, digits):
    from dlkit.core import twins
    from dlkit.tasks import autoencoder

    twin = twins.load(str(dae[0]))["model"]  # beside it, current: not converted again
    assert twin.path == str(dae[0])[: -len(".keras")] + ".onnx" and twin.metadata["autoencoder"]
    assert twin.metadata["max_difference"] <= twin.metadata["tolerance"]
    images = sorted(str(p) for p in (digits / "test").rglob("*.png"))[:12]
    light = list(autoencoder.load(str(dae[0]), noise=0.5, runtime="onnx").predict(images))
    heavy = list(autoencoder.load(str(dae[0]), noise=0.5, runtime="keras").predict(images))
    assert [r["input"] for r in light] == images
    for a, b in zip(light, heavy):
        assert a["noisy_input_mse"] == b["noisy_input_mse"]  # the same noise, before the network
        assert abs(a["error_mse"] - b["error_mse"]) <= 1e-4 * max(1.0, b["error_mse"])


@pytest.mark.slow
def test_reconstruct_runs_without_tensorflow_and_refuses_a_model_without_twin(dae, digits, light_run, tmp_path):
    images = sorted((digits / "test").rglob("*.png"))[:3]
    code, records, stderr = light_run(["reconstruct", "--model", dae[0], "--json", *images])
    assert code == 0, stderr
    assert [r["input"] for r in records] == [str(p) for p in images] and all(r["error_mse"] >= 0 for r in records)
    bare = tmp_path / "bare.keras"
    bare.write_bytes(open(dae[0], "rb").read())
    code, records, stderr = light_run(["reconstruct", "--model", bare, "--json", images[0]])
    assert code == 1 and records == []
    assert "no current ONNX twin" in stderr and "dlkit[train]" in stderr and len(stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_model_without_twin_is_converted_on_first_use_where_tensorflow_is(dae, digits, tmp_path):
    from dlkit.tasks import autoencoder

    bare = tmp_path / "old.keras"
    bare.write_bytes(open(dae[0], "rb").read())
    image = str(sorted((digits / "test").rglob("*.png"))[0])
    record = next(autoencoder.load(str(bare)).predict([image]))
    assert (tmp_path / "old.onnx").is_file() and record["error_mse"] >= 0
