"""Expected failures: the CLI prints their message on one line, never a traceback."""


class DlkitError(Exception):
    """Bad input, a missing file or model, or a setting that cannot work."""


class ItemError(DlkitError):
    """One item of a batch (an image, a line) is unusable; the batch goes on."""
