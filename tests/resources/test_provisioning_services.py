"""ARM behaviour of provisioning services (DPS): linked hubs, keys, api-versions, errors and the namespace link,
over real HTTP."""

from __future__ import annotations

import base64
import re
import uuid

from tests.support.arm_helpers import (
    DPS_API,
    MSI_API,
    NS_API,
    SUB,
    assert_error,
    dps_path,
    full_id,
    hub_connection,
    hub_keys,
    make_dps,
    make_hub,
    ns_path,
    uami_path,
    unique,
)


# ---- DPS ------------------------------------------------------------------------------------------
def test_dps_create_link_hub_and_keys(arm, rg):
    hub = unique("hubd")
    make_hub(arm, rg, hub)
    connection = hub_connection(arm, rg, hub)
    name = unique("dps")
    r = make_dps(arm, rg, name, hubs=[{"connectionString": connection, "location": "East US",
                                       "allocationWeight": 10, "applyAllocationPolicy": True}])
    assert r.status_code == 201, r.text
    assert r.headers["Azure-AsyncOperation"]
    body = r.json()
    assert body["type"] == "Microsoft.Devices/provisioningServices" and body["etag"]
    assert body["resourcegroup"] == rg and body["subscriptionid"] == SUB
    assert body["sku"] == {"name": "S1", "tier": "Standard", "capacity": 1}
    props = body["properties"]
    assert re.fullmatch(r"0ne[0-9A-F]{8}", props["idScope"])
    assert props["serviceOperationsHostName"] == f"{name}.azure-devices-provisioning.localhost"
    assert props["deviceProvisioningHostName"] and props["state"] == "Active"
    assert props["allocationPolicy"] == "Hashed" and "authorizationPolicies" not in props
    linked = props["iotHubs"][0]
    assert linked["name"] == f"{hub}.azure-devices.localhost" and linked["location"] == "eastus"
    assert linked["connectionString"].endswith("SharedAccessKey=****") and linked["allocationWeight"] == 10
    keys = arm.post(f"{dps_path(rg, name)}/listkeys", api_version=DPS_API)
    assert keys.status_code == 200
    owner = keys.json()["value"][0]
    assert owner["keyName"] == "provisioningserviceowner" and "EnrollmentWrite" in owner["rights"]
    assert len(base64.b64decode(owner["primaryKey"])) == 32
    one = arm.post(f"{dps_path(rg, name)}/keys/provisioningserviceowner/listkeys", api_version="2022-02-05")
    assert one.status_code == 200 and one.json() == owner
    assert_error(arm.post(f"{dps_path(rg, name)}/keys/nobody/listkeys", api_version=DPS_API), 404, "KeyNameNotFound")
    # GET-modify-PUT sends the masked string back: the stored key is kept, idScope and keys too
    current = arm.get(dps_path(rg, name), api_version=DPS_API).json()
    current["properties"]["allocationPolicy"] = "GeoLatency"
    again = arm.put(dps_path(rg, name), current, api_version=DPS_API)
    assert again.status_code == 200, again.text
    assert again.json()["properties"]["idScope"] == props["idScope"]
    assert again.json()["properties"]["allocationPolicy"] == "GeoLatency"
    assert arm.post(f"{dps_path(rg, name)}/listkeys", api_version=DPS_API).json()["value"][0] == owner
    # older api-versions
    for version in ("2017-11-15", "2018-01-22", "2020-03-01", "2021-10-15", "2022-12-12", "2023-03-01-preview"):
        assert arm.get(dps_path(rg, name), api_version=version).status_code == 200


