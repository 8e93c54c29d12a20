"""Start-up that scripts can rely on: a taken port ends the process, endpoint lines come first."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ADR_EMULATOR_")}


@pytest.fixture()
def taken_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("flag", ["--port", "--https-port", "--mqtt-port"])
def test_a_taken_port_exits_1_within_5_seconds(tmp_path, taken_port, flag):
    ports = {"--port": "0", "--https-port": "0", "--mqtt-port": "0", flag: str(taken_port)}
    cmd = [sys.executable, "-m", "provider", "serve", "--data-dir", str(tmp_path)]
    for name, value in ports.items():
        cmd += [name, value]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert elapsed < 5, f"took {elapsed:.1f} s"
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [f"adr-emulator: cannot listen on 127.0.0.1:{taken_port} ({flag}): Address already in use"]


def test_endpoint_lines_are_in_a_redirected_log_before_health_answers(tmp_path):
    log = tmp_path / "emulator.log"
    cmd = [sys.executable, "-m", "provider", "serve", "--data-dir", str(tmp_path / "data"), "--port", "0",
           "--https-port", "0", "--mqtt-port", "0"]
    with log.open("w") as out:  # a file, not a pipe: Python block-buffers it unless the lines are flushed
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        health = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and health is None:
            match = re.search(r"^Health\s+(\S+)$", log.read_text(), re.MULTILINE)
            if match:
                health = match.group(1).replace("localhost", "127.0.0.1")
            time.sleep(0.02)
        assert health, log.read_text()
        # the lines were all in the file before any listener served: health answers only after them
        text_when_health_was_found = log.read_text()
        for name in ("ARM (HTTP)", "ARM (HTTPS)", "DPS device + service API", "IoT Hub service API",
                     "MQTT (DPS + IoT Hub)", "Health", "Data"):
            assert re.search(rf"^{re.escape(name)}\s+\S", text_when_health_was_found, re.MULTILINE), name
        while time.monotonic() < deadline:
            try:
                if requests.get(health, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("health never answered")
    finally:
        proc.terminate()
        proc.wait(10)


def test_no_endpoint_line_before_its_listener_is_bound(tmp_path, taken_port):
    """With the HTTPS port taken, the HTTP line is printed but no HTTPS, MQTT or Health line."""
    cmd = [sys.executable, "-m", "provider", "serve", "--data-dir", str(tmp_path), "--port", "0",
           "--https-port", str(taken_port), "--mqtt-port", "0"]
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    names = [re.split(r"\s{2,}", line)[0] for line in done.stdout.splitlines() if line.strip()]
    assert names == ["ARM (HTTP)"]
