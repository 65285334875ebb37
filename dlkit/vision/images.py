"""Loading images the way users' files really are, and streaming them to a model.

Pillow decodes (it knows EXIF, CMYK, palettes, 16-bit and truncated files), on threads
(it releases the GIL), so the next images are ready while the model works: through
tf.data for a known list of files (image_dataset, for training), or as paths arrive for a
Predictor answering a stream (ImagePredictor, which needs no TensorFlow: its network is
any function of pixels, an ONNX twin's or a Keras model's).
"""

import os
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dlkit.core.errors import ItemError
from dlkit.core.inputs import IDLE_SECONDS, Item, as_items
from dlkit.core.task import Predictor

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
    except Exception as e:  # any other decoder's failure (NotImplementedError for a crafted DDS header) is this file's
        raise ItemError(unreadable(e)) from None


def unreadable(error: Exception) -> str:
    """A decoder's failure on one file, as that file's error: one line."""
    first = (str(error).strip().splitlines() or [""])[0][:150]
    return f"not a readable image ({type(error).__name__}{': ' + first if first else ''})"


def try_load_image(path: str, size: int | tuple[int, int] | None = None) -> "np.ndarray | ItemError":
    """load_image's array, or the ItemError saying why there is none (for work done on
    threads, where an exception would stop the whole map)."""
    try:
        return load_image(path, size)
    except ItemError as e:
        return e


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
    pixels = try_load_image(os.fsdecode(path), int(size))
    if isinstance(pixels, ItemError):
        return np.zeros((size, size, 3), np.uint8), str(pixels).encode()
    return pixels, b""


def image_dataset(paths: list[str], size: int, batch_size: int) -> "tf.data.Dataset":
    """Batches of (uint8 images [B, size, size, 3], error messages [B]) in input order.

    An unusable image comes through as a black image with a non-empty error, so one bad
    file never stops a batch; callers report it and ignore its prediction.
    """
    from dlkit.core.runtime import tf

    def decode(path):
        image, error = tf.numpy_function(_decode, [path, size], [tf.uint8, tf.string])
        image.set_shape((size, size, 3))
        error.set_shape(())
        return image, error

    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(paths, dtype=tf.string))
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class ImagePredictor(Predictor):
    """A Predictor of image paths through one network: each image is decoded on a thread
    as soon as its path arrives, and each batch's good images go through
    `network(pixels)` together (uint8 [N, input_size, input_size, 3] in, or [N, height,
    width, 3] for an input_size of (width, height); an ONNX twin's graph, or
    dlkit.core.runtime.network for a Keras model). Subclasses turn the network's
    outputs into results (predict_images)."""

    def __init__(self, network: Callable[[np.ndarray], Any], input_size: int, batch_size: int = 32):
        self.network, self.input_size, self.batch_size = network, input_size, batch_size

    def outputs(self, images: np.ndarray) -> np.ndarray:
        """The network's outputs for uint8 images [N, input_size, input_size, 3]."""
        return self.network(images)

    def predict(self, items: Iterable[Any], idle: float | None = IDLE_SECONDS) -> Iterator[dict]:
        # Decoding starts as each path is read, not when its batch is full: the next
        # batch's images are ready while the model answers this one (what tf.data's
        # prefetching does for a list known in advance), and no answer waits for it.
        pool = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="dlkit-decode")

        def decoding() -> Iterator[Item]:
            for item in as_items(items):
                if item.error is None:
                    item = Item(item.input, pool.submit(try_load_image, item.value, self.input_size))
                yield item

        try:
            yield from super().predict(decoding(), idle)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def predict_batch(self, values: list) -> list:
        """Values are paths, or the decodings predict() started for them."""
        decoded = [v.result() if isinstance(v, Future) else try_load_image(v, self.input_size) for v in values]
        good = [pixels for pixels in decoded if not isinstance(pixels, ItemError)]
        results = iter(self.predict_images(np.stack(good)) if good else ())
        return [pixels if isinstance(pixels, ItemError) else next(results) for pixels in decoded]

    def predict_images(self, images: np.ndarray) -> list[dict]:
        """One result per image of uint8 images [N, input_size, input_size, 3]."""
        raise NotImplementedError
