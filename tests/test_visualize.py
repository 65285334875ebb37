"""`dlkit visualize` (filters, activations, saliency, features) and `classify --saliency`,
through the CLI on real photos, with the MobileNetV2 ImageNet weights from ../shared/keras
and a classifier trained here in seconds."""

import os

import numpy as np
import pytest
from PIL import Image

from conftest import PETS, class_slice

CATS = {"tabby", "tiger_cat", "Persian_cat", "Siamese_cat", "Egyptian_cat"}
# chelsea.png is 451x300 and the cat fills most of it: its head and chest run from the
# left edge (fur from x~20) to its right cheek near x=370, top to bottom; the right
# ~80 px (a blurred room) and the top-left corner are background. A rough box, by eye.
CAT_BOX = (20, 0, 370, 300)  # left, top, right, bottom


def picture(path) -> np.ndarray:
    """The pixels of a PNG that must have been written, and must not be blank."""
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        assert im.format == "PNG"
        pixels = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert pixels.std() > 15, f"{path} is (nearly) blank"
    return pixels


def one_error_line(result, stderr, *words):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1 and "Traceback" not in stderr, stderr
    assert all(word in lines[0] for word in words), lines[0]


@pytest.fixture(scope="module")
def pets_model(tmp_path_factory):
    """A dlkit classifier (MobileNetV2 nested in it, 96 px) trained for one epoch on six
    cats and six dogs: its filters and heat-maps go through the nested backbone."""
    from click.testing import CliRunner

    from dlkit.cli import cli

    base = tmp_path_factory.mktemp("visualize-pets")
    data = class_slice(PETS / "train", base / "pets", 6)
    model = base / "pets.keras"
    result = CliRunner().invoke(cli, ["train-classifier", str(data), "-o", str(model), "--epochs", "1",
                                      "--image-size", "96", "-b", "8", "--views", "0", "--no-augment", "-q"])
    assert result.exit_code == 0, result.output
    return model, data


@pytest.mark.slow
def test_filters_of_a_backbone_and_of_a_trained_classifier(cli_run, tmp_path, pets_model):
    result, [record], _ = cli_run(["visualize", "filters", "mobilenet_v2", "-o", tmp_path / "filters.png"])
    assert result.exit_code == 0 and record["output"] == str(tmp_path / "filters.png")
    pixels = picture(tmp_path / "filters.png")
    # MobileNetV2's first convolution has 32 kernels of 3x3: a 6x6 grid of tiles of 3x3
    # squares of 13 px (up to 40 px a tile), 2 px apart
    assert pixels.shape == (6 * (3 * 13 + 2) + 2, 6 * (3 * 13 + 2) + 2, 3)
    # the trained classifier's first Conv2D is inside its nested backbone
    result, _, _ = cli_run(["visualize", "filters", pets_model[0], "-o", tmp_path / "pets.png"])
    assert result.exit_code == 0
    assert np.array_equal(picture(tmp_path / "pets.png"), pixels)  # frozen: the same ImageNet kernels


@pytest.mark.slow
def test_activations_early_to_deep_and_unknown_layers(cli_run, photos, tmp_path, pets_model):
    chelsea = photos / "chelsea.png"
    result, _, _ = cli_run(["visualize", "activations", "mobilenet_v2", chelsea, "-o", tmp_path / "act.png"])
    assert result.exit_code == 0
    default = picture(tmp_path / "act.png")
    result, _, _ = cli_run(["visualize", "activations", "mobilenet_v2", chelsea, "--layers", "Conv1_relu,out_relu",
                            "--channels", "4", "-o", tmp_path / "two.png"])
    assert result.exit_code == 0
    chosen = picture(tmp_path / "two.png")
    assert chosen.shape[0] < default.shape[0] * 0.7  # two rows of maps against the default four
    # layers of the backbone nested in a trained classifier
    result, _, _ = cli_run(["visualize", "activations", pets_model[0], chelsea, "--layers", "block_3_expand_relu",
                            "-o", tmp_path / "pets-act.png"])
    assert result.exit_code == 0
    picture(tmp_path / "pets-act.png")

    result, _, stderr = cli_run(["visualize", "activations", "mobilenet_v2", chelsea, "--layers", "Conv1_relu,nope",
                                 "-o", tmp_path / "bad.png"])
    one_error_line(result, stderr, "'nope'", "Conv1")
    assert not (tmp_path / "bad.png").exists()
    result, _, stderr = cli_run(["visualize", "activations", "mobilenet_v2", tmp_path / "missing.jpg",
                                 "-o", tmp_path / "bad.png"])
    one_error_line(result, stderr, "missing.jpg")


