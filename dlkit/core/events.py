"""How the library reports what it is doing: events, never prints.

Library functions take an `events` argument; the default reports nothing, and the CLI
passes one that writes messages and progress bars to stderr (dlkit.cli.output). A
program that imports dlkit can pass its own, to log or to drive a progress widget.
"""

import contextlib
from typing import Any, Callable, ContextManager

Advance = Callable[..., None]  # advance(n=1, **fields): n more items done, with status fields


class Events:
    """Reports nothing: the base for reporters, and what library calls get by default."""

    def message(self, text: str) -> None:
        """Something a user would want to know (a layout detected, a run resumed)."""

    def warning(self, text: str) -> None:
        """Something that went wrong but did not stop the work (a file skipped)."""

    def progress(self, total: int | None, description: str) -> ContextManager[Advance]:
        """A unit of work with `total` steps (None: unknown); yields `advance`."""
        return contextlib.nullcontext(_ignore)


def _ignore(n: int = 1, **fields: Any) -> None:
    pass


SILENT = Events()


def warn_all(events: Events, messages: list[str], most: int = 10) -> None:
    """The first `most` warnings, then how many more there were."""
    for text in messages[:most]:
        events.warning(text)
    if len(messages) > most:
        events.warning(f"... {len(messages) - most} more")
