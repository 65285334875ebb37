"""Expected failures: the CLI prints their message on one line, never a traceback."""


class DlkitError(Exception):
    """Bad input, a missing file or model, or a setting that cannot work."""


class ItemError(DlkitError):
    """One item of a batch (an image, a line) is unusable; the batch goes on."""


def check_choice(kind: str, value, choices) -> None:
    """The one-line error for a setting outside its choices (library callers pass
    strings that Click would otherwise have checked)."""
    if value not in choices:
        raise DlkitError(f"unknown {kind} {value!r}; choose one of {', '.join(map(str, choices))}")
