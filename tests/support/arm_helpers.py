"""ARM test helpers: the error-envelope assertion, and paths and builders for hubs, DPS, identities and
namespaces (api-versions the resource tests use by default)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.emulator_process import SUB

HUB_API = "2025-08-01-preview"
DPS_API = "2025-02-01-preview"
MSI_API = "2023-01-31"
RA_API = "2022-04-01"
NS_API = "2026-03-01-preview"
CONTRIBUTOR = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/" \
              "b24988ac-6180-42a0-ab88-20f7382dd24c"
ADR_CONTRIBUTOR = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/" \
                  "a5c3590a-3a1a-4cd4-9648-ea0a32b15137"
IOTHUB_APP = "89d10474-74af-4874-99a7-c23c2f643083"


def assert_error(resp: requests.Response, status: int, code: str, target: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    if target is not None:
        assert body["error"].get("target") == target, body
    return body["error"]


# ---- paths and builders ---------------------------------------------------------------------------
def hub_path(rg: str, name: str) -> str:
    return f"resourceGroups/{rg}/providers/Microsoft.Devices/IotHubs/{name}"


def dps_path(rg: str, name: str) -> str:
    return f"resourceGroups/{rg}/providers/Microsoft.Devices/provisioningServices/{name}"


def uami_path(rg: str, name: str) -> str:
    return f"resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"


def ns_path(rg: str, name: str) -> str:
    return f"resourceGroups/{rg}/providers/Microsoft.DeviceRegistry/namespaces/{name}"


def full_id(path: str) -> str:
    return f"/subscriptions/{SUB}/{path}"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def make_hub(arm, rg, name, sku="S1", api=HUB_API, **extra) -> requests.Response:
    body = {"location": "eastus", "sku": {"name": sku, "capacity": 1}, "properties": {}}
    body.update(extra)
    return arm.put(hub_path(rg, name), body, api_version=api)


def hub_keys(arm, rg, name) -> dict[str, dict]:
    r = arm.post(f"{hub_path(rg, name)}/listkeys", api_version=HUB_API)
    assert r.status_code == 200, r.text
    return {p["keyName"]: p for p in r.json()["value"]}


def hub_connection(arm, rg, name, key_name="iothubowner", key=None) -> str:
    policy = hub_keys(arm, rg, name)[key_name]
    host = arm.get(hub_path(rg, name), api_version=HUB_API).json()["properties"]["hostName"]
    return f"HostName={host};SharedAccessKeyName={key_name};SharedAccessKey={key or policy['primaryKey']}"


def make_ca_pem(common_name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make_dps(arm, rg, name, api=DPS_API, hubs=None, properties=None, **extra) -> requests.Response:
    body = {"location": "eastus", "sku": {"name": "S1", "capacity": 1},
            "properties": {"iotHubs": hubs or [], **(properties or {})}}
    body.update(extra)
    return arm.put(dps_path(rg, name), body, api_version=api)
