"""Separate virtual environments for real client tools whose pins clash with ours (azure-cli, the
device SDK's paho-mqtt<2). Built once under `.cache/` and reused; `uv` (a test extra) builds them
in seconds where pip takes minutes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"


def _uv() -> str | None:
    local = Path(sys.executable).with_name("uv")
    return str(local) if local.exists() else shutil.which("uv")


def ensure_venv(name: str, requirement: str | list[str], probe: list[str], timeout: int = 1500) -> Path:
    """The venv `.cache/{name}` with `requirement`(s) installed; `probe` (args to its python) must succeed."""
    requirements = [requirement] if isinstance(requirement, str) else list(requirement)
    venv = CACHE / name
    python = venv / "bin" / "python"

    def ready() -> bool:
        return python.exists() and subprocess.run([str(python), *probe], capture_output=True,
                                                  timeout=120).returncode == 0

    if ready():
        return venv
    CACHE.mkdir(exist_ok=True)
    uv = _uv()
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    if uv:
        steps = [[uv, "venv", "-q", "--clear", "-p", sys.executable, str(venv)],
                 [uv, "pip", "install", "-q", *requirements]]
    else:
        steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
                 [str(python), "-m", "pip", "install", "-q", *requirements]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=timeout, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(step)} failed:\n{done.stderr[-2000:]}")
    if not ready():
        raise RuntimeError(f"{requirement} installed into {venv} but {probe} fails")
    return venv
