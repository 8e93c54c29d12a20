"""The released Azure IoT device SDK for Python (azure-iot-device 2.x) against the emulator.

The SDK pins paho-mqtt<2 (the test venv has 2.x), so it gets its own venv under `.cache/sdk-venv`,
created once and reused. Its MQTT port is fixed to 8883, so this module starts a dedicated emulator
with `--mqtt-port 8883` and skips when that port is taken. Device code runs in
`tests/e2e/sdk_device_helper.py`, in that venv.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
import requests
from cryptography import x509

from provider.dps.sas import derive_device_key
from tests.e2e.client_venvs import ensure_venv
from tests.support.dps_helpers import chain_from, csr_b64, unique, write_client_files
from tests.support.emulator_process import ROOT, Arm, EmulatorProcess
from tests.support.ga_setup import GA, ca_path, ga_env_with_group
from tests.support.mqtt_devices import make_setup

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

SDK_REQUIREMENT = "azure-iot-device>=2.14,<3"
HELPER = Path(__file__).with_name("sdk_device_helper.py")
SDK_PORT = 8883


@pytest.fixture(scope="module")
def sdk_python() -> str:
    """The SDK venv's interpreter (created and filled on first use)."""
    venv = ensure_venv("sdk-venv", SDK_REQUIREMENT, ["-c", "import azure.iot.device"])
    return str(venv / "bin" / "python")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def sdk_emulator(sdk_python):
    if not _port_free(SDK_PORT):
        pytest.skip(f"port {SDK_PORT} is taken; the device SDK can only use 8883 for MQTT")
    with EmulatorProcess("--mqtt-port", str(SDK_PORT)) as proc:
        assert proc.mqtt_port == SDK_PORT
        yield proc


@pytest.fixture(scope="module")
def setup(sdk_emulator, tmp_path_factory):
    return make_setup(sdk_emulator, Arm(sdk_emulator.http), tmp_path_factory.mktemp("sdk"))


def run_device(sdk_python: str, **args) -> dict:
    proc = subprocess.run([sdk_python, str(HELPER), json.dumps(args)], capture_output=True, text=True, timeout=120,
                          cwd=str(ROOT))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"helper printed nothing (rc {proc.returncode}):\n{proc.stderr[-2000:]}"
    result = json.loads(lines[-1])
    assert result["ok"], f"{result}\n{proc.stderr[-2000:]}"
    return result


def test_sdk_provisions_with_a_symmetric_key_and_connects(sdk_python, setup):
    reg = unique("sdk-")
    key = derive_device_key(setup.group_key, reg)
    result = run_device(sdk_python, action="provision", host="localhost", scope=setup.env.id_scope,
                        registration_id=reg, key=key, ca_file=setup.env.ca_file)
    assert result["status"] == "assigned"
    assert result["assigned_hub"] == setup.env.hub_host and result["device_id"] == reg
    device = setup.hub_api("GET", f"/devices/{reg}")
    assert device.status_code == 200 and device.json()["authentication"]["type"] == "sas"
    # the provisioned symmetric key authenticates the device on the hub (SAS over MQTT)
    run_device(sdk_python, action="hub-sas", hub_host=setup.env.hub_host, device_id=reg, key=key,
               ca_file=setup.env.ca_file)
    assert setup.telemetry(reg)["count"] == 1


def test_sdk_x509_device_reports_validity_and_sends_telemetry(sdk_python, setup):
    device_id = unique("sdkx-")
    key, csr = csr_b64(device_id)
    result = setup.env.provision(device_id, key=setup.device_key(device_id), csr=csr)  # CSR over HTTPS
    chain = chain_from(result)
    cert_file, key_file = write_client_files(setup.tmp, device_id, key, chain[:2])  # leaf + issuing CA
    leaf: x509.Certificate = chain[0]
    valid_from = leaf.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    valid_until = leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = run_device(sdk_python, action="hub-x509", hub_host=setup.env.hub_host, device_id=device_id,
                     cert_file=cert_file, key_file=key_file, ca_file=setup.env.ca_file, valid_from=valid_from,
                     valid_until=valid_until)
    assert out["reported"]["certificate"] == {"validFrom": valid_from, "validUntil": valid_until}
    twin = setup.hub_api("GET", f"/twins/{device_id}")
    assert twin.status_code == 200
    assert twin.json()["properties"]["reported"]["certificate"] == {"validFrom": valid_from,
                                                                    "validUntil": valid_until}
    messages = requests.get(f"{setup.env.http}/_emulator/hubs/{setup.env.hub_name}/devices/{device_id}/messages",
                            timeout=10).json()
    assert messages["count"] == 1
    last = messages["messages"][-1]
    assert json.loads(last["body"]) == {"temperature": 21.5}
    assert last["properties"] == {"source": "sdk"}
    assert last["systemProperties"]["contentType"] == "application/json"


def test_sdk_connects_with_a_ga_chain_and_is_refused_after_rotation(sdk_python, sdk_emulator, tmp_path):
    """The GA model end to end: a 2026-11-01 enrollment names a GA certificate policy, the device gets
    leaf -> ICA -> root over HTTPS, the real device SDK connects to the hub over MQTT with it; after
    `revokeAndRotate` (the sync follows by itself) the same chain is refused."""
    arm = Arm(sdk_emulator.http)
    env, group_key = ga_env_with_group(arm, sdk_emulator, "ga-sdk")
    device_id = unique("ga-sdk-")
    key, csr = csr_b64(device_id)
    chain = chain_from(env.provision(device_id, key=derive_device_key(group_key, device_id), csr=csr))
    assert len(chain) == 3
    cert_file, key_file = write_client_files(tmp_path, device_id, key, chain[:2])
    leaf = chain[0]
    valid_from = leaf.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    valid_until = leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = run_device(sdk_python, action="hub-x509", hub_host=env.hub_host, device_id=device_id,
                     cert_file=cert_file, key_file=key_file, ca_file=env.ca_file, valid_from=valid_from,
                     valid_until=valid_until)
    assert out["reported"]["certificate"] == {"validFrom": valid_from, "validUntil": valid_until}
    rotated = arm.post(f"{ca_path(env.rg, env.namespace, 'fleet-ica')}/revokeAndRotate", api_version=GA)
    assert rotated.status_code in (202, 204), rotated.text
    refused = run_device(sdk_python, action="hub-x509-refused", hub_host=env.hub_host, device_id=device_id,
                         cert_file=cert_file, key_file=key_file, ca_file=env.ca_file)
    assert refused["refused"] is True, refused
