"""A real software TPM (`swtpm`) on loopback for the TPM attestation tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

MISSING = "swtpm or tpm2-pytss is not installed (apt-get install -y swtpm libtss2-dev; pip install '.[tpm]')"


def require_tpm_stack() -> None:
    """Skip on a developer machine without the TPM stack; in CI (where `.ci/run` installs it) fail."""
    try:
        import tpm2_pytss  # noqa: F401 - only probing that the optional extra is there
    except ImportError:
        available = False
    else:
        available = shutil.which("swtpm") is not None
    if not available:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING, allow_module_level=True)


def require_tpm2_openssl() -> None:
    """The tpm2 OpenSSL provider (Debian's tpm2-openssl), which loads TSS2 PRIVATE KEY blobs; CI must have it."""
    modules = subprocess.run(["openssl", "version", "-m"], capture_output=True, text=True, timeout=10).stdout
    directory = modules.partition('"')[2].rstrip().rstrip('"')
    if not (Path(directory) / "tpm2.so").exists():
        missing = "the tpm2 OpenSSL provider is not installed (apt-get install -y tpm2-openssl)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


def openssl_with_tpm2(tcti: str, *args: str) -> subprocess.CompletedProcess:
    """Run `openssl` with the tpm2 provider preferred (otherwise OpenSSL exports a TPM key to the default
    provider, which holds only its public half: "missing private key"), talking to the TPM at `tcti`."""
    command, *rest = args
    return subprocess.run(["openssl", command, "-provider", "tpm2", "-provider", "default",
                           "-propquery", "?provider=tpm2", *rest],
                          capture_output=True, timeout=30, env={**os.environ, "TPM2OPENSSL_TCTI": tcti})


def port_pair() -> tuple[int, int]:
    """Two free adjacent ports: the swtpm TCTI dials the control channel at the server port + 1."""
    for _ in range(50):
        with socket.socket() as server, socket.socket() as control:
            server.bind(("127.0.0.1", 0))
            port = server.getsockname()[1]
            try:
                control.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port, port + 1
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


@contextmanager
def running_swtpm(state_dir: Path) -> Iterator[str]:
    """Start `swtpm` with its state in `state_dir` (reuse the dir to keep the TPM); yield its TCTI string."""
    state_dir.mkdir(parents=True, exist_ok=True)
    port, ctrl = port_pair()
    process = subprocess.Popen(
        ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state_dir}",
         "--server", f"type=tcp,port={port},bindaddr=127.0.0.1", "--ctrl", f"type=tcp,port={ctrl},bindaddr=127.0.0.1",
         "--flags", "not-need-init,startup-clear"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"swtpm did not start: {error}")
                time.sleep(0.05)
        yield f"swtpm:host=127.0.0.1,port={port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def device_in_swtpm(state_dir: Path) -> Iterator[Any]:
    """A fresh swtpm with the device's EK and SRK created: the `DeviceTpm`, closed afterwards."""
    from provider.tpm_device import open_device_tpm  # lazy: callers have checked require_tpm_stack() first

    with running_swtpm(state_dir) as tcti:
        device = open_device_tpm(tcti)
        try:
            yield device
        finally:
            device.close()