def test_dps_linked_hub_errors(arm, rg):
    hub = unique("hube")
    make_hub(arm, rg, hub)
    target = "properties.iotHubs[0].connectionString"
    wrong_key = base64.b64encode(b"w" * 32).decode()
    cases = [
        hub_connection(arm, rg, hub, key=wrong_key),
        f"HostName={hub}.azure-devices.localhost;SharedAccessKeyName=nobody;SharedAccessKey={wrong_key}",
        f"HostName=ghost.azure-devices.localhost;SharedAccessKeyName=iothubowner;SharedAccessKey={wrong_key}",
        "not a connection string",
        f"HostName={hub}.azure-devices.localhost;SharedAccessKeyName=iothubowner",
        f"HostName={hub}.azure-devices.localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=****",
    ]
    for connection in cases:
        assert_error(make_dps(arm, rg, unique("dpse"), hubs=[{"connectionString": connection, "location": "eastus"}]),
                     400, "InvalidIotHubConnectionString", target)
    assert_error(make_dps(arm, rg, unique("dpse"), hubs=[{"connectionString": hub_connection(arm, rg, hub)}]),
                 400, "InvalidRequestContent", "properties.iotHubs.0.location")
    secondary = hub_keys(arm, rg, hub)["service"]["secondaryKey"]
    assert make_dps(arm, rg, unique("dpse"), hubs=[{"connectionString": hub_connection(
        arm, rg, hub, key_name="service", key=secondary), "location": "eastus"}]).status_code == 201
    assert_error(arm.put(dps_path(rg, unique("dpse")), {"location": "eastus", "sku": {"name": "S2"}},
                         api_version=DPS_API), 400, "InvalidRequestContent", "sku.name")
    assert_error(make_dps(arm, rg, "ab"), 400, "InvalidResourceName", "name")
    assert_error(make_dps(arm, rg, "dps_under"), 400, "InvalidResourceName", "name")
    name = unique("dpsg")
    assert make_dps(arm, rg, name).status_code == 201
    other = unique("rg-")
    arm.group(other)
    assert_error(make_dps(arm, other, name), 409, "ProvisioningServiceNameNotAvailable")


def test_dps_namespace_link_validation(arm, rg):
    identity = full_id(uami_path(rg, "dps-id"))
    arm.put(uami_path(rg, "dps-id"), {"location": "eastus"}, api_version=MSI_API)
    arm.put(ns_path(rg, "ns-dps"), {"location": "eastus"}, api_version=NS_API)
    arm.put(ns_path(rg, "ns-far"), {"location": "westus"}, api_version=NS_API)
    namespace = full_id(ns_path(rg, "ns-dps"))
    attached = {"type": "UserAssigned", "userAssignedIdentities": {identity: {}}}

    def link(ns=namespace, auth="UserAssigned", selected=identity, ident=attached):
        extra = {"identity": ident} if ident else {}
        return make_dps(arm, rg, unique("dpsn"), properties={"deviceRegistryNamespace": {
            "resourceId": ns, "authenticationType": auth, "selectedUserAssignedIdentityResourceId": selected}},
            **extra)

    assert_error(link(ns=full_id(ns_path(rg, "nope"))), 404, "LinkedResourceNotFound")
    assert_error(link(ns="garbage"), 400, "LinkedInvalidPropertyId")
    assert_error(link(ns=full_id(ns_path(rg, "ns-far"))), 400, "LocationMismatch")
    assert_error(link(ident=None), 400, "LinkedIdentityNotAssigned")
    assert_error(link(auth="SystemAssigned", selected=None), 400, "LinkedIdentityNotAssigned")
    assert_error(link(auth="Magic"), 400, "InvalidRequestContent",
                 "properties.deviceRegistryNamespace.authenticationType")
    ok = link()
    assert ok.status_code == 201, ok.text
    assert ok.json()["properties"]["deviceRegistryNamespace"]["resourceId"] == namespace
    system = link(auth="SystemAssigned", selected=None, ident={"type": "SystemAssigned"})
    assert system.status_code == 201, system.text
    assert uuid.UUID(system.json()["identity"]["principalId"])
    # an older api-version neither shows nor drops the link
    name = ok.json()["name"]
    old = arm.put(dps_path(rg, name), {"location": "eastus", "sku": {"name": "S1", "capacity": 1},
                                       "identity": attached, "properties": {}}, api_version="2022-02-05")
    assert old.status_code == 200 and "deviceRegistryNamespace" not in old.json()["properties"]
    assert arm.get(dps_path(rg, name), api_version=DPS_API).json()["properties"]["deviceRegistryNamespace"]
