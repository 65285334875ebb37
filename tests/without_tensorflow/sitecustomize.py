"""Put this folder first on PYTHONPATH to run dlkit as in a light install: importing
tensorflow, keras or tf2onnx raises ModuleNotFoundError, as it does where they are not
installed (the inference commands must never need them)."""

import sys

BLOCKED = ("tensorflow", "keras", "tf2onnx", "tf_keras")


class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
