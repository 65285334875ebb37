"""Writing pictures, and the 2-D maps of extracted features. No TensorFlow here: a
features map needs only scikit-learn and matplotlib (the networks' pictures are in
.network). Nothing here prints.
"""

import io
import os

import numpy as np
from PIL import Image

from dlkit.core import files, plots
from dlkit.core.errors import DlkitError
from dlkit.tasks.visualize.config import Config

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def check_picture(path: str) -> str:
    """Refuses, before any work, a picture path that could not be written at the end."""
    return files.check_output(path, PICTURE_SUFFIXES, what="picture")


def check_image(path: str) -> str:
    """Refuses, before a network is loaded, a photo that is missing or not an image
    (Pillow reads only its header here; the full decoding, with its own checks, comes
    later)."""
    try:
        with Image.open(path):
            return path
    except FileNotFoundError:
        raise DlkitError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DlkitError(f"{path}: is a directory, not an image") from None
    except PermissionError:
        raise DlkitError(f"{path}: permission denied") from None
    except (OSError, ValueError):  # Pillow's UnidentifiedImageError is an OSError
        raise DlkitError(f"{path}: not an image (unrecognised file format)") from None


def save(picture: Image.Image, path: str) -> str:
    """Writes the picture atomically (PNG or JPEG, from the suffix); returns the path."""
    check_picture(path)
    kind = "JPEG" if path.lower().endswith((".jpg", ".jpeg")) else "PNG"
    with files.atomic_path(path) as tmp:
        picture.convert("RGB").save(tmp, format=kind)
    return path


def figure_image(plt, figure) -> Image.Image:
    """A matplotlib figure as a PIL image (closed once drawn)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=110, bbox_inches="tight", format="png")
    plt.close(figure)
    buffer.seek(0)
    with Image.open(buffer) as picture:
        return picture.convert("RGB")


# ---- Feature maps ----------------------------------------------------------------------

def read_features(path: str) -> tuple[np.ndarray, list[str] | None]:
    """(features [N, D], class names or None) from an `extract-features` .npz file."""
    try:
        with np.load(path, allow_pickle=False) as data:  # a pickle in a downloaded file could run code
            vectors = np.asarray(data["features"], dtype=np.float64)
            labels = data["labels"].tolist() if "labels" in data.files else []
    except FileNotFoundError:
        raise DlkitError(f"features file not found: {path}") from None
    except (OSError, ValueError, KeyError) as e:
        raise DlkitError(f"{path} is not a dlkit features file ({str(e).splitlines()[0][:120]})") from None
    if vectors.ndim != 2:
        raise DlkitError(f"{path}: expected one feature vector per row, got shape {vectors.shape}")
    if labels and len(labels) != len(vectors):
        raise DlkitError(f"{path}: {len(labels)} labels for {len(vectors)} feature vectors")
    if not np.isfinite(vectors).all():
        raise DlkitError(f"{path}: the features hold NaN or infinite values")
    return vectors, labels or None


def embed(vectors: np.ndarray, method: str = Config.map_method, perplexity: float = Config.perplexity,
          seed: int = Config.seed) -> np.ndarray:
    """Feature vectors [N, D] to 2-D points [N, 2] by t-SNE or PCA (scikit-learn)."""
    from sklearn.decomposition import PCA

    if len(vectors) < 3:
        raise DlkitError(f"a map needs at least 3 feature vectors, not {len(vectors)}")
    if method == "pca":
        return PCA(2, random_state=seed).fit_transform(vectors)
    if method != "tsne":
        raise DlkitError(f"unknown map method {method!r}; choose tsne or pca")
    from sklearn.manifold import TSNE

    # PCA to 50 dimensions first, as van der Maaten advises: faster, and less noise.
    if vectors.shape[1] > 50 and len(vectors) > 50:
        vectors = PCA(50, random_state=seed).fit_transform(vectors)
    # t-SNE needs a perplexity below the number of points; a third of them keeps it stable.
    perplexity = min(perplexity, max(1.0, (len(vectors) - 1) / 3))
    return TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed).fit_transform(vectors)


def features(path: str, method: str = Config.map_method, perplexity: float = Config.perplexity,
             seed: int = Config.seed) -> Image.Image:
    """A 2-D map of the feature vectors in `path` (written by `dlkit extract-features`),
    one colour per class with a legend; unlabelled features in one colour."""
    vectors, labels = read_features(path)
    points = embed(vectors, method, perplexity, seed)
    plt = plots.pyplot()
    figure, axis = plt.subplots(figsize=(6, 5))
    if labels is None:
        axis.scatter(points[:, 0], points[:, 1], s=14, color="C0", alpha=0.8)
    else:
        classes = sorted(set(labels))
        colours = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        label_array = np.array(labels)
        for i, name in enumerate(classes):
            chosen = label_array == name
            axis.scatter(points[chosen, 0], points[chosen, 1], s=14, alpha=0.8, color=colours(i % colours.N),
                         label=f"{name} ({int(chosen.sum())})")
        axis.legend(fontsize=8, markerscale=1.5, loc="best", ncols=1 if len(classes) <= 12 else 2)
    axis.set_xticks([])
    axis.set_yticks([])
    shown = "t-SNE" if method == "tsne" else "PCA"
    axis.set_title(f"{os.path.basename(path)}: {len(vectors)} vectors of {vectors.shape[1]} values, {shown}",
                   fontsize=9)
    return figure_image(plt, figure)
