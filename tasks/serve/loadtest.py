"""Load test of `dlkit serve` on loopback: N concurrent clients for classify and sentiment,
one photo (or `--texts-per-request` texts) per request, against the CLI's batch throughput
measured in the same run.

    pip install -e ".[cpu,serve,bench]"       # aiohttp: a load generator light on the CPUs
    python tasks/serve/loadtest.py [--clients 16] [--photos 128] [--texts 1024] [--rounds 2] [--texts-per-request 1]

Reports per task: requests/s, p50/p99 latency, errors, the server's peak and per-round
memory, and served items/s as a ratio of the CLI's batch throughput: the predictor the
command runs, warm, in a process of its own, the best of 3 passes over the same items
(start-up and model loading are not counted on either side: the server's models are
loaded before the clock starts). Bounded: a fixed number of requests per round, every request with a
timeout.
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DLKIT_SHARED", ROOT.parent / "shared"))
DLKIT = [sys.executable, "-m", "dlkit"]


def memory_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


BASELINE = """
import json, sys, time
from dlkit.core.runtime import keras  # TensorFlow's start-up noise silenced, as in the CLI
from dlkit.tasks import {module}
items = json.load(sys.stdin)
predictor = {module}.load()
list(predictor.predict(items[:64]))  # warm-up: weights loaded, graphs traced
best = 0.0
for _ in range({tries}):
    start = time.perf_counter()
    count = sum(1 for _ in predictor.predict(items))
    best = max(best, count / (time.perf_counter() - start))
print(best)
"""


def cli_rate(module: str, items: list[str], tries: int = 3) -> float:
    """Items/s of the predictor the CLI command runs (`dlkit classify` / `dlkit sentiment`:
    the task's load() and predict(), batch by batch), in a process of its own, warm:
    the best of `tries` passes, since other work on a shared machine only slows one."""
    done = subprocess.run([sys.executable, "-c", BASELINE.format(module=module, tries=tries)],
                          input=json.dumps(items), capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


async def _round(url: str, task: str, items: list[str], clients: int, per_request: int) -> dict:
    import aiohttp

    # One asyncio process with keep-alive connections: a thread per client with
    # `requests` spent more of the shared CPUs than the server's HTTP work itself.
    # a request carries one photo, or `per_request` texts
    work = iter([items[i: i + per_request] for i in range(0, len(items), per_request)] if task == "sentiment"
                else [[item] for item in items])
    results = []

    async def client(session):
        for chunk in work:  # each client takes the next request when it is free
            start = time.perf_counter()
            if task == "classify":
                form = aiohttp.FormData()
                with open(chunk[0], "rb") as f:
                    form.add_field("files", f.read(), filename=os.path.basename(chunk[0]))
                request = session.post(f"{url}/api/classify", data=form)
            else:
                request = session.post(f"{url}/api/sentiment", json={"texts": chunk})
            async with request as response:
                body = await response.json()
            ok = response.status == 200 and not any("error" in r for r in body["records"])
            results.append((time.perf_counter() - start, ok))

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=clients)) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        seconds = time.perf_counter() - start
    latencies = sorted(r[0] for r in results)
    return {"requests": len(results), "seconds": seconds, "rps": len(results) / seconds,
            "items_per_s": len(items) / seconds,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "errors": len(results) - sum(r[1] for r in results)}


def round_of(url: str, task: str, items: list[str], clients: int, per_request: int = 1) -> dict:
    return asyncio.run(_round(url, task, items, clients, per_request))


def health(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
        return json.load(response)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--photos", type=int, default=128)
    parser.add_argument("--texts", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--texts-per-request", type=int, default=1)
    args = parser.parse_args()

    photos = sorted(str(p) for p in (SHARED / "data" / "flickr8k" / "Images").iterdir())[: args.photos]
    lines = (SHARED / "data" / "sst2" / "dev.tsv").read_text().splitlines()[1:]
    texts = [line.split("\t")[0] for line in lines][: args.texts]

    baseline = {"classify": cli_rate("classifier", photos), "sentiment": cli_rate("sentiment", texts)}

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(DLKIT + ["serve", "--tasks", "classify,sentiment", "--port", str(port), "-q"],
                              stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                health(url)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server did not start: {server.stderr.read()[-2000:]}")
                time.sleep(0.3)
        report = {"clients": args.clients, "cores": os.cpu_count(), "texts_per_request": args.texts_per_request}
        for task, items in (("classify", photos), ("sentiment", texts)):
            per_request = args.texts_per_request if task == "sentiment" else 1
            round_of(url, task, items[: args.clients * 2 * per_request], args.clients, per_request)  # warm-up
            rounds = []
            for _ in range(args.rounds):
                result = round_of(url, task, items, args.clients, per_request)
                result["rss_mb"] = round(memory_mb(server.pid, "VmRSS"))
                rounds.append(result)
            batches = health(url)["tasks"][task]
            best = max(rounds, key=lambda r: r["rps"])
            report[task] = {
                "items": len(items), "rps": round(best["rps"], 1), "items_per_s": round(best["items_per_s"], 1),
                "p50_ms": round(best["p50_ms"], 1), "p99_ms": round(best["p99_ms"], 1),
                "errors": sum(r["errors"] for r in rounds), "cli_items_per_s": round(baseline[task], 1),
                "ratio_to_cli": round(best["items_per_s"] / baseline[task], 2),
                "rss_mb_per_round": [r["rss_mb"] for r in rounds],
                "mean_batch": round(batches["items"] / batches["calls"], 1),
            }
        report["peak_rss_mb"] = round(memory_mb(server.pid, "VmHWM"))
    finally:
        server.terminate()
        server.wait(60)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
