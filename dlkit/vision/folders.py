"""Image data sets laid out as class folders, and counting the images a command is given.

A class-folder data set is a folder with one sub-folder of images per class, named after
the class (the layout of Keras' image_dataset_from_directory). Nothing here imports
TensorFlow.
"""

import os

from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import iter_paths


def class_folders(root: str, events: Events = SILENT) -> dict[str, list[str]]:
    """{class name: image paths}, classes sorted by name as image_dataset_from_directory
    sorts them, paths sorted within each class. Hidden folders are not classes; a class
    folder without images is skipped with a warning (a class being collected, a stray
    folder), as long as two classes remain."""
    if not os.path.isdir(root):
        raise DlkitError(f"{root}: not a folder (expected one sub-folder of images per class)")
    names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
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
