"""Results on stdout, everything else on stderr.

Results are JSON Lines when stdout is not a terminal (or when asked), else a rich table.
Messages, warnings and progress bars go to stderr so that pipes carry only results.
The JSON Lines encoding itself is dlkit.core.records.json_line (re-exported here).
Nothing here imports TensorFlow, and rich is imported only when something is drawn with
it (a table, a message, a progress bar on a terminal): a command piping its records
pays nothing for it (about 45 ms of a light one-photo classify).
"""

import contextlib
import json
import os
import sys
from typing import Any, Callable, Iterator

from typing import TYPE_CHECKING

from dlkit.core.events import Events
from dlkit.core.records import json_line

if TYPE_CHECKING:
    from rich.console import Console

Formatter = Callable[[Any], str]


def _default_format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


class Output:
    """Collects a command's records and writes them in the right form.

    `columns` maps record keys to table formatters (None: the default); they matter only
    for the table. Error records ({"input", "error"}) are also reported on stderr and
    make `exit_code` 1.
    """

    def __init__(
        self,
        json_lines: bool | None = None,
        columns: dict[str, Formatter | None] | None = None,
        stdout=None,
        stderr: "Console | None" = None,
    ):
        self.stdout = stdout if stdout is not None else sys.stdout
        self.json_lines = not _isatty(self.stdout) if json_lines is None else json_lines
        self.columns = columns or {}
        self.stderr = stderr  # None: the shared stderr console, made when first needed
        self.errors = 0
        self._rows: list[dict] = []

    def emit(self, record: dict) -> None:
        if "error" in record:
            self.errors += 1
            error_line(f"{record.get('input', '')}: {record['error']}", self.stderr)
        if self.json_lines:
            # A surrogate no input check caught is written as JSON's \uXXXX escape: the
            # output stays valid UTF-8 whatever the stream's error handler would do with it.
            self.stdout.write(json_line(record).encode("utf-8", "backslashreplace").decode("utf-8") + "\n")
            self.stdout.flush()  # downstream commands in a pipe see each record at once
        else:
            self._rows.append(record)

    def error(self, input: str, message: str) -> None:
        self.emit({"input": input, "error": message})

    def close(self) -> int:
        """Writes the table (terminal mode) and returns the exit code."""
        if not self.json_lines and self._rows:
            self._print_table()
        return 1 if self.errors else 0

    def _print_table(self) -> None:
        keys = list(self.columns) or list(dict.fromkeys(k for r in self._rows for k in r))
        if any("error" in r for r in self._rows) and "error" not in keys:
            keys.append("error")
        cells = {k: [(self.columns.get(k) or _default_format)(r.get(k)) if k in r else "" for r in self._rows]
                 for k in keys}
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        console = Console(file=self.stdout)
        widths = fit_columns(cells, console.width)
        hidden = [k for k in keys if k not in widths]
        if hidden and len(self._rows) == 1:  # one record (a training's summary): a field a line, all shown
            cells = {"field": keys, "value": [cells[k][0] for k in keys]}
            widths = fit_columns(cells, console.width)
            keys, hidden = ["field", "value"], []
        table = Table(show_header=True, header_style="bold",
                      caption=Text(f"not shown at this width: {', '.join(hidden)} (--json shows all)")
                      if hidden else None)
        for key, width in widths.items():
            table.add_column(key, width=width, overflow="fold")
        for i in range(len(next(iter(cells.values())))):
            # Text, not str: a cell holding "[/b]" is a user's text, not rich markup.
            table.add_row(*(Text(shorten_path(cells[k][i], w) if k == "input" else cells[k][i])
                            for k, w in widths.items()))
        console.print(table)


# Tables: a column's width is what its longest cell needs, down to these minimums when the
# terminal is narrower (the rest wraps); when even those do not fit, columns go from the
# right, the least useful first (commands list their columns most important first), but
# never the input or the error.
_NARROWEST = 20
_NARROWEST_ERROR = 16  # errors wrap well, and stderr has them whole too
_KEPT = ("input", "error")


