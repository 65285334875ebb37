"""Seeds a writable Keras cache (KERAS_HOME) from ../shared/keras.

    python tests/keras_home.py DEST

Some checkouts turn the shared cache's symbolic links (the 96-192 px no-top weights are
links to the 224 px file) into small text files holding the target's name; those are
replaced by copies of their target, so Keras finds real weights under every name.
"""

import os
import shutil
import sys
from pathlib import Path


def seed(source: Path, dest: Path) -> None:
    shutil.copytree(source, dest, dirs_exist_ok=True)  # follows real links
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    for path in (dest / "models").glob("*.h5"):
        if path.stat().st_size < 1024:
            target = path.with_name(path.read_text().strip())
            if target.is_file() and target.stat().st_size >= 1024:
                shutil.copyfile(target, path)


if __name__ == "__main__":
    shared = Path(os.environ.get("DLKIT_SHARED", Path(__file__).resolve().parent.parent.parent / "shared"))
    seed(shared / "keras", Path(sys.argv[1]))
