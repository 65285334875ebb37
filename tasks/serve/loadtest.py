"""Load test of `dlkit serve` on loopback: N concurrent clients for classify and sentiment,
one item per request, against the CLI's batch throughput measured in the same run.

    python tasks/serve/loadtest.py [--clients 16] [--photos 128] [--texts 1024] [--rounds 2]

Reports per task: requests/s, p50/p99 latency, errors, the server's peak and per-round
memory, and served items/s as a ratio of the CLI's (its marginal rate: the time for all
items less the time for one, so that start-up and model loading are not counted on
either side; the server's models are loaded before the clock starts). Bounded: a fixed
number of requests per round, every request with a timeout.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DLKIT_SHARED", ROOT.parent / "shared"))
DLKIT = [sys.executable, "-m", "dlkit"]


def memory_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def cli_rate(command: str, items: list[str], stdin: bool) -> float:
    """Items/s of `dlkit COMMAND` over `items`, less its start-up (the run over one item)."""
    def timed(chosen):
        args = DLKIT + [command, "--json", "-q"] + (["-"] if stdin else chosen)
        start = time.perf_counter()
        subprocess.run(args, input="\n".join(chosen) + "\n" if stdin else None, text=True, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    return (len(items) - 1) / (timed(items) - timed(items[:1]))


def round_of(url: str, task: str, items: list[str], clients: int) -> dict:
    session_for = {}

    def one(item):
        import threading

        session = session_for.setdefault(threading.get_ident(), requests.Session())
        start = time.perf_counter()
        if task == "classify":
            with open(item, "rb") as f:
                response = session.post(f"{url}/api/classify", files=[("files", (os.path.basename(item), f))],
                                        timeout=60)
        else:
            response = session.post(f"{url}/api/sentiment", json={"texts": [item]}, timeout=60)
        ok = response.status_code == 200 and "error" not in response.json()["records"][0]
        return time.perf_counter() - start, ok

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, items))
    seconds = time.perf_counter() - start
    latencies = sorted(r[0] for r in results)
    return {"requests": len(items), "seconds": seconds, "rps": len(items) / seconds,
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "errors": sum(not r[1] for r in results)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--photos", type=int, default=128)
    parser.add_argument("--texts", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    photos = sorted(str(p) for p in (SHARED / "data" / "flickr8k" / "Images").iterdir())[: args.photos]
    lines = (SHARED / "data" / "sst2" / "dev.tsv").read_text().splitlines()[1:]
    texts = [line.split("\t")[0] for line in lines][: args.texts]

    baseline = {"classify": cli_rate("classify", photos, stdin=False),
                "sentiment": cli_rate("sentiment", texts, stdin=True)}

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
                requests.get(f"{url}/health", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server did not start: {server.stderr.read()[-2000:]}")
                time.sleep(0.3)
        report = {"clients": args.clients, "cores": os.cpu_count()}
        for task, items in (("classify", photos), ("sentiment", texts)):
            round_of(url, task, items[: args.clients * 2], args.clients)  # warm-up: graphs traced
            rounds = []
            for _ in range(args.rounds):
                result = round_of(url, task, items, args.clients)
                result["rss_mb"] = round(memory_mb(server.pid, "VmRSS"))
                rounds.append(result)
            batches = requests.get(f"{url}/health").json()["tasks"][task]
            best = max(rounds, key=lambda r: r["rps"])
            report[task] = {
                "items": len(items), "rps": round(best["rps"], 1), "p50_ms": round(best["p50_ms"], 1),
                "p99_ms": round(best["p99_ms"], 1), "errors": sum(r["errors"] for r in rounds),
                "cli_items_per_s": round(baseline[task], 1), "ratio_to_cli": round(best["rps"] / baseline[task], 2),
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