@pytest.mark.slow
def test_gradcam_on_the_cat_photo_falls_on_the_cat(cli_run, photos, tmp_path):
    chelsea = photos / "chelsea.png"
    result, [record], _ = cli_run(["visualize", "saliency", chelsea, "-o", tmp_path / "cam.png"])
    assert result.exit_code == 0
    assert record["label"] in CATS and record["method"] == "gradcam" and 0 < record["score"] <= 1
    cam = picture(tmp_path / "cam.png")
    assert cam.shape == (300, 451, 3)  # over the photo, at its own size
    assert np.abs(cam - np.asarray(Image.open(chelsea).convert("RGB"), dtype=np.float64)).mean() > 10

    # The heat-map itself (what the picture draws): most of its mass on the cat, and
    # denser there than on the background (the box alone covers 78% of the photo).
    from dlkit.tasks import visualize
    from dlkit.vision.images import load_image
    from dlkit.vision.saliency import Explainer

    network = visualize.load("mobilenet_v2")
    photo = load_image(str(chelsea))
    pixels = np.asarray(Image.fromarray(photo).resize((224, 224), Image.BILINEAR))
    for method in ("gradcam", "gradient"):
        heat = Explainer(network.model, network.preprocess).explain(pixels, None, method).heatmap
        heat = np.asarray(Image.fromarray(heat, mode="F").resize((451, 300), Image.BILINEAR))
        left, top, right, bottom = CAT_BOX
        inside = np.zeros(heat.shape, bool)
        inside[top:bottom, left:right] = True
        share = heat[inside].sum() / heat.sum()
        assert share > 0.8, (method, share)
        assert heat[inside].mean() > 1.4 * heat[~inside].mean(), method

    # a chosen class by name (ImageNet's own spelling or with spaces), and plain gradients
    result, [record], _ = cli_run(["visualize", "saliency", chelsea, "--class", "tiger cat", "--method", "gradient",
                                   "-o", tmp_path / "grad.png"])
    assert result.exit_code == 0 and record["label"] == "tiger_cat" and record["method"] == "gradient"
    assert record.get("predicted", record["label"]) in CATS
    picture(tmp_path / "grad.png")

    result, _, stderr = cli_run(["visualize", "saliency", chelsea, "--class", "kitty", "-o", tmp_path / "bad.png"])
    one_error_line(result, stderr, "unknown class 'kitty'")
    result, _, stderr = cli_run(["visualize", "saliency", tmp_path / "missing.jpg", "-o", tmp_path / "bad.png"])
    one_error_line(result, stderr, "missing.jpg")
    result, _, stderr = cli_run(["visualize", "saliency", chelsea, "-o", tmp_path / "cam.txt"])
    one_error_line(result, stderr, "cam.txt", ".png")
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.slow
def test_saliency_of_a_trained_classifier_by_class_name(cli_run, pets_model, tmp_path):
    model, data = pets_model
    dog = sorted((data / "dogs").iterdir())[0]
    for label in ("dogs", "cats"):
        result, [record], _ = cli_run(["visualize", "saliency", dog, "--model", model, "--class", label,
                                       "-o", tmp_path / f"{label}.png"])
        assert result.exit_code == 0 and record["label"] == label
        picture(tmp_path / f"{label}.png")
    # the two classes' maps differ: the heat-map follows the class asked for
    assert np.abs(picture(tmp_path / "dogs.png") - picture(tmp_path / "cats.png")).mean() > 1
    result, _, stderr = cli_run(["visualize", "saliency", dog, "--model", model, "--class", "tabby",
                                 "-o", tmp_path / "bad.png"])
    one_error_line(result, stderr, "unknown class 'tabby'", "cats")


