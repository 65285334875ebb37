"""Captioning data: captioned photos in the layouts people download, and the photos'
CNN features, computed once and cached.
"""

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dlkit.core import files
from dlkit.core.errors import DlkitError
from dlkit.core.runtime import tf
from dlkit.tasks.captioner.config import Config
from dlkit.text.tokens import Vocabulary, pad, tokenize
from dlkit.vision import backbones
from dlkit.vision.images import image_dataset

BOS, EOS = "<start>", "<end>"


# ---- Data ------------------------------------------------------------------------------

@dataclass
class CaptionData:
    """Images (absolute paths) with their captions, per split."""

    layout: str
    splits: dict[str, dict[str, list[str]]]  # split -> image path -> captions
    skipped: list[str] = field(default_factory=list)  # one message per skipped item
    # How the splits were chosen: "files" (Flickr8k's split files), "coco" (its train/val
    # folders) or "hash" (a fixed hash of each image name, see _split).
    split_by: str = "hash"


def read_dataset(root: str, val_fraction: float = 0.1, test_fraction: float = 0.1) -> CaptionData:
    """Reads Flickr8k as on Kaggle (Images/ + captions.txt), the original Flickr8k
    (Flickr8k.token.txt + Flickr_8k.*Images.txt), or COCO (captions_*.json). Without
    split files or COCO folders, `val_fraction` and `test_fraction` of the images are
    held out by a hash of their names: training and evaluation find the same ones."""
    if not os.path.isdir(root):
        raise DlkitError(f"{root}: not a folder")
    coco = sorted(f for f in os.listdir(root) if f.startswith("captions_") and f.endswith(".json"))
    if os.path.exists(os.path.join(root, "captions.txt")):
        layout, captions, skipped = "flickr8k-kaggle", *_read_kaggle(root)
    elif os.path.exists(os.path.join(root, "Flickr8k.token.txt")):
        layout, captions, skipped = "flickr8k", *_read_token_file(root)
    elif coco:
        layout, captions, skipped = "coco", *_read_coco(root, coco)
    else:
        raise DlkitError(f"{root}: no captions found (expected captions.txt, Flickr8k.token.txt or captions_*.json)")
    present = {}
    for image, texts in captions.items():
        if not os.path.isfile(image):
            skipped.append(f"{image}: image missing, {len(texts)} caption(s) skipped")
        else:
            present[image] = texts
    if not present:
        raise DlkitError(f"{root}: none of the captioned images exist")
    splits, split_by = _split(root, present, layout, val_fraction, test_fraction)
    return CaptionData(layout, splits, skipped, split_by)


def _image_folder(root: str) -> str:
    for name in ("Images", "Flicker8k_Dataset", "Flickr8k_Dataset", "images"):
        if os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    return root


def _add(captions: dict, skipped: list, image: str, text: str, where: str) -> None:
    text = " ".join(text.split())
    if not text:
        skipped.append(f"{where}: empty caption skipped")
        return
    captions.setdefault(image, []).append(text)


