"""The newest published api-versions render the fields their specs add; older ones render without them.

IoT Hub 2026-10-01-preview and DPS 2026-11-01 make the Device Registry link read-only (the
namespace links them) and add the namespace's uuid, data-plane host, identity and link state.
"""

from __future__ import annotations

import base64
import uuid

from tests.support.arm_helpers import (
    MSI_API,
    NS_API,
    assert_error,
    dps_path,
    full_id,
    hub_keys,
    hub_path,
    make_dps,
    make_hub,
    ns_path,
    uami_path,
    unique,
)

HUB_NEWEST = "2026-10-01-preview"
DPS_NEWEST = "2026-11-01"


def _linked_setup(arm, rg) -> tuple[str, str, dict]:
    arm.put(uami_path(rg, "link-id"), {"location": "eastus"}, api_version=MSI_API)
    assert arm.put(ns_path(rg, "ns-new"), {"location": "eastus"}, api_version=NS_API).status_code == 201
    identity = full_id(uami_path(rg, "link-id"))
    namespace = arm.get(ns_path(rg, "ns-new"), api_version=NS_API).json()
    return identity, namespace["id"], namespace


def test_hub_link_at_every_version(arm, rg):
    identity, namespace_id, namespace = _linked_setup(arm, rg)
    attached = {"type": "UserAssigned", "userAssignedIdentities": {identity: {}}}
    name = unique("hubn")
    created = make_hub(arm, rg, name, sku="GEN2", identity=attached, properties={
        "deviceRegistry": {"namespaceResourceId": namespace_id, "identityResourceId": identity}})
    assert created.status_code == 201, created.text

    for version in ("2026-03-01-preview", "2026-05-01-preview", "2026-08-01-preview"):
        link = arm.get(hub_path(rg, name), api_version=version).json()["properties"]["deviceRegistry"]
        assert link == {"namespaceResourceId": namespace_id, "identityResourceId": identity}, version
    for version in (HUB_NEWEST, "2026-11-01"):
        got = arm.get(hub_path(rg, name), api_version=version).json()
        assert got["sku"]["name"] == "GEN2"
        assert got["properties"]["deviceRegistry"] == {
            "namespaceResourceId": namespace_id,
            "namespaceUuid": namespace["properties"]["uuid"],
            "dataPlaneHostName": f"{namespace['properties']['uuid']}.deviceregistry.localhost",
            "identity": {"type": "UserAssigned", "userAssignedIdentity": identity},
            "linkingProperties": {"state": "Success"},
        }, version
    for version in ("2016-02-03", "2020-08-31-preview", "2023-06-30"):
        got = arm.get(hub_path(rg, name), api_version=version)
        assert got.status_code == 200 and "deviceRegistry" not in got.json()["properties"], version

    # the link is read-only at the newest version: a PUT that sends another one (or none) keeps it
    body = arm.get(hub_path(rg, name), api_version=HUB_NEWEST).json()
    body["properties"]["deviceRegistry"] = {"namespaceResourceId": "/subscriptions/x/other"}
    body["tags"] = {"put": "newest"}
    again = arm.put(hub_path(rg, name), body, api_version=HUB_NEWEST)
    assert again.status_code == 200, again.text
    assert again.json()["properties"]["deviceRegistry"]["namespaceResourceId"] == namespace_id
    # a version that cannot express the link keeps it too
    old = arm.put(hub_path(rg, name), {"location": "eastus", "sku": {"name": "GEN2", "capacity": 1},
                                       "identity": attached, "properties": {}}, api_version="2026-10-01-preview")
    assert old.status_code == 200
    assert arm.get(hub_path(rg, name), api_version="2025-08-01-preview").json()["properties"]["deviceRegistry"]


def test_gen2_is_a_sku_of_the_linking_versions_only(arm, rg):
    assert make_hub(arm, rg, unique("hubg"), sku="GEN2", api=HUB_NEWEST).status_code == 201
    assert_error(make_hub(arm, rg, unique("hubg"), sku="GEN2", api="2023-06-30"), 400, "InvalidSku", "sku.name")


