"""Turning command-line arguments into the items a command works on, lazily.

Arguments may be paths, globs, directories (walked recursively) or "-" for stdin (one
path or text per line). Items are yielded as they are found or read, so a command
answers the first lines of a pipe before the pipe ends; `batched` groups them for the
models, closing a batch early when input pauses. Names that are not UTF-8 are kept
(surrogate escapes, as Python's os functions give them) to open the file, and shown
escaped. Nothing here imports TensorFlow.
"""

import glob
import itertools
import os
import queue
import sys
import threading
from dataclasses import dataclass
from typing import IO, Any, Iterable, Iterator, TypeVar

from dlkit.core.errors import DlkitError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)
# A line longer than this is refused rather than held in memory: no sentence or path is
# a megabyte long, and a binary file piped in by mistake may have no newline at all.
MAX_LINE_BYTES = 1 << 20
# A batch waits at most this long for its next item before it is answered: long enough
# to fill batches from a fast producer, short enough to feel immediate to a slow one.
IDLE_SECONDS = 0.2

T = TypeVar("T")


@dataclass(frozen=True)
class Item:
    """One thing to process: `input` is how records name it (printable), `value` what the
    model gets (a path or a text), and `error` why it cannot be processed, if so."""

    input: str
    value: Any
    error: str | None = None


def shown(name: str) -> str:
    """A name as records and messages show it: bytes that are not UTF-8 as \\xNN escapes,
    control characters escaped, so that a hostile name can neither break the JSON nor
    the terminal."""
    text = os.fsencode(name).decode("utf-8", errors="backslashreplace") if _has_surrogates(name) else name
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in text)


def text_item(text: str) -> Item:
    """A text as an Item, or an error Item for one that is not Unicode a tokenizer can
    read: bytes that were not UTF-8 (an argument's surrogate escapes) or a lone UTF-16
    surrogate (JSON's "\\ud800"), which the tokenizers raise on."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = text[e.start]
        what = (f"byte {shown(bad)} is not UTF-8" if "\udc80" <= bad <= "\udcff" else
                f"a lone UTF-16 surrogate ({shown(bad)}) is not a character")
        return Item(shown(text), "", f"not a text: {what} (character {e.start + 1})")
    return Item(text, text)


def as_items(values: Iterable[Any]) -> Iterator[Item]:
    """Items from Items or plain values (a library caller's list of paths or texts)."""
    for value in values:
        yield value if isinstance(value, Item) else Item(shown(str(value)), value)


# ---- Paths -----------------------------------------------------------------------------

def iter_paths(args: Iterable[str], stdin: IO[bytes] | None = None,
               extensions: frozenset[str] = IMAGE_EXTENSIONS) -> Iterator[Item]:
    """Path items in argument order, duplicates kept (the user asked for them).

    A directory contributes its files with one of `extensions`, sorted, or one error item
    when it holds none; a file named explicitly is kept whatever its extension, so that a
    wrong file is reported rather than silently dropped; so is a glob that matches nothing.
    """
    for arg in args:
        if arg == "-":
            for number, line in _lines(stdin if stdin is not None else sys.stdin.buffer):
                if isinstance(line, Item):
                    yield line
                elif line.strip():
                    path = os.fsdecode(line.strip())
                    yield from _path_items(path, extensions, from_stdin=True)
        elif glob.has_magic(arg) and not os.path.exists(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                yield Item(shown(arg), arg, "no such file, and no file matches it as a pattern")
            for match in matches:
                yield from _path_items(match, extensions)
        else:
            yield from _path_items(arg, extensions)


def _path_items(path: str, extensions: frozenset[str], from_stdin: bool = False) -> Iterator[Item]:
    if not os.path.isdir(path):
        yield Item(shown(path), path)
        return
    found = False
    for file in _walk(path, extensions):
        found = True
        yield Item(shown(file), file)
    if not found:
        kinds = ", ".join(sorted(extensions))
        yield Item(shown(path), path, f"a folder with no files to read ({kinds})")


def expand_paths(args: Iterable[str], stdin: IO[bytes] | None = None,
                 extensions: frozenset[str] = IMAGE_EXTENSIONS) -> list[str]:
    """All paths at once, for commands that need the whole list (training data); a
    folder with nothing to read or a pattern that matches nothing stops the command."""
    paths = []
    for item in iter_paths(args, stdin, extensions):
        if item.error is not None:
            raise DlkitError(f"{item.input}: {item.error}")
        paths.append(item.value)
    return paths


def _walk(root: str, extensions: frozenset[str]) -> Iterator[str]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() in extensions and not name.startswith("."):
                yield os.path.join(folder, name)


# ---- Texts -----------------------------------------------------------------------------

def iter_texts(args: Iterable[str], stdin: IO[bytes] | None = None) -> Iterator[Item]:
    """Text items: each argument (an error item for one that is not UTF-8: text_item),
    or one per line of stdin for "-".

    Stdin is read as bytes and decoded line by line, so a line that is not UTF-8 (or one
    longer than MAX_LINE_BYTES) becomes one error item instead of ending the stream."""
    for arg in args:
        if arg != "-":
            yield text_item(arg)
            continue
        for number, line in _lines(stdin if stdin is not None else sys.stdin.buffer):
            if isinstance(line, Item):
                yield line
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                yield Item(line.decode("utf-8", errors="backslashreplace"), "",
                           f"line {number} is not UTF-8 ({e.reason} at byte {e.start})")
                continue
            yield Item(text, text)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, "bytes | Item"]]:
    """(line number, the line without its end), or an error Item for a line too long;
    read as it arrives (readline, not iteration, which would wait for a full buffer)."""
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of it
                line = stream.readline(MAX_LINE_BYTES)
            yield number, Item(f"line {number}", "", f"line {number} is longer than {MAX_LINE_BYTES:,} bytes")
            continue
        yield number, line.rstrip(b"\r\n")


# ---- Batches ---------------------------------------------------------------------------

def batched(items: Iterable[T], size: int, idle: float | None = IDLE_SECONDS) -> Iterator[list[T]]:
    """Lists of up to `size` items, in order. A list or tuple is cut as it is; any other
    iterable (stdin, a folder walk) is read on a thread, and a batch closes as soon as
    the next item is `idle` seconds late, so a slow producer still gets prompt answers."""
    if idle is None or isinstance(items, (list, tuple)):
        source = iter(items)
        while batch := list(itertools.islice(source, size)):
            yield batch
        return
    yield from _batched_by_time(iter(items), size, idle)


_END = object()
_readers: set[threading.Thread] = set()


def reading() -> bool:
    """Whether an input reader is still waiting for input (stdin not yet at its end): a
    command stopped then must leave without Python's shutdown, which would wait on the
    reader's lock on stdin and abort."""
    return any(reader.is_alive() for reader in _readers)


def _batched_by_time(items: Iterator[T], size: int, idle: float) -> Iterator[list[T]]:
    arrived: queue.Queue = queue.Queue(maxsize=4 * size)  # bounded: the reader never runs far ahead

    def read() -> None:
        try:
            for item in items:
                arrived.put(item)
            arrived.put(_END)
        except BaseException as e:  # handed to the consumer, which raises it
            arrived.put(_Failure(e))

    reader = threading.Thread(target=read, daemon=True, name="dlkit-input")
    reader.start()
    _readers.add(reader)
    batch: list[T] = []
    while True:
        try:
            item = arrived.get(timeout=idle) if batch else arrived.get()
        except queue.Empty:
            yield batch
            batch = []
            continue
        if item is _END:
            break
        if isinstance(item, _Failure):
            raise item.error
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _Failure:
    error: BaseException