def fit_columns(cells: dict[str, list[str]], width: int) -> dict[str, int]:
    """{column: width} of the columns shown in a table `width` cells wide (borders and
    padding take 3 per column, plus 1)."""
    from rich.cells import cell_len

    natural = {k: max([cell_len(k)] + [cell_len(line) for c in column for line in c.splitlines() or [""]])
               for k, column in cells.items()}
    least = {k: min(natural[k], _file_name_width(column) if k == "input"
                       else _NARROWEST_ERROR if k == "error" else _NARROWEST)
             for k, column in cells.items()}
    shown = list(cells)
    while sum(least[k] for k in shown) + 3 * len(shown) + 1 > width:
        droppable = [k for k in shown if k not in _KEPT]
        if not droppable:
            break
        shown.remove(droppable[-1])
    widths = {k: least[k] for k in shown}
    spare = width - (sum(widths.values()) + 3 * len(shown) + 1)
    while spare > 0:  # share what is left among the columns that want more, evenly
        wanting = [k for k in shown if widths[k] < natural[k]]
        if not wanting:
            break
        share = max(1, spare // len(wanting))
        for k in wanting:
            extra = min(share, natural[k] - widths[k], spare)
            widths[k] += extra
            spare -= extra
    return widths


def _is_path(value: str) -> bool:
    return os.path.exists(value) or (os.sep in value and not any(c.isspace() for c in value))


def _file_name_width(column: list[str]) -> int:
    """The narrowest an input column may be: every file name whole (behind "…/"), or,
    for texts, the usual minimum."""
    from rich.cells import cell_len

    names = [cell_len(_file_name(v)) + 2 for v in column if _is_path(v)]
    return max(names + [_NARROWEST if len(names) < len(column) else 0])


def shorten_path(value: str, width: int) -> str:
    """A path cut from the left to fit `width`, at a folder boundary ("…/photos/cat.jpg"):
    the file name is the part to see. Texts, and names too long even alone, are left
    to wrap."""
    from rich.cells import cell_len

    if cell_len(value) <= width or not _is_path(value):
        return value
    tail = value[len(value) - (width - 1):]
    cut = tail.find(os.sep)
    tail = tail[cut:] if cut >= 0 else tail
    return "…" + tail if _file_name(value) in tail else value


def _file_name(path: str) -> str:
    return os.path.basename(path.rstrip(os.sep)) or path


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


_console: "Console | None" = None


def console() -> "Console":
    """The stderr console shared by messages and progress bars."""
    from rich.console import Console

    global _console
    if _console is None:
        _console = Console(stderr=True)
    return _console


def _print(prefix: tuple[str, str] | None, message: str, to: "Console | None" = None) -> None:
    """Messages name users' files and quote their texts: never read as rich markup.
    `prefix`: (its text, its style)."""
    from rich.text import Text

    line = Text.assemble(Text(*prefix), str(message)) if prefix else Text(str(message))
    (to or console()).print(line, highlight=False, soft_wrap=True, markup=False)


def error_line(message: str, to: "Console | None" = None) -> None:
    """An error on stderr; printed even under --quiet."""
    _print(("error: ", "red"), message, to)


class ConsoleEvents(Events):
    """Library events shown on stderr: messages and progress bars (unless quiet), warnings."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    def message(self, text: str) -> None:
        if not self.quiet:
            _print(None, text)

    def warning(self, text: str) -> None:
        _print(("warning: ", "yellow"), text)

    def progress(self, total: int | None, description: str):
        return progress(total, description, self.quiet)


def _maybe_terminal() -> bool:
    """Whether stderr may be a terminal for rich (its own test needs rich imported): a
    TTY, or one of the variables that make rich treat it as one."""
    return sys.stderr.isatty() or any(os.environ.get(name) for name in ("FORCE_TERMINAL", "TTY_COMPATIBLE",
                                                                         "TTY_INTERACTIVE"))


@contextlib.contextmanager
def progress(total: int | None, description: str, quiet: bool = False) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr; yields `advance(n=1, **fields)`.

    Silent when quiet (--quiet) and when stderr is not a terminal (a log file wants no bars).
    """
    if quiet or not (_maybe_terminal() and console().is_terminal):
        yield lambda n=1, **fields: None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = [
        TextColumn("{task.description}", markup=False, style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}", markup=False),
    ]
    with Progress(*columns, console=console(), transient=False) as bar:
        task = bar.add_task(description, total=total, status="")

        def advance(n: int = 1, **fields: Any) -> None:
            status = "  ".join(f"{k} {_default_format(v)}" for k, v in fields.items())
            bar.update(task, advance=n, status=status)

        yield advance
