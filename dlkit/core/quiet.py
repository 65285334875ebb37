"""Keeping other libraries' start-up chatter off the user's terminal (TensorFlow's and
Ray's C++ sides write to file descriptor 2 before any log level applies). No imports
beyond the standard library."""

import contextlib
import os


def verbose() -> bool:
    return os.environ.get("DLKIT_VERBOSE") == "1"


@contextlib.contextmanager
def silenced_stderr():
    """Point file descriptor 2 at /dev/null for the block: C++ start-up lines (TensorFlow's
    absl/oneDNN, Ray's core worker) are written before logging is set up, so no log level
    can stop them. --verbose (DLKIT_VERBOSE=1) lets them through."""
    if verbose():
        yield
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
