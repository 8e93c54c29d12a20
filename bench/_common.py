"""Shared benchmark helpers: latency statistics and a bare WSGI baseline server."""

from __future__ import annotations

import os
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


# The requests a DPS registration makes (PUT register with a CSR body, GET the operation), answered with small
# JSON by a bare Flask app on the emulator's own listener stack (cheroot + the client-certificate TLS adapter):
# what any server costs for the same HTTP traffic, before doing any DPS work.
BARE_DPS = """
import sys
from flask import Flask, request
from provider.server import Servers
from provider.tls import ServerTls
app = Flask("bare-dps")
@app.put("/<scope>/registrations/<reg>/register")
def register(scope, reg):
    body = request.get_json()
    return {"operationId": "4." + body["registrationId"], "status": "assigning"}, 202
@app.get("/<scope>/registrations/<reg>/operations/<op>")
def operation(scope, reg, op):
    return {"operationId": op, "status": "assigned", "registrationState": {"registrationId": reg}}
servers = Servers()
port = servers.add_wsgi(app, "127.0.0.1", 0, "--https-port", ServerTls(sys.argv[1], sys.argv[2]))
servers.start()
print("ready", port, flush=True)
servers.wait()
"""


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc: what a server spent, whoever measures."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_script(script: str, *args: str) -> tuple[subprocess.Popen, int]:
    """Run a server script that prints `ready PORT`; (process, port)."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"the bench server did not start: {line!r}")
    return proc, int(line.split()[1])


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
