"""Credential sync over ARM: the hub's certificates are exactly the namespace's current issuing CAs."""

from __future__ import annotations

import requests
from cryptography import x509

from tests.support.adr_setup import namespace_pki, ns_path, policy_body

HUB_API = "2025-08-01-preview"


def linked_setup(arm, rg: str) -> tuple[str, str]:
    """identity, namespace, credential, two policies, a GEN2 hub linked to the namespace."""
    ident = arm.put(f"resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1",
                    {"location": "eastus"}, api_version="2023-01-31").json()
    ns = ns_path(rg, "ns-sync")
    ns_id = arm.put(ns, {"location": "eastus", "identity": {"type": "SystemAssigned"}}).json()["id"]
    arm.put(f"{ns}/credentials/default", {"location": "eastus"})
    for name in ("pol-a", "pol-b"):
        assert arm.put(f"{ns}/credentials/default/policies/{name}", policy_body()).status_code == 201
    hub_name = f"synchub{rg[-8:]}"
    hub = arm.put(f"resourceGroups/{rg}/providers/Microsoft.Devices/IotHubs/{hub_name}", {
        "location": "eastus", "sku": {"name": "GEN2", "capacity": 1},
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {ident["id"]: {}}},
        "properties": {"deviceRegistry": {"namespaceResourceId": ns_id, "identityResourceId": ident["id"]}}},
        api_version=HUB_API)
    assert hub.status_code == 201, hub.text
    return ns, f"resourceGroups/{rg}/providers/Microsoft.Devices/IotHubs/{hub_name}"


def sync(arm, ns: str) -> dict:
    r = arm.post(f"{ns}/credentials/default/synchronize")
    assert r.status_code == 202 and not r.content
    result = requests.get(r.headers["Location"], timeout=10)
    assert result.status_code == 200
    return result.json()


def hub_certs(arm, hub: str) -> dict[str, dict]:
    return {c["name"]: c["properties"] for c in arm.get(f"{hub}/certificates", api_version=HUB_API).json()["value"]}


def test_sync_writes_each_policy_ca_and_rotation_replaces_it(arm, rg):
    ns, hub = linked_setup(arm, rg)
    assert hub_certs(arm, hub) == {}  # nothing is trusted before a sync
    summary = sync(arm, ns)
    assert len(summary["synchronizedHubs"]) == 1
    pki = namespace_pki(arm, rg, "ns-sync")
    certs = hub_certs(arm, hub)
    assert set(certs) == {"adr-pol-a", "adr-pol-b"}
    for name in ("pol-a", "pol-b"):
        props = certs[f"adr-{name}"]
        assert props["policyResourceId"].endswith(f"/credentials/default/policies/{name}")
        assert props["isVerified"] is True
        synced = x509.load_pem_x509_certificate(props["certificate"].encode())
        ours = x509.load_pem_x509_certificate(pki["policies"][name]["issuingCa"].encode())
        assert synced == ours and props["thumbprint"] == pki["policies"][name]["thumbprint"]
    old = certs["adr-pol-a"]["thumbprint"]
    r = arm.post(f"{ns}/credentials/default/policies/pol-a/revokeIssuer")
    assert r.status_code == 202
    assert hub_certs(arm, hub)["adr-pol-a"]["thumbprint"] == old  # still trusted until the next sync
    sync(arm, ns)
    after = hub_certs(arm, hub)
    assert after["adr-pol-a"]["thumbprint"] != old
    assert old not in {c["thumbprint"] for c in after.values()}
    assert after["adr-pol-b"] == certs["adr-pol-b"]  # unchanged policies are left alone
    # deleting a policy stops issuance; its CA leaves the hub at the next sync
    assert arm.delete(f"{ns}/credentials/default/policies/pol-b").status_code == 202
    sync(arm, ns)
    assert set(hub_certs(arm, hub)) == {"adr-pol-a"}


def test_namespace_with_a_linked_hub_cannot_be_deleted(arm, rg):
    ns, hub = linked_setup(arm, rg)
    r = arm.delete(ns)
    assert r.status_code == 409 and hub.rsplit("/", 1)[1] in r.json()["error"]["message"]
    assert arm.delete(hub, api_version=HUB_API).status_code in (200, 202)
    assert arm.delete(ns).status_code == 202


def test_role_assignment_listing_at_above_and_below_a_scope(arm, rg):
    import uuid

    ns, hub = linked_setup(arm, rg)
    role = "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/" \
           "b24988ac-6180-42a0-ab88-20f7382dd24c"
    api = "2022-04-01"

    def assign(scope: str, principal: str) -> str:
        name = str(uuid.uuid4())
        r = arm.put(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
                    {"properties": {"roleDefinitionId": role, "principalId": principal}}, api_version=api)
        assert r.status_code == 201, r.text
        return name

    def listed(scope: str, filter_: str | None = None) -> set[str]:
        path = f"{scope}/providers/Microsoft.Authorization/roleAssignments"
        if filter_:
            path += f"?$filter={filter_}"
        r = arm.get(path, api_version=api)
        assert r.status_code == 200, r.text
        return {a["name"] for a in r.json()["value"]}

    group = f"resourceGroups/{rg}"
    on_group = assign(group, "11111111-1111-1111-1111-111111111111")
    on_ns = assign(ns, "22222222-2222-2222-2222-222222222222")
    on_hub = assign(hub, "22222222-2222-2222-2222-222222222222")
    assert {on_group, on_ns, on_hub} <= listed(group)  # at and below the group
    assert listed(ns) >= {on_group, on_ns} and on_hub not in listed(ns)  # at and above the namespace
    assert on_ns not in listed(group, "atScope()") and on_group in listed(group, "atScope()")
    assert listed(group, "principalId eq '22222222-2222-2222-2222-222222222222'") == {on_ns, on_hub}
    missing = arm.get(f"{ns}-missing/providers/Microsoft.Authorization/roleAssignments", api_version=api)
    assert missing.status_code == 404