def test_dps_link_at_every_version(arm, rg):
    identity, namespace_id, namespace = _linked_setup(arm, rg)
    attached = {"type": "UserAssigned", "userAssignedIdentities": {identity: {}}}
    link = {"resourceId": namespace_id, "authenticationType": "UserAssigned",
            "selectedUserAssignedIdentityResourceId": identity}
    name = unique("dpsn")
    created = make_dps(arm, rg, name, api="2026-04-01", identity=attached,
                       properties={"deviceRegistryNamespace": link})
    assert created.status_code == 201, created.text
    assert created.json()["properties"]["deviceRegistryNamespace"] == link

    newest = arm.get(dps_path(rg, name), api_version=DPS_NEWEST).json()["properties"]
    assert "deviceRegistryNamespace" not in newest
    assert newest["deviceRegistryNamespaces"] == [{
        **link, "namespaceUuid": namespace["properties"]["uuid"],
        "dataAddress": f"{namespace['properties']['uuid']}.deviceregistry.localhost",
        "location": "eastus", "linkingState": "Succeeded"}]
    old = arm.get(dps_path(rg, name), api_version="2022-12-12").json()["properties"]
    assert "deviceRegistryNamespace" not in old and "deviceRegistryNamespaces" not in old
    # unlinked at the newest version: an empty list, as the SDK's model reads it
    plain = unique("dpsp")
    assert make_dps(arm, rg, plain, api=DPS_NEWEST).status_code == 201
    assert arm.get(dps_path(rg, plain), api_version=DPS_NEWEST).json()["properties"]["deviceRegistryNamespaces"] == []
    # read-only at 2026-11-01: a PUT keeps the stored link
    body = arm.get(dps_path(rg, name), api_version=DPS_NEWEST).json()
    body["properties"]["deviceRegistryNamespaces"] = []
    assert arm.put(dps_path(rg, name), body, api_version=DPS_NEWEST).status_code == 200
    again = arm.get(dps_path(rg, name), api_version="2026-06-01-preview").json()["properties"]
    assert again["deviceRegistryNamespace"] == link


def test_dps_links_hubs_by_connection_strings_written_as_in_azure(arm, rg):
    hub = unique("hubc")
    assert make_hub(arm, rg, hub).status_code == 201
    key = hub_keys(arm, rg, hub)["iothubowner"]["primaryKey"]
    for host in (f"https://{hub}.azure-devices.net", f"{hub}.azure-devices.net", f"https://{hub}.azure-devices.net/",
                 f"https://{hub}.azure-devices.localhost", f"{hub.upper()}.AZURE-DEVICES.NET"):
        sent = f"HostName={host};SharedAccessKeyName=iothubowner;SharedAccessKey={key}"
        name = unique("dpsc")
        r = make_dps(arm, rg, name, hubs=[{"connectionString": sent, "location": "eastus"}])
        assert r.status_code == 201, (host, r.text)
        linked = r.json()["properties"]["iotHubs"][0]
        assert linked["name"] == f"{hub}.azure-devices.localhost", host  # the emulated hub devices reach
        assert linked["connectionString"] == f"HostName={host};SharedAccessKeyName=iothubowner;SharedAccessKey=****"
    # the key is still checked against the hub's policy, and an unknown hub is refused
    wrong = base64.b64encode(uuid.uuid4().bytes * 2).decode()
    for sent in (f"HostName=https://{hub}.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey={wrong}",
                 f"HostName=https://ghost{hub}.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey={key}"):
        assert_error(make_dps(arm, rg, unique("dpsx"), hubs=[{"connectionString": sent, "location": "eastus"}]),
                     400, "InvalidIotHubConnectionString", "properties.iotHubs[0].connectionString")


def test_old_template_versions_deploy(arm, rg):
    """The two quickstart patterns of arm_templates/ (old api-version hub + consumer group; Azure-form link)."""
    from tests.templates.test_deployments import deploy, ours

    template, params = ours("hub-with-consumer-group")
    hub = unique("cghub")
    params["hubName"] = {"value": hub}
    outputs = deploy(arm, rg, "cg", template, params)["properties"]["outputs"]
    assert outputs["hubHostName"]["value"] == f"{hub}.azure-devices.localhost"
    group = arm.get(f"{hub_path(rg, hub)}/eventHubEndpoints/events/ConsumerGroups/analytics",
                    api_version="2020-08-31-preview")
    assert group.status_code == 200, group.text

    template, params = ours("dps-linked-by-azure-hostname")
    hub, dps = unique("edgehub"), unique("edgedps")
    params.update(hubName={"value": hub}, dpsName={"value": dps})
    outputs = deploy(arm, rg, "edge", template, params)["properties"]["outputs"]
    linked = outputs["linkedHubs"]["value"][0]
    assert linked["name"] == f"{hub}.azure-devices.localhost"
    assert linked["connectionString"].startswith(f"HostName=https://{hub}.azure-devices.net;")
