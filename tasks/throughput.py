"""Shared by the throughput benchmarks: dlkit's path from files against bare
`model.predict` on decoded arrays, timed in alternating rounds (best of each kept,
because the machine is shared and noisy)."""

import time
from typing import Callable


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def compare(bare: Callable[[], object], dlkit: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Best seconds of each, after one warm-up of both (tracing, thread pools, file cache)."""
    bare(), dlkit()
    times = [(timed(bare), timed(dlkit)) for _ in range(rounds)]
    return min(t[0] for t in times), min(t[1] for t in times)


def report(images: int, bare: float, dlkit: float, what: str) -> None:
    print(f"bare model.predict on decoded arrays: {images / bare:.1f} images/s")
    print(f"{what + ' from files:':<38}{images / dlkit:.1f} images/s")
    print(f"ratio dlkit / bare: {bare / dlkit:.2f}  (target >= 0.85)")
