"""Time to `Succeeded` for our full-setup template with `--lro immediate`, and expressions/s.

Deploys `arm_templates/full-setup.json` into fresh resource groups over loopback and prints the
median server time (the deployment's own `duration`) and the client's wall time for PUT + status
poll + GET, beside the bare-WSGI request time measured in the same run as the floor; then the
engine's expression rate on a large generated template (`bench/deploy_expressions.py`).
Run: .venv/bin/python bench/deploy.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import requests
from _common import ROOT, start_bare_flask

from tests.support.emulator_process import SUB, EmulatorProcess

API = "2024-03-01"


def iso_seconds(duration: str) -> float:
    return float(duration.removeprefix("PT").removesuffix("S"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    template = json.loads((ROOT / "arm_templates" / "full-setup.json").read_text())
    params = json.loads((ROOT / "arm_templates" / "full-setup.parameters.json").read_text())["parameters"]
    server_times, wall_times = [], []
    with EmulatorProcess("--log-level", "WARNING", "--lro", "immediate") as emu:
        session = requests.Session()
        for run in range(args.runs):
            group = f"/subscriptions/{SUB}/resourceGroups/bench-deploy-{run}"
            session.put(f"{emu.http}{group}?api-version={API}", json={"location": "eastus"}, timeout=30)
            url = f"{emu.http}{group}/providers/Microsoft.Resources/deployments/full?api-version={API}"
            start = time.perf_counter()
            put = session.put(url, json={"properties": {"mode": "Incremental", "template": template,
                                                        "parameters": params}}, timeout=60)
            status = session.get(put.headers["Azure-AsyncOperation"], timeout=30).json()["status"]
            final = session.get(url, timeout=30).json()
            wall_times.append(time.perf_counter() - start)
            assert status == "Succeeded" and final["properties"]["provisioningState"] == "Succeeded", final
            server_times.append(iso_seconds(final["properties"]["duration"]))
    proc, port = start_bare_flask()
    try:
        bare = requests.Session()
        start = time.perf_counter()
        for _ in range(30):
            bare.get(f"http://127.0.0.1:{port}/x", timeout=10)
        bare_request = (time.perf_counter() - start) / 30
    finally:
        proc.terminate()
    server, wall = statistics.median(server_times), statistics.median(wall_times)
    print(f"full-setup deployment, median of {args.runs}: server {server * 1000:.0f} ms, "
          f"client PUT+poll+GET {wall * 1000:.0f} ms")
    print(f"bare WSGI request in the same run: {bare_request * 1000:.2f} ms "
          f"(the deployment costs {wall / bare_request:.0f} bare requests)")
    print("target: under a second of server time:", "met" if server < 1.0 else "NOT met")
    subprocess.run([sys.executable, str(ROOT / "bench" / "deploy_expressions.py")], check=True)


if __name__ == "__main__":
    main()
