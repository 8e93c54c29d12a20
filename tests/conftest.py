"""Shared fixtures, in the Flask tutorial's style: an app and a test client per test, one HTTP emulator per
session, and a factory for emulator processes with their own flags.

- `emu` -> `app` -> `client`: a fresh in-memory `Emulator`, its Flask app and test client (no network).
  `@pytest.mark.emulator_config(lro="polls:2")` sets `Config` fields for one test.
- `emulator` (session): the real app on real loopback HTTP/HTTPS listeners, served by threads of this
  process (`--emulator-process` serves it from a subprocess instead, as before); `arm` and `rg` use it.
- `emulator_with(*flags, data_dir=None, env=None)`: starts `python -m provider serve` with those flags and
  stops it at teardown.

A test is marked `process` when it lives in tests/e2e or uses `emulator_with`; modules that start
processes otherwise (a module-scoped server, a CLI run) carry the marker themselves.
`make test-fast` runs `-m "not process and not slow"`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.emulator_process import Arm, EmulatorProcess
from tests.support.emulator_thread import EmulatorThread

E2E = Path(__file__).parent / "e2e"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--emulator-process", action="store_true",
                     help="serve the session `emulator` fixture from a subprocess instead of threads in pytest")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in item.path.parents or "emulator_with" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.process)


# ---- in-process app, no network -----------------------------------------------------------------------------
@pytest.fixture()
def emu(request: pytest.FixtureRequest):
    """A fresh in-memory `provider.state.Emulator` (Config fields from an `emulator_config` marker)."""
    from provider.config import Config
    from provider.state import Emulator

    marker = request.node.get_closest_marker("emulator_config")
    emulator = Emulator(Config(in_memory=True, **(marker.kwargs if marker else {})))
    yield emulator
    emulator.store.close()


@pytest.fixture()
def app(emu):
    from provider.app import create_app

    return create_app(emulator=emu)


@pytest.fixture()
def client(app):
    return app.test_client()


# ---- real servers ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def emulator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One emulator for the session, in memory, on free loopback ports (HTTP and HTTPS)."""
    if request.config.getoption("--emulator-process"):
        with EmulatorProcess() as proc:
            yield proc
    else:
        with EmulatorThread(ca_dir=tmp_path_factory.mktemp("emulator")) as server:
            yield server


@pytest.fixture()
def emulator_with() -> Iterator[Callable[..., EmulatorProcess]]:
    """A factory: `emulator_with("--lro", "polls:2", data_dir=..., env=...)` starts a server process
    with those flags (in memory unless `data_dir`); every process it started is stopped at teardown."""
    started: list[EmulatorProcess] = []

    def start(*flags: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> EmulatorProcess:
        proc = EmulatorProcess(*flags, data_dir=data_dir, env=env)
        started.append(proc)
        return proc.start()

    yield start
    for proc in reversed(started):
        proc.stop()


@pytest.fixture()
def arm(emulator) -> Arm:
    return Arm(emulator.http)


@pytest.fixture()
def rg(arm) -> str:
    """A fresh resource group for one test."""
    name = f"rg-{uuid.uuid4().hex[:10]}"
    arm.group(name)
    return name
