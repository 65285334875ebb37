"""Files written so that nothing is ever half-written: atomic paths, JSON, checksums.

Nothing here imports TensorFlow (plots, Word2Vec and the CLI use it without paying for
the import).
"""

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from typing import Any, Iterator

from dlkit.core.errors import DlkitError


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yields a temporary path beside `path` (same suffix) to write; renames it into
    place only if the block finishes. Works for files and for folders."""
    path = os.path.abspath(path)
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    stem, suffix = os.path.splitext(name)
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{suffix}", dir=folder)
    os.close(fd)
    os.unlink(tmp)  # the writer creates it (Keras refuses to overwrite some files)
    try:
        yield tmp
        _replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def _replace(tmp: str, path: str) -> None:
    if os.path.isdir(tmp) and os.path.exists(path):
        old = path + ".old"
        remove(old)
        os.replace(path, old)
        os.replace(tmp, path)
        remove(old)
    else:
        os.replace(tmp, path)


def remove(path: str) -> None:
    """A file, link or folder, if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def write_json(path: str, data: Any) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")


# The largest JSON file dlkit reads (a config, a vocabulary, a gazetteer's tables are a
# few MB): a file beyond it is a mistake or an attack on memory, not something to parse.
MAX_JSON_BYTES = 256 << 20


def check_regular(path: str, kind: str = "file", limit: int | None = None) -> None:
    """Refuses, before it is opened, what is not a regular file (a FIFO would hang the
    reader, /dev/zero would fill memory) or is larger than `limit` bytes."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        raise DlkitError(f"{path}: {kind} not found") from None
    except OSError as e:
        raise DlkitError(f"{path}: cannot read the {kind} ({e.strerror})") from None
    if not stat.S_ISREG(found.st_mode):
        raise DlkitError(f"{path}: the {kind} is not a regular file")
    if limit is not None and found.st_size > limit:
        raise DlkitError(f"{path}: the {kind} is {found.st_size / 2**20:,.0f} MiB, over the limit of "
                         f"{limit / 2**20:,.0f} MiB")


def read_json(path: str, kind: str = "JSON file") -> Any:
    """Parsed JSON, or one line naming the file and what is wrong with it."""
    check_regular(path, kind, MAX_JSON_BYTES)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DlkitError(f"{path}: {kind} not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DlkitError(f"{path}: not a readable {kind} ({str(e).splitlines()[0][:150]})") from None


def sha256(path: str) -> str:
    """Of a file, or of a folder (its files' relative names and contents, in order)."""
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for folder, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(folder, name)
                digest.update(os.path.relpath(full, path).encode() + b"\0")
                digest.update(sha256(full).encode())
        return digest.hexdigest()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def size(path: str) -> int:
    """Bytes in a file, or in all the files of a folder."""
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def hash_fraction(key: str) -> float:
    """A fixed number in [0, 1] for a string: splits by it never change between runs,
    machines or data orderings (the same item always lands on the same side)."""
    return int(hashlib.md5(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def check_output(path: str, suffixes: tuple[str, ...] = (), folder: bool = False, what: str = "output") -> str:
    """Refuses, before any work is done, an output that could not be written at the end:
    a wrong suffix, a folder where a file goes (or the reverse), or a place that cannot be
    written. Returns the path."""
    if suffixes and not path.lower().endswith(tuple(s.lower() for s in suffixes)):
        raise DlkitError(f"{path}: the {what} must end in {' or '.join(suffixes)}")
    if os.path.exists(path) and os.path.isdir(path) != folder:
        raise DlkitError(f"{path}: the {what} must be a {'folder' if folder else 'file'}, "
                         f"and a {'file' if folder else 'folder'} is there")
    parent = os.path.dirname(os.path.abspath(path))
    existing = parent
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise DlkitError(f"{path}: cannot write the {what} there ({existing} is not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DlkitError(f"{path}: cannot write the {what} there (no permission to write in {existing})")
    try:  # /proc, read-only mounts and full disks say yes to access() and no to writes
        # (probed where the first missing folder would be made, when the parent is missing)
        fd, probe = tempfile.mkstemp(prefix=".dlkit-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise DlkitError(f"{path}: cannot write the {what} there ({e.strerror})") from None
    return path


class OutputLock:
    """Held by the process writing an output (a training run): a second run with the same
    output is refused with the first one's pid instead of sharing its checkpoints. The
    lock is the kernel's (flock), so it is released even when its process is killed.
    Within one process, a new lock on the same output replaces the old one: a second
    run there comes after the first stopped (a library caller retrying after an error)."""

    _held: dict[str, "OutputLock"] = {}

    def __init__(self, output: str):
        import fcntl

        self.path = os.path.abspath(output).rstrip("/") + ".lock"
        if self.path in OutputLock._held:
            OutputLock._held[self.path].release()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._file = open(self.path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            raise DlkitError(f"{output} is being written by {holder}; wait for it to finish, "
                             f"or write to another -o") from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"dlkit (pid {os.getpid()})")
        self._file.flush()
        OutputLock._held[self.path] = self

    def release(self) -> None:
        if OutputLock._held.get(self.path) is self:
            del OutputLock._held[self.path]
        if not self._file.closed:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self._file.close()
