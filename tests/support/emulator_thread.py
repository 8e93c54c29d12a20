"""The emulator inside the pytest process: the real app on real cheroot listeners, in background threads.

It binds exactly as `adr-emulator serve` does (`provider.run.bind_listeners`: HTTP, HTTPS with the dev CA,
and the data-plane listeners the config asks for) on free loopback ports, so tests talk to it over
real HTTP(S) as they would to a process, without starting one. It has the attributes of
`EmulatorProcess` that HTTP tests use (`http`, `https`, `https_localhost`, `ca_file`, `urls`,
`mqtt_port`, `output`), plus `emu`, the `provider.state.Emulator` it serves.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from provider.config import Config
from tests.support.emulator_process import EndpointUrls


class EmulatorThread(EndpointUrls):
    def __init__(self, ca_dir: Path | None = None, **config: Any) -> None:
        """`config` overrides fields of an in-memory `Config` on free ports with MQTT off (`lro="polls:2"`)."""
        defaults = {"in_memory": True, "port": 0, "https_port": 0, "mqtt_port": -1}
        self.config = Config(**{**defaults, **config})
        self.ca_dir = ca_dir
        self.urls: dict[str, str] = {}
        self.output: list[str] = []
        self.emu: Any = None
        self._servers: Any = None

    def _announce(self, name: str, value: str) -> None:
        self.output.append(f"{name:26} {value}\n")
        self.urls[name] = value

    def start(self, timeout: float = 20) -> EmulatorThread:
        from provider.app import create_app
        from provider.run import bind_listeners
        from provider.server import Servers
        from provider.state import Emulator

        self.emu = Emulator(self.config)
        app = create_app(emulator=self.emu)
        self._servers = Servers()
        try:
            bind_listeners(self.emu, app, self._servers, self._announce)
        except BaseException:
            self.stop()
            raise
        self._servers.start()
        deadline = time.time() + timeout
        while True:
            try:
                if requests.get(self.http + "/_emulator/health", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("the in-process emulator never became healthy:\n" + "".join(self.output))
            time.sleep(0.05)

    def stop(self) -> None:
        if self._servers is not None:
            self._servers.stop()
            self._servers = None
        if self.emu is not None:
            self.emu.store.close()

    @property
    def ca_file(self) -> str:
        """The dev CA (PEM) that signs the HTTPS certificate, written to a file for `verify=`."""
        folder = self.ca_dir or Path(tempfile.mkdtemp(prefix="adr-emulator-ca-"))
        self.ca_dir = folder
        path = folder / "ca.pem"
        if not path.exists():
            path.write_text(self.emu.dev_ca_pem)
        return str(path)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
