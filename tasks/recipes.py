"""Shared by the task recipes: a dlkit command run as a user runs it, from the checkout."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dlkit(*args: str) -> dict:
    """The last JSON record of `dlkit ARGS --json --quiet`; a failure ends the recipe with
    the command's stderr."""
    print("$ dlkit " + " ".join(args), file=sys.stderr, flush=True)
    result = subprocess.run([sys.executable, "-m", "dlkit", *args, "--json", "--quiet"], capture_output=True,
                            text=True, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"dlkit {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
