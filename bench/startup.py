"""Time from process start to the first 200 from `/_emulator/health`, median of 5, beside a bare
Flask app on the same WSGI server started the same way in the same run.
Run: .venv/bin/python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from _common import BARE_FLASK, ROOT, wait_healthy


def time_to_healthy(command: list[str], port: int, env: dict[str, str] | None = None) -> float:
    """Seconds from starting `command` to the first 200 from its health URL."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_emulator/health")
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(10)


def time_emulator() -> float:
    port = 7900 + os.getpid() % 50
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADR_EMULATOR_")}
    return time_to_healthy([sys.executable, "-m", "provider", "serve", "--in-memory", "--port", str(port),
                            "--https-port", "-1", "--mqtt-port", "-1", "--log-level", "WARNING"], port, env)


def time_bare() -> float:
    port = 7960 + os.getpid() % 30
    return time_to_healthy([sys.executable, "-c", BARE_FLASK, str(port)], port)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ours = statistics.median(time_emulator() for _ in range(args.runs))
    bare = statistics.median(time_bare() for _ in range(args.runs))
    print(f"emulator start-up (median of {args.runs}): {ours * 1000:.0f} ms")
    print(f"bare Flask start-up (median of {args.runs}): {bare * 1000:.0f} ms")
    print(f"ratio emulator/bare: {ours / bare:.2f}  (target: emulator under 300 ms)")


if __name__ == "__main__":
    main()
