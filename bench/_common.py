"""Shared benchmark helpers: latency statistics and a bare WSGI baseline server."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BARE_FLASK = """
import sys
from flask import Flask
from cheroot import wsgi
app = Flask("bare")
@app.route("/_emulator/health")
def health():
    return {"status": "healthy"}
@app.route("/<path:p>", methods=["GET", "PUT"])
def any_path(p):
    return {"id": p}
server = wsgi.Server(("127.0.0.1", int(sys.argv[1])), app, numthreads=16)
server.prepare()
print("ready", server.bind_addr[1], flush=True)
server.serve()
"""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    return {"rate": len(latencies) / elapsed, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "mean_ms": statistics.mean(latencies) * 1000}


def start_bare_flask(port: int = 0) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", BARE_FLASK, str(port)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    return proc, int(line.split()[1])


def wait_healthy(url: str, timeout: float = 20) -> float:
    import requests

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - start
        except requests.ConnectionError:
            time.sleep(0.005)
    raise RuntimeError(f"{url} never answered")
