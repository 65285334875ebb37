"""Throughput of `dlkit sentiment -` with the local engine and with Ray (1 and 2 workers)
in one run, on the GLUE-dev sentences repeated to N lines.

    python tasks/ray/benchmark.py [--lines 20000] [--rounds 2]

Each configuration runs the real command (start-up included, as a user pays it) and,
to separate Ray's fixed cost from its per-record cost, the same with 1/10 of the lines;
rounds alternate and the best time of each is kept (the machine is shared). Ray runs on
a local instance started for each run, as `--engine ray` does without --address.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DLKIT_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
CONFIGS = {"local": [], "ray, 1 worker": ["--engine", "ray", "--workers", "1"],
           "ray, 2 workers": ["--engine", "ray", "--workers", "2"]}


def run(lines_file: str, extra: list[str]) -> float:
    start = time.perf_counter()
    with open(lines_file, "rb") as stdin:
        subprocess.run([sys.executable, "-m", "dlkit", "sentiment", "--json", "-q", "-", "-b", "256", *extra],
                       stdin=stdin, stdout=subprocess.DEVNULL, check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with open(os.path.join(SHARED, "data", "sst2", "test_is_glue_dev.tsv"), encoding="utf-8") as f:
        sentences = [line.split("\t")[0] for line in f.read().splitlines()[1:]]
    folder = tempfile.mkdtemp(prefix="dlkit-ray-bench-")
    files = {}
    for count in (args.lines // 10, args.lines):
        files[count] = os.path.join(folder, f"{count}.txt")
        with open(files[count], "w", encoding="utf-8") as f:
            f.writelines(sentences[i % len(sentences)] + "\n" for i in range(count))
    best = {(name, count): float("inf") for name in CONFIGS for count in files}
    for _ in range(args.rounds):
        for name, extra in CONFIGS.items():
            for count, path in files.items():
                best[name, count] = min(best[name, count], run(path, extra))
    small, large = sorted(files)
    local_rate = (large - small) / (best["local", large] - best["local", small])
    print(f"{os.cpu_count()} CPUs; {large} lines (and {small} to separate fixed costs); best of {args.rounds}")
    print(f"{'engine':<16}{'total s':>9}{'start-up s':>12}{'lines/s':>10}{'vs local':>10}")
    for name in CONFIGS:
        rate = (large - small) / (best[name, large] - best[name, small])
        fixed = best[name, small] - small / rate
        print(f"{name:<16}{best[name, large]:>9.1f}{fixed:>12.1f}{rate:>10.0f}{rate / local_rate:>10.2f}")


if __name__ == "__main__":
    main()
