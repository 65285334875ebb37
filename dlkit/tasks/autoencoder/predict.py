"""Autoencoder inference, without TensorFlow: reconstruction errors per image (an
anomaly score), the grid picture, evaluation.

    from dlkit.tasks.autoencoder import load
    for record in load("ae.keras", noise=0.5).predict(["digits/test/7/09000.png"]):
        print(record)   # {"input", "error_mse", "noisy_input_mse"}

The network runs on its ONNX twin (ae.onnx beside ae.keras, dlkit.core.twins), or on
Keras (runtime="keras": training's own scores, the parity tests); what comes before and
after it (the 0..1 pixels, the noise, the errors) is here, once, for both.
"""

import zlib

import numpy as np

from dlkit.core import files, twins
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events, warn_all
from dlkit.core.inputs import expand_paths
from dlkit.engines import EngineConfig, predictions
from dlkit.vision.images import ImagePredictor

# ITU-R BT.601 luma, as Pillow's convert("L"): a grey model sees what an image viewer shows.
LUMA = (0.299, 0.587, 0.114)
# What converts an autoencoder's .keras file to its twin (TensorFlow's side).
CONVERT = "dlkit.tasks.autoencoder.twin:write"


def pixels01(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 RGB images as the 0..1 pixels an autoencoder rebuilds (grey: one channel,
    by luma), as the model's own "pixels" part computes them."""
    scaled = images.astype(np.float32) * np.float32(1 / 255.0)
    if channels == 1:
        return scaled @ np.array(LUMA, np.float32).reshape(3, 1)
    return scaled


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """0..1 pixels (grey or RGB) back to the RGB 0..255 the model takes (a grey image
    as R = G = B, which its grey layer maps back to the same grey: the weights sum to 1)."""
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return pixels * 255.0


def corrupt(pixels: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of std `noise`, clipped to 0..1 (Config.noise)."""
    if not noise:
        return pixels
    return np.clip(pixels + rng.normal(0.0, noise, pixels.shape).astype(np.float32), 0.0, 1.0)


def mse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per image: the mean over its pixels (and channels) of the squared difference."""
    return np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2, axis=(1, 2, 3))


def mean(values: np.ndarray) -> float:
    return round(float(np.mean(values)), 6)


class Autoencoder(ImagePredictor):
    """Image paths in, {"error_mse"} out: the mean squared difference (pixels 0..1)
    between the image and its reconstruction, an anomaly score. With `noise`, the
    image is corrupted first (seeded by `seed` and the image's pixels: an image gets the
    same noise in any order, batch or rerun) and the record adds
    "noisy_input_mse", the corrupted input's own error against the clean image, so that
    error_mse below it means the model removed noise. `keep`: how many of the first
    images to keep (clean, corrupted, reconstructed) in `kept`, for write_grid."""

    def __init__(self, network, source: str, input_size: int, channels: int, noise: float = 0.0, seed: int = 0,
                 batch_size: int = 64, keep: int = 0):
        if not 0 <= noise <= 1:
            raise DlkitError(f"--noise must be between 0 and 1 (pixels are 0..1), not {noise}")
        super().__init__(network, input_size, batch_size)
        self.source, self.noise, self.keep = source, float(noise), keep
        self.channels = channels
        self.kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.seed = seed

    def rebuild(self, rgb: np.ndarray) -> np.ndarray:
        """Reconstructions (0..1) of RGB images (0..255, any float or uint8 array)."""
        parts = [self.outputs(rgb[i:i + self.batch_size]) for i in range(0, len(rgb), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.input_size, self.input_size, self.channels))

    def predict_images(self, images: np.ndarray) -> list[dict]:
        clean = pixels01(images, self.channels)
        noisy = np.stack([corrupt(pixels, self.noise, np.random.default_rng([self.seed, zlib.crc32(image.tobytes())]))
                          for pixels, image in zip(clean, images)])
        rebuilt = self.rebuild(to_rgb(noisy).astype(np.float32))
        room = max(0, self.keep - len(self.kept))
        self.kept.extend(zip(clean[:room], noisy[:room], rebuilt[:room]))
        errors = mse(rebuilt, clean)
        if not self.noise:
            return [{"error_mse": round(float(e), 6)} for e in errors]
        return [{"error_mse": round(float(e), 6), "noisy_input_mse": round(float(n), 6)}
                for e, n in zip(errors, mse(noisy, clean))]


def load(path: str, noise: float = 0.0, seed: int = 0, batch_size: int = 64, keep: int = 0,
         runtime: str = "onnx") -> Autoencoder:
    """The autoencoder in `path` (a .keras file from train / dlkit train-autoencoder), run
    on its ONNX twin, or on Keras with runtime="keras"; dlkit ships none, so a path is
    needed."""
    if path is None:
        raise DlkitError("dlkit ships no autoencoder; pass --model PATH (train one with dlkit train-autoencoder)")
    if runtime == "keras":
        from dlkit.core import modelio
        from dlkit.core.runtime import network
        from dlkit.tasks.autoencoder.twin import checked

        model = checked(modelio.load_model(path), path)
        return Autoencoder(network(model), path, int(model.input_shape[1]), int(model.output_shape[-1]), noise,
                           seed, batch_size, keep)
    graph = twins.load(path, convert=CONVERT)["model"]
    if not graph.metadata.get("autoencoder"):
        raise DlkitError(f"{path}: not an autoencoder written by dlkit train-autoencoder")
    return Autoencoder(lambda images: graph.run(images)[0], path, graph.metadata["input_size"],
                       graph.metadata["channels"], noise, seed, batch_size, keep)


def reconstruct(items, model: str, settings: dict | None = None, engine: EngineConfig = EngineConfig(),
                events: Events = SILENT):
    """The records of `dlkit reconstruct` ({"input", "error_mse", "noisy_input_mse"}):
    load(model, **settings).predict(items) here or on Ray; with settings["grid"] a PNG
    path, here, drawing the first settings["grid_images"] images to it at the end."""
    settings = dict(settings or {})
    grid, count = settings.pop("grid", None), settings.pop("grid_images", 16)
    if grid is None:
        yield from predictions("dlkit.tasks.autoencoder.predict:load", {"path": model, **settings}, items, engine,
                               settings.get("batch_size", 64), events)
        return
    files.check_output(grid, suffixes=(".png",), what="grid picture")
    if engine.engine != "local":
        raise DlkitError("--output draws the grid from this process: use it with --engine local")
    predictor = load(model, keep=count, **settings)
    yield from predictor.predict(items)
    if predictor.kept:
        write_grid(predictor.kept, grid, noisy=predictor.noise > 0)
        events.message(f"{len(predictor.kept)} images, {'corrupted and ' if predictor.noise else ''}"
                       f"reconstructed -> {grid}")
    else:
        events.warning(f"{grid}: no image was reconstructed, so no grid was drawn")


def evaluate(images: "str | list[str]", model: "str | Autoencoder", noise: float = 0.0, seed: int = 0,
             events: Events = SILENT) -> dict:
    """The mean reconstruction error over `images` (files, folders, globs), with
    `noise` that of the corrupted inputs too; unusable images are left out and counted."""
    predictor = model if isinstance(model, Autoencoder) else load(model, noise, seed)
    paths = expand_paths([images] if isinstance(images, str) else images)
    errors, noisy, skipped = [], [], []
    with events.progress(len(paths), "reconstructing") as advance:
        for record in predictor.predict(paths):
            advance()
            if "error" in record:
                skipped.append(f"{record['input']}: {record['error']}; skipped")
                continue
            errors.append(record["error_mse"])
            noisy.append(record.get("noisy_input_mse"))
    warn_all(events, skipped)
    if not errors:
        raise DlkitError("no usable images to evaluate on")
    metrics = {"model": predictor.source, "images": len(errors), "skipped": len(skipped), "noise": predictor.noise,
               "error_mse": mean(np.array(errors))}
    if predictor.noise:
        metrics["noisy_input_mse"] = mean(np.array(noisy))
    return metrics


# ---- The grid picture ------------------------------------------------------------------

# Each image is drawn at least this many pixels high (28 px digits are scaled up 3x).
MIN_CELL = 72
# Images per row band; more images wrap into further bands below.
COLUMNS = 8


def write_grid(kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]], path: str, noisy: bool) -> None:
    """A PNG of the kept images: per band, a row of inputs, of corrupted inputs (when
    `noisy`) and of reconstructions, each column one image; written atomically."""
    from PIL import Image, ImageDraw

    if not kept:
        raise DlkitError(f"{path}: no image was reconstructed, so there is no grid to draw")
    size = kept[0][0].shape[0]
    scale = max(1, -(-MIN_CELL // size))
    cell, gap, margin = size * scale, 4, 64
    names = ["input", "noisy", "output"] if noisy else ["input", "output"]
    picks = [0, 1, 2] if noisy else [0, 2]
    columns = min(COLUMNS, len(kept))
    bands = -(-len(kept) // columns)
    band_height = len(names) * (cell + gap) + gap * 2
    canvas = Image.new("RGB", (margin + columns * (cell + gap) + gap, bands * band_height), "white")
    draw = ImageDraw.Draw(canvas)
    for i, triple in enumerate(kept):
        band, column = divmod(i, columns)
        for row, pick in enumerate(picks):
            pixels = np.clip(np.rint(triple[pick] * 255.0), 0, 255).astype(np.uint8)
            tile = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).convert("RGB")
            tile = tile.resize((cell, cell), Image.NEAREST)
            canvas.paste(tile, (margin + gap + column * (cell + gap), band * band_height + gap + row * (cell + gap)))
    for band in range(bands):
        for row, name in enumerate(names):
            draw.text((4, band * band_height + gap + row * (cell + gap) + cell // 2 - 6), name, fill="black")
    with files.atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG", optimize=True)