def _read_kaggle(root: str):
    folder, captions, skipped = _image_folder(root), {}, []
    with open(os.path.join(root, "captions.txt"), encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header and [h.strip().lower() for h in header[:2]] != ["image", "caption"]:
            raise DlkitError(f"{root}/captions.txt: expected a header 'image,caption'")
        for number, row in enumerate(rows, 2):
            if len(row) < 2:
                skipped.append(f"captions.txt line {number}: malformed line skipped")
                continue
            _add(captions, skipped, os.path.join(folder, row[0].strip()), ",".join(row[1:]),
                 f"captions.txt line {number}")
    return captions, skipped


def _read_token_file(root: str):
    folder, captions, skipped = _image_folder(root), {}, []
    with open(os.path.join(root, "Flickr8k.token.txt"), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            name, tab, text = line.rstrip("\n").partition("\t")
            if not tab or "#" not in name:
                if line.strip():
                    skipped.append(f"Flickr8k.token.txt line {number}: malformed line skipped")
                continue
            _add(captions, skipped, os.path.join(folder, name.rsplit("#", 1)[0]), text,
                 f"Flickr8k.token.txt line {number}")
    return captions, skipped


def _read_coco(root: str, files: list[str]):
    captions, skipped = {}, []
    for name in files:
        try:
            with open(os.path.join(root, name), encoding="utf-8") as f:
                data = json.load(f)
            folder = os.path.join(root, name[len("captions_"):-len(".json")])
            folder = folder if os.path.isdir(folder) else _image_folder(root)
            files_by_id = {image["id"]: os.path.join(folder, image["file_name"]) for image in data["images"]}
            for note in data["annotations"]:
                image = files_by_id.get(note.get("image_id"))
                if image is None:
                    skipped.append(f"{name}: caption {note.get('id')} names an unknown image")
                    continue
                _add(captions, skipped, image, note.get("caption", ""), f"{name} caption {note.get('id')}")
        except (ValueError, KeyError, TypeError) as e:
            raise DlkitError(f"{name}: not a COCO captions file ({e})") from None
    return captions, skipped


def _split(root: str, captions: dict, layout: str, val_fraction: float, test_fraction: float) -> tuple[dict, str]:
    """(splits, how they were chosen): the official Flickr8k split files when present;
    COCO's train/val folders; else a fixed hash of each image name (validation below
    val_fraction, test in the next test_fraction). A missing validation split is held
    out of the training images by the same hash."""
    by_name = {os.path.basename(p): p for p in captions}
    splits = {}
    for split in ("train", "dev", "test"):
        path = os.path.join(root, f"Flickr_8k.{split}Images.txt")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                names = [line.strip() for line in f if line.strip() in by_name]
            splits["val" if split == "dev" else split] = {by_name[n]: captions[by_name[n]] for n in names}
    split_by = "files" if splits else "hash"
    if layout == "coco" and not splits:
        split_by = "coco"
        for image, texts in captions.items():
            split = "val" if "val" in os.path.basename(os.path.dirname(image)) else "train"
            splits.setdefault(split, {})[image] = texts
    if not splits:
        splits = {"train": {}, "val": {}, "test": {}}
        for image, texts in captions.items():
            place = files.hash_fraction(os.path.basename(image))
            split = "val" if place < val_fraction else "test" if place < val_fraction + test_fraction else "train"
            splits[split][image] = texts
        return {k: v for k, v in splits.items() if v or k == "val"}, split_by
    if "train" not in splits:  # split files for the held-out images only: train on the rest
        taken = {p for split in splits.values() for p in split}
        splits["train"] = {p: t for p, t in captions.items() if p not in taken}
    if not splits.get("val"):  # hold out a fixed share of the training images
        train, splits["val"] = splits["train"], {}
        splits["train"] = {}
        for image, texts in train.items():
            splits["val" if files.hash_fraction(os.path.basename(image)) < val_fraction else "train"][image] = texts
    return splits, split_by


def words(caption: str) -> list[str]:
    return [t for t in tokenize(caption) if t not in {".", ","}]


# ---- Data: cached image features --------------------------------------------------------

class FeatureCache:
    """CNN features computed once per (backbone, size, kind, image file) and kept on disk,
    so epochs only run the decoder and a second training run starts at once.

    With `write` False (captioning, evaluating) features already cached are read, and
    new ones are not stored: a grid of features takes ~125 KB a photo, more than most
    photos, and a photo captioned once is rarely captioned again."""

    def __init__(self, backbone: str, image_size: int, spatial: bool, folder: str | None = None,
                 write: bool = True):
        backbones.get(backbone)  # an unknown name is refused here, before any work
        self.backbone, self.image_size, self.spatial = backbone, image_size, spatial
        self.write = write
        root = folder or os.environ.get("DLKIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "dlkit")
        self.folder = os.path.join(root, "features", f"{backbone}-{image_size}-{'grid' if spatial else 'pooled'}")
        self._model = None
        self._base = None

    def _key(self, path: str) -> str:
        stat = os.stat(path)
        return hashlib.sha1(f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()

    def model(self):
        if self._model is None:
            self.network()  # built (its weights loaded) before tracing, not inside the graph
            self._model = tf.function(self.features, reduce_retracing=True)
        return self._model

    def features(self, pixels):
        """The CNN's features of RGB pixels 0..255: (photos, rows, columns, channels) for
        a grid, (photos, channels) pooled."""
        preprocess = backbones.get(self.backbone).preprocess
        return self.network()(preprocess(tf.cast(pixels, tf.float32)), training=False)

    def network(self) -> "keras.Model":
        """The backbone, built on first use."""
        if self._base is None:
            self._base = backbones.build(self.backbone, include_top=False, input_size=self.image_size,
                                         pooling=None if self.spatial else "avg")
        return self._base

    def compute(self, paths: list[str], advance: Callable[[int], None] | None = None) -> tuple[dict, dict]:
        """({path: features (regions, channels) float16}, {path: error}) for all paths;
        `advance(n)` after each batch (a progress bar's)."""
        if self.write:
            os.makedirs(self.folder, exist_ok=True)
        found, errors, todo = {}, {}, []
        for path in paths:
            cached = os.path.join(self.folder, self._key(path) + ".npy") if os.path.exists(path) else None
            if cached and os.path.exists(cached):
                try:
                    found[path] = np.load(cached, allow_pickle=False)
                    continue
                except (OSError, ValueError):
                    pass  # a damaged cache entry is recomputed
            todo.append(path)
        if advance and len(found):
            advance(len(found))
        start = 0
        for images, failures in image_dataset(todo, self.image_size, 32) if todo else []:
            features = self.model()(images).numpy().astype(np.float16)
            for i, (vector, error) in enumerate(zip(features, failures.numpy())):
                path = todo[start + i]
                if error:
                    errors[path] = error.decode()
                    continue
                vector = vector.reshape(-1, vector.shape[-1])
                if self.write:
                    with files.atomic_path(os.path.join(self.folder, self._key(path) + ".npy")) as tmp:
                        with open(tmp, "wb") as f:
                            np.save(f, vector)
                found[path] = vector
            start += len(features)
            if advance:
                advance(len(features))
        return found, errors


def make_dataset(images: dict[str, list[str]], features: dict, vocab: Vocabulary, config: Config,
                 shuffle: bool) -> "tf.data.Dataset":
    """One element per caption: ((features, decoder input ids), next-word ids, mask)."""
    rows, inputs, targets = [], [], []
    paths = [p for p in images if p in features]
    index = {p: i for i, p in enumerate(paths)}
    for path in paths:
        for caption in images[path]:
            ids = vocab.encode([BOS] + words(caption)[: config.max_length - 1] + [EOS])
            inputs.append(ids[:-1])
            targets.append(ids[1:])
            rows.append(index[path])
    decoder_in, decoder_out = pad(inputs, config.max_length), pad(targets, config.max_length)
    grid = np.stack([features[p] for p in paths])  # one copy per image, looked up per caption
    dataset = tf.data.Dataset.from_tensor_slices((np.array(rows, np.int32), decoder_in, decoder_out))
    if shuffle:
        dataset = dataset.shuffle(len(rows), seed=config.seed, reshuffle_each_iteration=True)
    grid_tensor = tf.constant(grid)
    dataset = dataset.batch(config.batch_size).map(
        lambda r, x, y: ((tf.cast(tf.gather(grid_tensor, r), tf.float32), x), y,
                         tf.cast(tf.not_equal(y, 0), tf.float32)),
        num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
