"""Turning command-line arguments into the items a command works on.

Arguments may be paths, globs, directories (walked recursively) or "-" for stdin.
Nothing here imports TensorFlow.
"""

import glob
import os
import sys
from dataclasses import dataclass
from typing import IO, Iterable, Iterator

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)


def expand_paths(
    args: Iterable[str],
    stdin: IO[str] | None = None,
    extensions: frozenset[str] = IMAGE_EXTENSIONS,
) -> list[str]:
    """Paths in argument order, duplicates kept (the user asked for them).

    A directory contributes its files with one of `extensions`, sorted; a file named
    explicitly is kept whatever its extension, so that a wrong file is reported rather
    than silently dropped; so is a glob that matches nothing.
    """
    paths: list[str] = []
    for arg in args:
        if arg == "-":
            stream = stdin if stdin is not None else sys.stdin
            paths.extend(expand_paths(_stdin_lines(stream), None, extensions))
        elif os.path.isdir(arg):
            paths.extend(_walk(arg, extensions))
        elif glob.has_magic(arg) and not os.path.exists(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            paths.extend(
                p for m in matches for p in (_walk(m, extensions) if os.path.isdir(m) else [m])
            )
            if not matches:
                paths.append(arg)
        else:
            paths.append(arg)
    return paths


def _stdin_lines(stream: IO[str]) -> list[str]:
    return [line.strip() for line in stream if line.strip()]


def _walk(root: str, extensions: frozenset[str]) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found.extend(
            os.path.join(folder, f)
            for f in sorted(files)
            if os.path.splitext(f)[1].lower() in extensions and not f.startswith(".")
        )
    return found


@dataclass(frozen=True)
class TextItem:
    """One text to process; `error` is set when the line could not be read."""

    input: str
    text: str
    error: str | None = None


def iter_texts(args: Iterable[str], stdin: IO[bytes] | None = None) -> Iterator[TextItem]:
    """Texts given as arguments, or one per line from stdin for "-".

    Stdin is read as bytes and decoded line by line, so a line that is not UTF-8 becomes
    one error item instead of ending the stream; lines are yielded as they arrive, so a
    pipeline produces output before its input ends.
    """
    for arg in args:
        if arg != "-":
            yield TextItem(arg, arg)
            continue
        stream = stdin if stdin is not None else sys.stdin.buffer
        for number, raw in enumerate(stream, 1):
            line = raw.rstrip(b"\r\n")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                shown = line.decode("utf-8", errors="replace")
                yield TextItem(shown, "", f"line {number} is not UTF-8 ({e.reason} at byte {e.start})")
                continue
            yield TextItem(text, text)
