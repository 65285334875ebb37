"""MNIST's idx files as PNG class folders, the layout train-classifier reads."""

import gzip
import os

import numpy as np

from dlkit.core import files
from dlkit.core.errors import DlkitError


def read_idx(path: str) -> np.ndarray:
    """An array from an MNIST idx file (gzipped or not): magic, dims, big-endian data."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DlkitError(f"{path}: cannot read ({e})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise DlkitError(f"{path}: not an unsigned-byte idx file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DlkitError(f"{path}: truncated idx file ({body.size} of {int(np.prod(shape))} values)")
    return body.reshape(shape)


def import_mnist(mnist_dir: str, out_dir: str, test_size: int = 2000, prefix: str = "t10k") -> dict:
    """Writes MNIST's idx files as PNG class folders out_dir/{train,test}/{0..9}.

    The last `test_size` images are the test split (MNIST files are not ordered by digit).
    """
    from PIL import Image

    images = read_idx(os.path.join(mnist_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(mnist_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    if len(images) != len(labels):
        raise DlkitError(f"{mnist_dir}: {len(images)} images but {len(labels)} labels")
    if not 0 < test_size < len(images):
        raise DlkitError(f"--test-size must be between 1 and {len(images) - 1}")
    cut = len(images) - test_size
    with files.atomic_path(out_dir) as tmp:
        for subset, rows in (("train", range(cut)), ("test", range(cut, len(images)))):
            for digit in range(10):
                os.makedirs(os.path.join(tmp, subset, str(digit)))
            for i in rows:
                Image.fromarray(images[i]).save(os.path.join(tmp, subset, str(labels[i]), f"{i:05d}.png"))
    return {"input": mnist_dir, "output": out_dir, "train": cut, "test": test_size}
