"""Reading and writing the pictures of style transfer (no TensorFlow): what the
optimisation (.model), the fast stylizer's training (.fast) and its inference
(.predict) share."""

import os

import numpy as np
from PIL import Image

from dlkit.core import files
from dlkit.core.errors import DlkitError, ItemError
from dlkit.vision.images import load_image

# The formats an output image may have, by suffix.
IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
                 ".tiff": "TIFF"}


def fit_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """(width, height) scaled so the longer side is `longest`, neither below 16 px."""
    scale = longest / max(width, height)
    return max(16, round(width * scale)), max(16, round(height * scale))


def read_image(path: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A float32 RGB array (0..255), resized to (width, height) if given; a file that is
    not a usable image is a DlkitError naming it."""
    try:
        return load_image(path, size).astype(np.float32)
    except ItemError as e:
        raise DlkitError(f"{path}: {e}") from None


def image_format(path: str) -> str:
    """The Pillow format that `path`'s suffix names."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in IMAGE_FORMATS:
        raise DlkitError(f"{path}: unknown image format {suffix!r}; use .jpg, .png, .webp, .bmp or .tif")
    return IMAGE_FORMATS[suffix]


def check_image_output(path: str) -> str:
    """Refuses, before any work, an output image that could not be written at the end
    (an unknown format, a place that cannot be written). Returns the path."""
    image_format(path)
    return files.check_output(path, what="image")


def save_image(array: np.ndarray, path: str) -> None:
    """Writes an RGB image atomically, in the format its extension names."""
    kind = image_format(path)
    image = Image.fromarray(np.clip(np.asarray(array) + 0.5, 0, 255).astype(np.uint8))
    with files.atomic_path(path) as tmp:
        image.save(tmp, format=kind, **({"quality": 95} if kind == "JPEG" else {}))


def resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float image resized to (width, height): Lanczos down, bicubic up."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    resample = Image.LANCZOS if size[0] < image.shape[1] else Image.BICUBIC
    return np.asarray(Image.fromarray(image.astype(np.uint8)).resize(size, resample), np.float32)


def preserve_colors(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The stylized image's luminance with the content photo's colours (YCbCr)."""
    stylized_y = Image.fromarray(np.clip(stylized, 0, 255).astype(np.uint8)).convert("YCbCr")
    content_ycc = Image.fromarray(np.clip(content, 0, 255).astype(np.uint8)).resize(stylized_y.size).convert("YCbCr")
    y = stylized_y.split()[0]
    _, cb, cr = content_ycc.split()
    return np.asarray(Image.merge("YCbCr", (y, cb, cr)).convert("RGB"), dtype=np.float32)