def test_classify_writes_one_heatmap_per_image_named_in_the_records(cli_run, photos, tmp_path):
    odd = tmp_path / "in"
    odd.mkdir()
    hostile = ["..", "a\nb", ".hidden", "-rf ~", "ünïcode"]
    for name in hostile:
        (odd / f"{name}.png").symlink_to(photos / "coffee.png")
    chelsea = photos / "chelsea.png"
    inputs = [chelsea, chelsea] + [odd / f"{name}.png" for name in hostile] + [tmp_path / "missing.jpg"]
    out = tmp_path / "heat" / "maps"
    result, records, _ = cli_run(["classify", *inputs, "--saliency", out, "-k", "1"])
    assert result.exit_code == 1  # the missing file
    assert len(records) == len(inputs) and "saliency" not in records[-1] and records[-1]["error"] == "no such file"
    written = [r["saliency"] for r in records[:-1]]
    assert len(set(written)) == len(written)  # duplicates and look-alike names never collide
    assert sorted(os.listdir(out)) == sorted(os.path.basename(p) for p in written)
    for path in written:
        assert os.path.dirname(os.path.abspath(path)) == str(out) and not os.path.basename(path).startswith(".")
    assert os.path.basename(written[0]).endswith("chelsea.png")
    assert records[0]["label"] in CATS
    first = picture(written[0])
    assert first.shape == (300, 451, 3) and np.array_equal(first, picture(written[1]))
    assert picture(written[2]).shape[:2] == Image.open(photos / "coffee.png").size[::-1]
    assert sorted(os.listdir(tmp_path)) == ["heat", "in"]  # nothing escaped the folder

    # the folder is checked before any work: a file in its place is refused at once
    (tmp_path / "taken").write_text("")
    result, records, stderr = cli_run(["classify", chelsea, "--saliency", tmp_path / "taken"])
    assert result.exit_code != 0 and records == [] and "taken" in stderr
    result, records, stderr = cli_run(["classify", chelsea, "--saliency", "/proc/dlkit-heatmaps"])
    one_error_line(result, stderr, "/proc/dlkit-heatmaps", "cannot write")
    assert records == []


@pytest.mark.slow
def test_feature_maps_coloured_by_class(cli_run, photos, tmp_path, pets_model):
    _, data = pets_model
    labelled = tmp_path / "pets.npz"
    result, _, _ = cli_run(["extract-features", data, "-o", labelled, "--image-size", "96"])
    assert result.exit_code == 0
    unlabelled = tmp_path / "photos.npz"
    result, _, _ = cli_run(["extract-features", *sorted(photos.glob("*.png")), "-o", unlabelled,
                            "--image-size", "96"])
    assert result.exit_code == 0

    # matplotlib's first two class colours, at the points' alpha of 0.8 over white
    blue, orange = (0.8 * np.array(c) + 0.2 * 255 for c in [(31, 119, 180), (255, 127, 14)])

    def share_near(pixels, colour):
        return (np.abs(pixels - colour).max(axis=-1) < 12).mean()

    for method in ("tsne", "pca"):
        result, [record], _ = cli_run(["visualize", "features", labelled, "--method", method,
                                       "-o", tmp_path / f"{method}.png"])
        assert result.exit_code == 0 and record["output"] == str(tmp_path / f"{method}.png")
        pixels = picture(tmp_path / f"{method}.png")
        assert share_near(pixels, blue) > 1e-4 and share_near(pixels, orange) > 1e-4  # cats and dogs
    result, _, _ = cli_run(["visualize", "features", unlabelled, "-o", tmp_path / "one.png"])
    assert result.exit_code == 0
    pixels = picture(tmp_path / "one.png")
    assert share_near(pixels, blue) > 1e-4 and share_near(pixels, orange) == 0  # one colour

    # a pickle is never unpickled (allow_pickle=False): one line instead
    np.savez(tmp_path / "pickled.npz", features=np.zeros((4, 3)), labels=np.array([{"a": 1}] * 4, dtype=object))
    result, _, stderr = cli_run(["visualize", "features", tmp_path / "pickled.npz", "-o", tmp_path / "bad.png"])
    one_error_line(result, stderr, "pickled.npz", "not a dlkit features file")
    result, _, stderr = cli_run(["visualize", "features", tmp_path / "none.npz", "-o", tmp_path / "bad.png"])
    one_error_line(result, stderr, "none.npz")
    assert not (tmp_path / "bad.png").exists()
