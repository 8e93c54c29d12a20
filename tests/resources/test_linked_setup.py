"""The linked setup of adr-howto §4.2-4.6 over real HTTP, and the module helpers the data planes and the ADR
sync call (in-process, through the `emu` fixture)."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.support.arm_helpers import (
    ADR_CONTRIBUTOR,
    CONTRIBUTOR,
    DPS_API,
    HUB_API,
    IOTHUB_APP,
    MSI_API,
    NS_API,
    RA_API,
    SUB,
    assert_error,
    dps_path,
    full_id,
    hub_connection,
    hub_path,
    make_ca_pem,
    make_dps,
    make_hub,
    ns_path,
    uami_path,
    unique,
)


# ---- the linked setup of adr-howto §4.2-4.6 -------------------------------------------------------
def test_linked_setup_and_teardown(arm):
    rg = unique("rg-adr-")
    arm.group(rg)
    group_scope = f"/subscriptions/{SUB}/resourceGroups/{rg}"

    def assign(scope: str, principal: str, role: str) -> dict:
        r = arm.put(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
                    {"properties": {"roleDefinitionId": role, "principalId": principal}}, api_version=RA_API)
        assert r.status_code == 201, r.text
        return r.json()

    # §4.2 roles and identity
    assign(group_scope, IOTHUB_APP, CONTRIBUTOR)
    uami = arm.put(uami_path(rg, "adr-uami"), {"location": "eastus"}, api_version=MSI_API).json()
    uami_id = uami["id"]
    # §4.3 namespace, role for the identity on it
    namespace = arm.put(ns_path(rg, "adr-ns"), {"location": "eastus", "identity": {"type": "SystemAssigned"}},
                        api_version=NS_API).json()
    assign(namespace["id"], uami["properties"]["principalId"], ADR_CONTRIBUTOR)
    # §4.4 GEN2 hub linked with the identity; roles for the namespace's principal on the hub
    hub_name = unique("adrhub")
    hub = make_hub(arm, rg, hub_name, sku="GEN2", identity={"type": "UserAssigned",
                                                           "userAssignedIdentities": {uami_id: {}}},
                   properties={"deviceRegistry": {"namespaceResourceId": namespace["id"],
                                                  "identityResourceId": uami_id}})
    assert hub.status_code == 201, hub.text
    hub_id = hub.json()["id"]
    assign(hub_id, namespace["identity"]["principalId"], CONTRIBUTOR)
    # §4.5 DPS linked to the namespace and the hub
    dps_name = unique("adrdps")
    dps = make_dps(arm, rg, dps_name, hubs=[{"connectionString": hub_connection(arm, rg, hub_name),
                                             "location": "eastus"}],
                   identity={"type": "UserAssigned", "userAssignedIdentities": {uami_id: {}}},
                   properties={"deviceRegistryNamespace": {"resourceId": namespace["id"],
                                                           "authenticationType": "UserAssigned",
                                                           "selectedUserAssignedIdentityResourceId": uami_id}})
    assert dps.status_code == 201, dps.text
    dps_props = dps.json()["properties"]
    assert dps_props["iotHubs"][0]["name"] == f"{hub_name}.azure-devices.localhost"
    assert dps_props["deviceRegistryNamespace"]["selectedUserAssignedIdentityResourceId"] == uami_id
    # §4.6 the hub's certificate list is readable (the sync itself is the namespace credential's)
    assert arm.get(f"{hub_id}/certificates", api_version=HUB_API).status_code == 200
    # the namespace cannot go while the hub links it
    err = assert_error(arm.delete(ns_path(rg, "adr-ns"), api_version=NS_API), 409, "Conflict")
    assert hub_id in err["message"]
    # deleting the group removes everything, and the global names are free again
    d = arm.delete(f"resourceGroups/{rg}", api_version="2024-03-01")
    assert d.status_code == 202
    assert requests.get(d.headers["Location"], timeout=10).status_code == 200
    arm.group(rg)
    for path, version in ((hub_path(rg, hub_name), HUB_API), (dps_path(rg, dps_name), DPS_API),
                          (ns_path(rg, "adr-ns"), NS_API), (uami_path(rg, "adr-uami"), MSI_API)):
        assert arm.get(path, api_version=version).status_code == 404
    assigned = arm.get(f"{group_scope}/providers/Microsoft.Authorization/roleAssignments", api_version=RA_API)
    assert assigned.json()["value"] == []
    other = unique("rg-")
    arm.group(other)
    assert make_hub(arm, other, hub_name).status_code == 201


# ---- module helpers the data planes and the ADR sync call (in-process) ----------------------------
def _ctx(emu, path: str, api_version: str):
    from provider.arm.context import RequestContext
    from provider.arm.ids import parse_resource_id

    return RequestContext(emu, parse_resource_id(full_id(path)), api_version, "http://127.0.0.1")


def _put(emu, path: str, body: dict, api_version: str) -> dict:
    from provider.arm import handlers

    ctx = _ctx(emu, path, api_version)
    rtype = emu.registry.find(ctx.rid.full_type)
    result = handlers.put_resource(ctx, rtype, body)
    assert result.status in (200, 201), result.body
    return emu.repo.get(ctx.rid.key)


def test_helpers_for_data_planes_and_sync(emu):
    from provider.arm import groups
    from provider.arm.context import RequestContext
    from provider.resources import iothubs, provisioning_services

    groups.put(RequestContext(emu, None, "2024-03-01", ""), SUB, "g", {"location": "eastus"})
    namespace = _put(emu, ns_path("g", "ns-helpers"), {"location": "eastus"}, NS_API)
    identity = _put(emu, uami_path("g", "uami"), {"location": "eastus"}, MSI_API)
    hub = _put(emu, hub_path("g", "MyHub"), {"location": "eastus", "sku": {"name": "GEN2", "capacity": 1},
                                            "identity": {"type": "UserAssigned",
                                                         "userAssignedIdentities": {identity["id"]: {}}},
                                            "properties": {"deviceRegistry": {
                                                "namespaceResourceId": namespace["id"],
                                                "identityResourceId": identity["id"]}}}, HUB_API)
    assert emu.hub.by_host("MYHUB.azure-devices.localhost:8883")["id"] == hub["id"]
    assert emu.hub.by_name("myhub")["id"] == hub["id"]
    assert emu.hub.by_host("other.azure-devices.localhost") is None
    policies = emu.hub.policy_keys(hub)
    assert policies["iothubowner"]["rights"] == "RegistryWrite, ServiceConnect, DeviceConnect"
    conn = emu.hub.connection_string(hub, "iothubowner")
    assert conn == (f"HostName=myhub.azure-devices.localhost;SharedAccessKeyName=iothubowner;"
                    f"SharedAccessKey={policies['iothubowner']['primaryKey']}")
    with pytest.raises(KeyError):
        emu.hub.connection_string(hub, "nobody")
    assert [h["id"] for h in emu.hub.linked_to(namespace["id"].upper())] == [hub["id"]]

    # the CA sync: replace synced certificates, keep user uploads
    user_pem, first, second = make_ca_pem("user-ca"), make_ca_pem("policy-a"), make_ca_pem("policy-b")
    _put(emu, f"{hub_path('g', 'MyHub')}/certificates/user", {"properties": {"certificate": user_pem}}, HUB_API)
    policy_a, policy_b = f"{namespace['id']}/credentials/default/policies/a", \
        f"{namespace['id']}/credentials/default/policies/b"
    ctx = _ctx(emu, hub_path("g", "MyHub"), HUB_API)
    with emu.store.transaction():
        emu.hub.set_synced_certificates(ctx, hub, [("adr-a", first, policy_a), ("adr-b", second, policy_b)])
    synced = emu.hub.synced_certificates(hub)
    assert {(c["name"], c["properties"]["policyResourceId"]) for c in synced} == {("adr-a", policy_a),
                                                                                 ("adr-b", policy_b)}
    assert all(c["properties"]["isVerified"] for c in synced)
    assert sorted(emu.hub.trusted_certificates(hub)) == sorted([first, second])  # user: unverified
    etag_a = next(c["etag"] for c in synced if c["name"] == "adr-a")
    with emu.store.transaction():
        emu.hub.set_synced_certificates(ctx, hub, [("adr-a", first, policy_a)])
    synced = emu.hub.synced_certificates(hub)
    assert [c["name"] for c in synced] == ["adr-a"] and synced[0]["etag"] == etag_a  # unchanged: not rewritten
    names = [c["name"] for c in emu.hub.certificates(hub)]
    assert sorted(names) == ["adr-a", "user"]
    # a user PUT cannot overwrite a synced certificate
    from provider.arm import handlers
    from provider.arm.errors import ArmError

    cert_ctx = _ctx(emu, f"{hub_path('g', 'MyHub')}/certificates/adr-a", HUB_API)
    with pytest.raises(ArmError) as refused:
        handlers.put_resource(cert_ctx, emu.registry.find(cert_ctx.rid.full_type),
                              {"properties": {"certificate": user_pem}})
    assert refused.value.status == 409

    # DPS lookups
    dps = _put(emu, dps_path("g", "MyDps"), {"location": "eastus", "sku": {"name": "S1", "capacity": 1},
                                             "properties": {"iotHubs": [{"connectionString": conn,
                                                                         "location": "eastus"}],
                                                            "deviceRegistryNamespace": {
                                                                "resourceId": namespace["id"],
                                                                "authenticationType": "SystemAssigned"}},
                                             "identity": {"type": "SystemAssigned"}}, DPS_API)
    scope = dps["properties"]["idScope"]
    assert emu.dps.by_id_scope(scope.lower())["id"] == dps["id"]
    assert emu.dps.by_host("mydps.azure-devices-provisioning.localhost")["id"] == dps["id"]
    assert list(emu.dps.policy_keys(dps)) == ["provisioningserviceowner"]
    [(linked_hub, entry)] = emu.dps.linked_hubs(dps)
    assert linked_hub["id"] == hub["id"] and entry["connectionString"] == conn  # the stored entry has the key
    assert emu.dps.namespace_id(dps) == namespace["id"]
    assert emu.dps.connection_string(dps).startswith(
        "HostName=mydps.azure-devices-provisioning.localhost;SharedAccessKeyName=provisioningserviceowner;")
    assert iothubs.hub_name_availability(ctx, {"name": "myhub"})["reason"] == "AlreadyExists"
    assert iothubs.hub_name_availability(ctx, {"name": "free-name"})["nameAvailable"] is True
    assert provisioning_services.dps_name_availability(ctx, {"name": "x"})["reason"] == "Invalid"
