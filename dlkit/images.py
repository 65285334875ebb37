"""Loading images the way users' files really are, and streaming them to a model.

Pillow decodes (it knows EXIF, CMYK, palettes, 16-bit and truncated files); tf.data runs
the decoding in parallel and keeps the next batch ready while the model works.
"""

import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dlkit.errors import ItemError
from dlkit.runtime import tf

# 1e8 pixels is a 10000x10000 photo, already ~300 MB as RGB; beyond that a file is more
# likely a decompression bomb than a picture someone wants classified.
MAX_PIXELS = 100_000_000


def load_image(path: str, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """An RGB uint8 array (H, W, 3), resized to `size` (square int or (width, height)).

    Raises ItemError with a one-line reason for anything that is not a usable image.
    """
    target = (size, size) if isinstance(size, int) else size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                if width * height > MAX_PIXELS:
                    raise ItemError(f"image too large ({width}x{height} pixels, limit {MAX_PIXELS:,})")
                if target and im.format == "JPEG":
                    # Decode at a reduced scale when the target is much smaller: much faster.
                    im.draft("RGB", target)
                im.load()
                return _to_rgb_array(ImageOps.exif_transpose(im), target)
    except ItemError:
        raise
    except FileNotFoundError:
        raise ItemError("no such file") from None
    except IsADirectoryError:
        raise ItemError("is a directory") from None
    except PermissionError:
        raise ItemError("permission denied") from None
    except UnidentifiedImageError:
        raise ItemError("not an image (unrecognised file format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ItemError("image too large (possible decompression bomb)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ItemError(f"corrupt or truncated image ({e})") from None


def _to_rgb_array(im: Image.Image, target: tuple[int, int] | None) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        im = _high_bit_depth_to_l(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Transparent areas on white, as a viewer shows them, not on black.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    if im.mode != "RGB":
        im = im.convert("RGB")
    if target and im.size != target:
        im = im.resize(target, Image.BILINEAR, reducing_gap=3.0)
    return np.asarray(im, dtype=np.uint8)


def _high_bit_depth_to_l(im: Image.Image) -> Image.Image:
    """Scale 16-bit and 32-bit grey to 8 bits; Pillow's convert would clip them at 255."""
    values = np.asarray(im, dtype=np.float64)
    top = 65535.0 if im.mode.startswith("I;16") else max(float(values.max()), 1.0)
    if im.mode == "F" and top <= 1.0:
        top = 1.0
    scaled = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def _decode(path: bytes, size: int) -> tuple[np.ndarray, bytes]:
    try:
        return load_image(os.fsdecode(path), int(size)), b""
    except ItemError as e:
        return np.zeros((size, size, 3), np.uint8), str(e).encode()


def image_dataset(paths: list[str], size: int, batch_size: int) -> "tf.data.Dataset":
    """Batches of (uint8 images [B, size, size, 3], error messages [B]) in input order.

    An unusable image comes through as a black image with a non-empty error, so one bad
    file never stops a batch; callers report it and ignore its prediction.
    """

    def decode(path):
        image, error = tf.numpy_function(_decode, [path, size], [tf.uint8, tf.string])
        image.set_shape((size, size, 3))
        error.set_shape(())
        return image, error

    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(paths, dtype=tf.string))
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
