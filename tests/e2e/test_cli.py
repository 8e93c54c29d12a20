"""The command line as a process: clear errors for bad values and a taken port (flag parsing in-process:
tests/arm/test_cli_config.py)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.emulator_process import ROOT


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provider", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", **(env or {})})


def test_bad_values_are_clear_errors_not_tracebacks():
    for args, env, needle in (
        (["serve", "--in-memory", "--lro", "sometimes"], None, "--lro"),
        (["serve", "--in-memory", "--keystore", "pkcs11"], None, "--pkcs11-module"),
        (["serve", "--in-memory"], {"ADR_EMULATOR_PORT": "eighty"}, "eighty"),
    ):
        result = _run(*args, env=env)
        assert result.returncode == 2, result.stderr
        assert needle in result.stderr and "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = _run("serve", "--in-memory", "--port", str(port), "--https-port", "-1", "--mqtt-port", "-1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"cannot listen on 127.0.0.1:{port} (--port)" in result.stderr
