"""The Azure management SDKs as real clients of the emulator, over HTTPS: the newest releases and older ones.

`tests/e2e/sdk_matrix_driver.py` drives every SDK (create, get, list, update, delete with the LRO
pollers, list keys). It runs twice against one emulator: in the test venv, which holds the newest
releases (the test extras of pyproject.toml), and in `.cache/sdk-older`, which holds older
releases, so both the newest and an older api-version of every emulated type are exercised. The
older run also links the hub and DPS to a Device Registry namespace, which those versions write
in the hub and DPS bodies; the newest versions show that link read-only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.e2e.client_venvs import ensure_venv
from tests.support.arm_helpers import make_ca_pem
from tests.support.emulator_process import SUB

pytestmark = pytest.mark.slow
DRIVER = Path(__file__).with_name("sdk_matrix_driver.py")

NEWEST = {  # package -> release; the client -> the api-version that release sends
    "packages": {"azure-mgmt-iothub": "5.0.0b5", "azure-mgmt-iothubprovisioningservices": "2.1.0",
                 "azure-mgmt-deviceregistry": "1.2.0b1", "azure-mgmt-msi": "7.1.0", "azure-mgmt-resource": "26.0.0",
                 "azure-mgmt-resource-deployments": "2.0.0", "azure-mgmt-authorization": "4.0.0"},
    "api_versions": {"iothub": "2026-10-01-preview", "dps": "2026-11-01", "deviceregistry": "2026-03-01-preview",
                     "msi": "2024-11-30", "resource": "2025-04-01", "deployments": "2026-06-01",
                     "authorization": "2022-04-01"},
}
OLDER = {
    "packages": {"azure-mgmt-iothub": "5.0.0b2", "azure-mgmt-iothubprovisioningservices": "1.2.0b3",
                 "azure-mgmt-deviceregistry": "1.1.0", "azure-mgmt-msi": "7.0.0", "azure-mgmt-resource": "23.1.1",
                 "azure-mgmt-authorization": "2.0.0"},
    "api_versions": {"iothub": "2025-08-01-preview", "dps": "2025-02-01-preview", "deviceregistry": "2025-10-01",
                     "msi": "2023-01-31", "resource": "2022-09-01", "authorization": "2015-07-01"},
}


@pytest.fixture(scope="module")
def cert_pem(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("sdk") / "ca.pem"
    path.write_text(make_ca_pem("sdk-root"))
    return str(path)


def _drive(python: str, emulator, cert_pem: str, *extra: str) -> dict:
    done = subprocess.run([python, str(DRIVER), "--base-url", emulator.https, "--ca-file", emulator.ca_file,
                           "--subscription", SUB, "--cert-pem", cert_pem, *extra],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(report: dict, expected: dict) -> None:
    installed = {name: version for name, version in report["packages"].items() if version is not None}
    assert installed == expected["packages"]
    assert report["api_versions"] == {client: [v] for client, v in expected["api_versions"].items()}
    assert len(report["steps"]) >= 9, report["steps"]


def test_the_newest_releases(emulator, cert_pem):
    assert metadata.version("azure-mgmt-iothub") == NEWEST["packages"]["azure-mgmt-iothub"]
    report = _drive(sys.executable, emulator, cert_pem, "--ga-link")
    # --ga-link also sends the 2026-11-01 namespace through the Device Registry client's pipeline
    sent_ga = report["api_versions"]["deviceregistry"].pop()
    assert sent_ga == "2026-11-01"
    _check(report, NEWEST)
    assert any(step.startswith("GA links") for step in report["steps"])


def test_older_releases_with_the_device_registry_link(emulator, cert_pem):
    pins = [f"{name}=={version}" for name, version in OLDER["packages"].items()]
    probe = "import importlib.metadata as m; " + "; ".join(
        f"assert m.version({name!r}) == {version!r}" for name, version in OLDER["packages"].items())
    venv = ensure_venv("sdk-older", pins, ["-c", probe])
    _check(_drive(str(venv / "bin" / "python"), emulator, cert_pem, "--link"), OLDER)


def test_the_two_runs_cover_different_versions_of_every_type():
    assert all(NEWEST["api_versions"][client] != version for client, version in OLDER["api_versions"].items())
