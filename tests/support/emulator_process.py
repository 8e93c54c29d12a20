"""Start the emulator as a real process on free loopback ports and talk to it over HTTP(S)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000000"


class EndpointUrls:
    """The URLs an emulator printed at start-up (`urls`: endpoint name -> URL), as tests dial them."""

    urls: dict[str, str]

    @property
    def http(self) -> str:
        return self.urls["ARM (HTTP)"].replace("localhost", "127.0.0.1")

    @property
    def https(self) -> str:
        return self.urls["ARM (HTTPS)"].replace("localhost", "127.0.0.1")

    @property
    def https_localhost(self) -> str:
        return self.urls["ARM (HTTPS)"]

    @property
    def mqtt_port(self) -> int | None:
        url = self.urls.get("MQTT (DPS + IoT Hub)")
        return int(url.rsplit(":", 1)[1]) if url else None


class EmulatorProcess(EndpointUrls):
    """`python -m provider serve` with `--port 0`; endpoint URLs are read from its start-up lines."""

    def __init__(self, *args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.data_dir = data_dir
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.urls: dict[str, str] = {}
        self.output: list[str] = []

    def start(self, timeout: float = 20) -> EmulatorProcess:
        cmd = [sys.executable, "-m", "provider", "serve", "--port", "0", "--https-port", "0"]
        if not any(a.startswith("--mqtt-port") for a in self.args):
            cmd += ["--mqtt-port", "-1"]
        cmd += ["--data-dir", str(self.data_dir)] if self.data_dir else ["--in-memory"]
        cmd += self.args
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADR_EMULATOR_")}
        env.update(self.env)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.output.append(line)
                m = re.match(r"^(.+?)\s{2,}(\S+)$", line.rstrip())
                if m:
                    self.urls[m.group(1).strip()] = m.group(2)
                if line.startswith("Data "):
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError("emulator did not start:\n" + "".join(self.output))
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if requests.get(self.http + "/_emulator/health", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("emulator never became healthy:\n" + "".join(self.output))

    @property
    def ca_file(self) -> str:
        if self.data_dir is None:
            path = Path(ROOT / ".pytest_cache" / f"ca-{self.proc.pid}.pem")
            path.parent.mkdir(exist_ok=True)
            path.write_text(requests.get(self.http + "/_emulator/ca.pem", timeout=5).text)
            return str(path)
        return str(self.data_dir / "tls" / "ca.pem")

    def stop(self, sig: int | None = None) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Arm:
    """A tiny ARM client: paths relative to the default subscription, api-version added."""

    def __init__(self, base: str, session: requests.Session | None = None) -> None:
        self.base = base
        self.s = session or requests.Session()

    def url(self, path: str, api_version: str | None) -> str:
        if not path.startswith("/"):
            path = f"/subscriptions/{SUB}/{path}"
        if api_version is None:
            return self.base + path
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}api-version={api_version}"

    def request(self, method: str, path: str, api_version: str | None = "2026-03-01-preview", body=None,
                **kw) -> requests.Response:
        if body is not None:
            kw["json"] = body
        return self.s.request(method, self.url(path, api_version), timeout=30, **kw)

    def put(self, path, body=None, api_version="2026-03-01-preview", **kw):
        return self.request("PUT", path, api_version, body if body is not None else {}, **kw)

    def patch(self, path, body, api_version="2026-03-01-preview", **kw):
        return self.request("PATCH", path, api_version, body, **kw)

    def get(self, path, api_version="2026-03-01-preview", **kw):
        return self.request("GET", path, api_version, **kw)

    def delete(self, path, api_version="2026-03-01-preview", **kw):
        return self.request("DELETE", path, api_version, **kw)

    def post(self, path, body=None, api_version="2026-03-01-preview", **kw):
        return self.request("POST", path, api_version, body, **kw)

    def group(self, name: str, location: str = "eastus") -> dict:
        r = self.put(f"resourceGroups/{name}", {"location": location}, api_version="2024-03-01")
        assert r.status_code in (200, 201), r.text
        return r.json()
