"""1000 namespace PUT + GET pairs over loopback with keep-alive, against a bare WSGI ceiling.

Prints requests/s and p50/p99 latency for the emulator and, measured in the same run with the
same client, for a bare Flask app on the same WSGI server; then the ratio.
Run: .venv/bin/python bench/arm_requests.py [--pairs N]
"""

from __future__ import annotations

import argparse
import time

import requests
from _common import start_bare_flask, summary

from tests.support.emulator_process import SUB, EmulatorProcess

API = "2026-03-01-preview"


def run_pairs(base: str, pairs: int, group_path: str) -> dict[str, float]:
    session = requests.Session()
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(pairs):
        url = f"{base}{group_path}/providers/Microsoft.DeviceRegistry/namespaces/bench-{i}?api-version={API}"
        t0 = time.perf_counter()
        r = session.put(url, json={"location": "eastus", "tags": {"i": str(i)}})
        t1 = time.perf_counter()
        g = session.get(url)
        t2 = time.perf_counter()
        assert r.status_code in (200, 201) and g.status_code == 200, (r.status_code, r.text[:200])
        latencies += [t1 - t0, t2 - t1]
    return summary(latencies, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1000)
    args = parser.parse_args()
    group_path = f"/subscriptions/{SUB}/resourceGroups/bench"
    with EmulatorProcess("--log-level", "WARNING") as emu:
        requests.put(f"{emu.http}{group_path}?api-version=2024-03-01", json={"location": "eastus"}, timeout=10)
        ours = run_pairs(emu.http, args.pairs, group_path)
    proc, port = start_bare_flask()
    try:
        bare = run_pairs(f"http://127.0.0.1:{port}", args.pairs, group_path)
    finally:
        proc.terminate()
    print(f"emulator : {ours['rate']:8.0f} req/s  p50 {ours['p50_ms']:.2f} ms  p99 {ours['p99_ms']:.2f} ms")
    print(f"bare WSGI: {bare['rate']:8.0f} req/s  p50 {bare['p50_ms']:.2f} ms  p99 {bare['p99_ms']:.2f} ms")
    print(f"ratio emulator/bare: {ours['rate'] / bare['rate']:.2f}")


if __name__ == "__main__":
    main()
