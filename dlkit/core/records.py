"""Records as JSON Lines: the one encoding the command line, the server and the Ray
engine share. No rich, no TensorFlow."""

import json
import math
from typing import Any


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays arrive from model outputs
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity; write null rather than invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# JSON leaves these unescaped, but str.splitlines() and many JSON Lines readers break
# lines at them: a text holding one would become two broken records.
_LINE_BREAKS = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}


def json_line(record: dict) -> str:
    """A record as one line of JSON: UTF-8 kept, NaN as null, line breaks escaped."""
    return json.dumps(_finite(record), ensure_ascii=False, default=_json_default).translate(_LINE_BREAKS)
