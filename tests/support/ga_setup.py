"""The GA Device Registry setup (api-version 2026-11-01) over HTTP, shared by the GA tests.

`create_ga_env` builds what today's GA docs describe: a GEN2 hub and a DPS, a namespace that links
both through its own endpoints, a Root CA, a Microsoft ICA signed by it, and a policy under the ICA.
"""

from __future__ import annotations

import requests

from tests.support.arm_helpers import hub_keys, hub_path, ns_path, unique
from tests.support.dps_helpers import DpsEnv, new_key_b64

GA = "2026-11-01"
HUB_NEWEST = "2026-10-01-preview"


def ca_path(rg: str, ns: str, ca: str) -> str:
    return f"{ns_path(rg, ns)}/certificateAuthorities/{ca}"


def make_namespace(arm, rg: str, ns: str, **properties) -> dict:
    r = arm.put(ns_path(rg, ns), {"location": "eastus", "properties": properties}, api_version=GA)
    assert r.status_code in (200, 201), r.text
    return r.json()


def make_root(arm, rg: str, ns: str, name: str = "root-ca") -> dict:
    r = arm.put(ca_path(rg, ns, name), {"location": "eastus", "properties": {
        "certificateAuthorityType": "Root", "keyType": "ECC"}}, api_version=GA)
    assert r.status_code == 201, r.text
    return r.json()


def make_ica(arm, rg: str, ns: str, name: str, root_id: str | None = None) -> requests.Response:
    issuer = {"issuerType": "Microsoft", "certificateAuthorityResourceId": root_id} if root_id else \
        {"issuerType": "External"}
    return arm.put(ca_path(rg, ns, name), {"location": "eastus", "properties": {
        "certificateAuthorityType": "ICA", "keyType": "ECC", "issuer": issuer}}, api_version=GA)


def make_policy(arm, rg: str, ns: str, ca: str, name: str, days: int = 30) -> requests.Response:
    return arm.put(f"{ca_path(rg, ns, ca)}/certificatePolicies/{name}",
                   {"properties": {"certificate": {"validityPeriodInDays": days}}}, api_version=GA)


def pki_view(arm, rg: str, ns: str) -> dict:
    uuid = arm.get(ns_path(rg, ns), api_version=GA).json()["properties"]["uuid"]
    return arm.get(f"/_emulator/namespaces/{uuid}/ca", api_version=None).json()


def create_ga_env(arm, emulator, rg: str, namespace: str = "ns-chain", days: int = 20) -> DpsEnv:
    """A GEN2 hub and a DPS linked to a GA namespace by the namespace's own endpoints, a Root
    (`root-ca`), a Microsoft ICA (`fleet-ica`) and a policy (`fleet`) under it."""
    hub_name, dps_name = unique("gahub"), unique("gadps")
    hub = arm.put(hub_path(rg, hub_name), {"location": "eastus", "sku": {"name": "GEN2", "capacity": 1},
                                           "properties": {}}, api_version=HUB_NEWEST)
    assert hub.status_code == 201, hub.text
    owner = hub_keys(arm, rg, hub_name)["iothubowner"]["primaryKey"]
    host = hub.json()["properties"]["hostName"]
    dps_path = f"resourceGroups/{rg}/providers/Microsoft.Devices/provisioningServices/{dps_name}"
    dps = arm.put(dps_path, {"location": "eastus", "sku": {"name": "S1", "capacity": 1}, "properties": {"iotHubs": [
        {"connectionString": f"HostName={host};SharedAccessKeyName=iothubowner;SharedAccessKey={owner}",
         "location": "eastus"}]}}, api_version=GA)
    assert dps.status_code == 201, dps.text
    namespace_doc = make_namespace(arm, rg, namespace, messaging={"endpoints": {"hub": {
        "endpointType": "Microsoft.Devices/IotHubs", "resourceId": hub.json()["id"],
        "inboundCallerIdentity": {"type": "SystemAssigned"}}}}, provisioning={"endpoints": {"dps": {
            "endpointType": "Microsoft.Devices/provisioningServices", "resourceId": dps.json()["id"],
            "inboundCallerIdentity": {"type": "SystemAssigned"}}}})
    assert namespace_doc["properties"]["messaging"]["endpoints"]["hub"]["linkingState"] == "Succeeded"
    root = make_root(arm, rg, namespace)
    assert make_ica(arm, rg, namespace, "fleet-ica", root["id"]).status_code == 201
    assert make_policy(arm, rg, namespace, "fleet-ica", "fleet", days=days).status_code == 201
    keys = {p["keyName"]: p for p in arm.post(f"{dps_path}/listkeys", api_version=GA).json()["value"]}
    view = pki_view(arm, rg, namespace)["certificateAuthorities"]
    return DpsEnv(rg=rg, namespace=namespace, namespace_id=namespace_doc["id"], policy="fleet", hub_name=hub_name,
                  hub_host=host, hub_owner_key=owner, dps_name=dps_name, dps_path=dps_path,
                  id_scope=dps.json()["properties"]["idScope"],
                  service_host=dps.json()["properties"]["serviceOperationsHostName"],
                  owner_key=keys["provisioningserviceowner"]["primaryKey"], https=emulator.https,
                  http=emulator.http, ca_file=emulator.ca_file, root_pem=view["root-ca"]["certificate"],
                  ica_pem=view["fleet-ica"]["certificate"])


def enroll_ga_group(env: DpsEnv, group_id: str, group_key: str) -> dict:
    """A 2026-11-01 symmetric-key enrollment group naming the GA policy `fleet-ica/fleet`."""
    return env.put_enrollment({"enrollmentGroupId": group_id, "namespaceName": env.namespace,
                               "certificateAuthorityName": "fleet-ica", "certificatePolicyName": "fleet",
                               "attestation": {"type": "symmetricKey", "symmetricKey": {
                                   "primaryKey": group_key, "secondaryKey": group_key}}}, group=True, api_version=GA)


def ga_env_with_group(arm, emulator, prefix: str) -> tuple[DpsEnv, str]:
    """A fresh resource group with the GA setup and an enrollment group `{prefix}` on the GA policy:
    (the environment, the group's symmetric key)."""
    rg = unique(f"rg-{prefix}-")
    arm.group(rg)
    env = create_ga_env(arm, emulator, rg)
    group_key = new_key_b64()
    enroll_ga_group(env, prefix, group_key)
    return env, group_key
