"""Image data sets laid out as class folders, and counting the images a command is given.

A class-folder data set is a folder with one sub-folder of images per class, named after
the class (the layout of Keras' image_dataset_from_directory). A split layout is a
folder holding train/ plus a held-out split (validation/, val/ or test/), each with the
same class folders: what `dlkit import-mnist` writes and what most downloaded data sets
look like. Nothing here imports TensorFlow.
"""

import os

from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import iter_paths


TRAIN_SPLIT = "train"
# Held-out splits in the order they are preferred for validation: a test split is only
# used when there is nothing else, so that a separate validation split stays untouched.
HELD_OUT_SPLITS = ("validation", "val", "test")


def _subfolders(root: str) -> list[str]:
    return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))


def _splits(root: str) -> list[str]:
    """The split folders of `root` when its sub-folders are all split names and train/
    is one of them; [] otherwise (an ordinary class-folder data set)."""
    names = _subfolders(root) if os.path.isdir(root) else []
    split_names = {TRAIN_SPLIT, *HELD_OUT_SPLITS}
    if TRAIN_SPLIT not in names or len(names) < 2 or not set(names) <= split_names:
        return []
    # A split holds class folders; "train" and "test" folders of images are classes.
    if not all(_subfolders(os.path.join(root, name)) for name in names):
        return []
    return names


def split_layout(root: str) -> tuple[str, str] | None:
    """(training folder, held-out folder) when `root` is a split layout, None when it is
    an ordinary class-folder data set. Splits whose class folders differ are an error
    naming the folders to pass instead."""
    names = _splits(root)
    if not names:
        return None
    held_out = next(name for name in HELD_OUT_SPLITS if name in names)
    train, other = os.path.join(root, TRAIN_SPLIT), os.path.join(root, held_out)
    train_classes, other_classes = set(_subfolders(train)), set(_subfolders(other))
    if train_classes != other_classes:
        differ = sorted(train_classes ^ other_classes)
        raise DlkitError(f"{root}: holds {TRAIN_SPLIT}/ and {held_out}/ splits whose class folders differ "
                         f"({', '.join(differ[:5])}{' ...' if len(differ) > 5 else ''} in only one); pass "
                         f"{train} as the data and a folder with the same classes for validation")
    return train, other


def class_folders(root: str, events: Events = SILENT) -> dict[str, list[str]]:
    """{class name: image paths}, classes sorted by name as image_dataset_from_directory
    sorts them, paths sorted within each class. Hidden folders are not classes; a class
    folder without images is skipped with a warning (a class being collected, a stray
    folder), as long as two classes remain."""
    if not os.path.isdir(root):
        raise DlkitError(f"{root}: not a folder (expected one sub-folder of images per class)")
    splits = _splits(root)
    if splits:
        # Read as classes, train/ and test/ would give a 2-class "train vs test" model.
        held_out = next(name for name in HELD_OUT_SPLITS if name in splits)
        raise DlkitError(f"{root}: is split into {', '.join(s + '/' for s in splits)} (each holding class "
                         f"folders), not one folder per class; pass {os.path.join(root, TRAIN_SPLIT)} or "
                         f"{os.path.join(root, held_out)}")
    names = _subfolders(root)
    if len(names) < 2:
        raise DlkitError(f"{root}: found {len(names)} class folder(s); a classifier needs at least "
                         f"2 sub-folders, one per class, each holding that class's images")
    classes = {}
    for name in names:
        paths = [item.value for item in iter_paths([os.path.join(root, name)]) if item.error is None]
        if paths:
            classes[name] = paths
        else:
            events.warning(f"{os.path.join(root, name)}: class folder holds no images; skipped")
    if len(classes) < 2:
        raise DlkitError(f"{root}: {len(classes)} of its {len(names)} class folders hold images; a classifier "
                         f"needs at least 2")
    return classes


def image_count(args: list[str]) -> int | None:
    """How many records the command-line arguments will give (images, and the errors of
    patterns and folders that name none), for a progress bar's total; None when stdin
    ("-") is among them, since it is read only as the work goes."""
    if "-" in args:
        return None
    return sum(1 for _ in iter_paths(args))
