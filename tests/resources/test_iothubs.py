"""ARM behaviour of IoT hubs: shape, keys, api-versions, errors, the Device Registry link, consumer groups and
certificates, over real HTTP."""

from __future__ import annotations

import base64
import re
import uuid

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.arm_helpers import (
    HUB_API,
    MSI_API,
    NS_API,
    assert_error,
    full_id,
    hub_keys,
    hub_path,
    make_ca_pem,
    make_hub,
    ns_path,
    uami_path,
    unique,
)


# ---- IoT hubs -------------------------------------------------------------------------------------
def test_hub_create_shape_and_lro_headers(arm, rg):
    name = unique("hub")
    r = make_hub(arm, rg, name, tags={"env": "test"})
    assert r.status_code == 201, r.text
    assert r.headers["Azure-AsyncOperation"].startswith(arm.base) and r.headers["Retry-After"].isdigit()
    status = requests.get(r.headers["Azure-AsyncOperation"], timeout=10).json()
    assert status["status"] == "Succeeded"
    body = r.json()
    assert body["type"] == "Microsoft.Devices/IotHubs" and body["etag"]
    assert body["sku"] == {"name": "S1", "tier": "Standard", "capacity": 1}
    props = body["properties"]
    assert props["hostName"] == f"{name}.azure-devices.localhost"
    assert props["state"] == "Active" and props["provisioningState"] == "Succeeded"
    events = props["eventHubEndpoints"]["events"]
    assert events["partitionCount"] == 4 and events["partitionIds"] == ["0", "1", "2", "3"]
    assert events["endpoint"].startswith("sb://") and events["endpoint"].endswith("localhost/")
    assert events["path"] == name and events["retentionTimeInDays"] == 1
    assert props["locations"] == [{"location": "eastus", "role": "primary"}]
    assert props["features"] == "None" and props["enableFileUploadNotifications"] is False
    assert props["routing"]["fallbackRoute"]["endpointNames"] == ["events"]
    assert props["cloudToDevice"]["maxDeliveryCount"] == 10
    assert "authorizationPolicies" not in props  # keys only through listkeys
    got = arm.get(hub_path(rg, name), api_version=HUB_API)
    assert got.status_code == 200 and "authorizationPolicies" not in got.json()["properties"]
    listed = arm.get(f"resourceGroups/{rg}/providers/Microsoft.Devices/IotHubs", api_version=HUB_API).json()
    assert [h["name"] for h in listed["value"]] == [name]
    by_sub = arm.get("providers/Microsoft.Devices/IotHubs", api_version=HUB_API).json()["value"]
    assert name in [h["name"] for h in by_sub]


def test_hub_keys_listkeys_and_stability(arm, rg):
    name = unique("hubk")
    make_hub(arm, rg, name)
    policies = hub_keys(arm, rg, name)
    assert list(policies) == ["iothubowner", "service", "device", "registryRead", "registryReadWrite"]
    assert policies["iothubowner"]["rights"] == "RegistryWrite, ServiceConnect, DeviceConnect"
    assert len(base64.b64decode(policies["service"]["primaryKey"])) == 32
    assert policies["service"]["primaryKey"] != policies["service"]["secondaryKey"]
    one = arm.post(f"{hub_path(rg, name)}/IotHubKeys/iothubowner/listkeys", api_version="2020-03-01")
    assert one.status_code == 200 and one.json() == policies["iothubowner"]
    assert_error(arm.post(f"{hub_path(rg, name)}/IotHubKeys/nobody/listkeys", api_version=HUB_API), 404,
                 "KeyNameNotFound")
    # a replace without policies (GET-modify-PUT) keeps every key
    current = arm.get(hub_path(rg, name), api_version=HUB_API).json()
    current["tags"] = {"x": "y"}
    assert arm.put(hub_path(rg, name), current, api_version=HUB_API).status_code == 200
    assert hub_keys(arm, rg, name) == policies
    # a replace with policies replaces the list; a policy without keys keeps the same-named keys
    supplied = base64.b64encode(b"k" * 32).decode()
    r = make_hub(arm, rg, name, properties={"authorizationPolicies": [
        {"keyName": "iothubowner", "rights": "RegistryWrite,ServiceConnect,DeviceConnect"},
        {"keyName": "custom", "rights": "RegistryRead", "primaryKey": supplied, "secondaryKey": supplied}]})
    assert r.status_code == 200, r.text
    after = hub_keys(arm, rg, name)
    assert list(after) == ["iothubowner", "custom"]
    assert after["iothubowner"]["primaryKey"] == policies["iothubowner"]["primaryKey"]
    assert after["custom"]["primaryKey"] == supplied
    assert_error(make_hub(arm, rg, name, properties={"authorizationPolicies": [
        {"keyName": "p", "rights": "Everything"}]}), 400, "InvalidRequestContent",
        "properties.authorizationPolicies[0].rights")
    assert_error(make_hub(arm, rg, name, properties={"authorizationPolicies": [
        {"keyName": "p", "rights": "RegistryRead", "primaryKey": "short"}]}), 400, "InvalidRequestContent",
        "properties.authorizationPolicies[0].primaryKey")


def test_hub_older_api_versions_and_template_shapes(arm, rg):
    name = unique("hubold")
    body = {"location": "eastus", "sku": {"name": "S1", "capacity": "1"},  # templates may send a string
            "properties": {"eventHubEndpoints": {"events": {"retentionTimeInDays": 1, "partitionCount": 2}},
                           "messagingEndpoints": {"fileNotifications": {"lockDurationAsIso8601": "PT1M",
                                                                        "ttlAsIso8601": "PT1H",
                                                                        "maxDeliveryCount": 10}},
                           "enableFileUploadNotifications": False,
                           "cloudToDevice": {"maxDeliveryCount": 10, "defaultTtlAsIso8601": "PT1H",
                                             "feedback": {"lockDurationAsIso8601": "PT1M", "ttlAsIso8601": "PT1H",
                                                          "maxDeliveryCount": 10}},
                           "routing": {"endpoints": {"storageContainers": [{
                               "connectionString": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=secret==",
                               "containerName": "c", "name": "store", "encoding": "JSON"}]},
                               "routes": [{"name": "r", "source": "DeviceMessages", "condition": "true",
                                           "endpointNames": ["store"], "isEnabled": True}]}}}
    r = arm.put(hub_path(rg, name), body, api_version="2021-07-02")
    assert r.status_code == 201, r.text
    props = r.json()["properties"]
    assert props["eventHubEndpoints"]["events"]["partitionCount"] == 2
    container = props["routing"]["endpoints"]["storageContainers"][0]
    assert container["connectionString"].endswith("AccountKey=****")  # keys are not echoed
    assert props["routing"]["routes"][0]["name"] == "r" and props["routing"]["endpoints"]["eventHubs"] == []
    for version in ("2018-04-01", "2019-11-04", "2020-03-01", "2021-03-31", "2022-04-30-preview", "2023-06-30"):
        assert arm.get(hub_path(rg, name), api_version=version).status_code == 200
    one = arm.post(f"{hub_path(rg, name)}/Iothubkeys/iothubowner/listkeys", api_version="2020-03-01")
    assert one.status_code == 200 and one.json()["keyName"] == "iothubowner"
    assert_error(arm.put(hub_path(rg, name), {**body, "properties": {"eventHubEndpoints": {"events": {
        "partitionCount": 8}}}}, api_version="2021-07-02"), 400, "InvalidRequestContent",
        "properties.eventHubEndpoints.events.partitionCount")


def test_hub_rpc_errors(arm, rg):
    assert_error(make_hub(arm, rg, unique("hubs"), sku="S9"), 400, "InvalidSku", "sku.name")
    assert_error(make_hub(arm, rg, unique("hubs"), sku="GEN2", api="2023-06-30"), 400, "InvalidSku", "sku.name")
    assert_error(arm.put(hub_path(rg, unique("hubs")), {"location": "eastus", "properties": {}}, api_version=HUB_API),
                 400, "InvalidRequestContent", "sku")
    assert_error(make_hub(arm, rg, unique("hubs"), api="2017-01-01"), 400, "InvalidApiVersionParameter")
    for bad in ("ab", "-hub", "hub-", "hub--x", "hub_x", "12345", "h" * 51):
        assert_error(make_hub(arm, rg, bad), 400, "InvalidResourceName", "name")
    assert_error(make_hub(arm, "no-such-group", unique("hubs")), 404, "ResourceGroupNotFound")
    assert_error(arm.get(hub_path(rg, "nohub"), api_version=HUB_API), 404, "ResourceNotFound")
    assert_error(make_hub(arm, rg, unique("hubs"), identity={"type": "UserAssigned", "userAssignedIdentities": {
        full_id(uami_path(rg, "ghost")): {}}}), 400, "FailedIdentityOperation")


def test_hub_names_are_global(arm, rg):
    name = unique("hubg")
    assert make_hub(arm, rg, name).status_code == 201
    other = unique("rg-")
    arm.group(other)
    assert_error(make_hub(arm, other, name.upper()), 409, "IotHubNameNotAvailable", "name")
    assert make_hub(arm, rg, name).status_code == 200  # the same hub may be replaced


def test_hub_patch_and_delete(arm, rg):
    name = unique("hubp")
    make_hub(arm, rg, name, tags={"a": "1"})
    r = arm.patch(hub_path(rg, name), {"tags": {"b": "2"}}, api_version=HUB_API)
    assert r.status_code == 200 and r.json()["tags"] == {"b": "2"}
    assert r.json()["sku"]["name"] == "S1"
    d = arm.delete(hub_path(rg, name), api_version=HUB_API)
    assert d.status_code == 202 and d.headers["Location"].startswith(arm.base)
    assert requests.get(d.headers["Location"], timeout=10).status_code in (200, 204)
    assert_error(arm.get(hub_path(rg, name), api_version=HUB_API), 404, "ResourceNotFound")
    assert arm.delete(hub_path(rg, name), api_version=HUB_API).status_code == 204


def test_hub_device_registry_link_validation(arm, rg):
    identity = full_id(uami_path(rg, "hub-id"))
    arm.put(uami_path(rg, "hub-id"), {"location": "eastus"}, api_version=MSI_API)
    arm.put(ns_path(rg, "ns-link"), {"location": "eastus"}, api_version=NS_API)
    namespace = full_id(ns_path(rg, "ns-link"))
    attached = {"type": "UserAssigned", "userAssignedIdentities": {identity: {}}}

    def link(ns=namespace, ident=identity, sku="GEN2", api=HUB_API, with_identity=attached):
        return make_hub(arm, rg, unique("hubl"), sku=sku, api=api, identity=with_identity,
                        properties={"deviceRegistry": {"namespaceResourceId": ns, "identityResourceId": ident}})

    assert_error(link(sku="B1"), 400, "DeviceRegistryRequiresGen2Sku", "sku.name")
    assert_error(link(ns=full_id(ns_path(rg, "no-such-ns"))), 404, "LinkedResourceNotFound",
                 "properties.deviceRegistry.namespaceResourceId")
    assert_error(link(ns="/not/an/id"), 400, "LinkedInvalidPropertyId", "properties.deviceRegistry.namespaceResourceId")
    assert_error(link(ns=identity), 400, "LinkedInvalidPropertyId")
    assert_error(link(with_identity=None), 400, "LinkedIdentityNotAssigned",
                 "properties.deviceRegistry.identityResourceId")
    ok = link()
    assert ok.status_code == 201, ok.text
    body = ok.json()
    assert body["sku"]["tier"] == "Generation2"
    assert body["properties"]["deviceRegistry"] == {"namespaceResourceId": namespace, "identityResourceId": identity}
    user = body["identity"]["userAssignedIdentities"][identity]
    assert uuid.UUID(user["principalId"]) and uuid.UUID(user["clientId"])
    # older api-versions do not know the link: not shown there
    old = arm.get(hub_path(rg, body["name"]), api_version="2023-06-30").json()
    assert "deviceRegistry" not in old["properties"]


def test_consumer_groups(arm, rg):
    name = unique("hubcg")
    make_hub(arm, rg, name)
    base = f"{hub_path(rg, name)}/eventHubEndpoints/events/ConsumerGroups"
    default = arm.get(f"{base}/$Default", api_version=HUB_API)
    assert default.status_code == 200, default.text
    assert default.json()["name"] == "$Default"
    r = arm.put(f"{base}/cg1", {"properties": {"name": "cg1"}}, api_version=HUB_API)
    assert r.status_code in (200, 201), r.text  # 200 once the generic layer honours create_status
    assert "Azure-AsyncOperation" not in r.headers
    body = r.json()
    assert body["properties"]["name"] == "cg1" and body["etag"]
    assert body["type"] == "Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups"
    assert arm.put(f"{base}/cg1", api_version="2018-04-01").status_code == 200  # old versions send no body
    assert_error(arm.put(f"{base}/bad name", {}, api_version=HUB_API), 400, "InvalidResourceName")
    assert_error(arm.put(f"{hub_path(rg, name)}/eventHubEndpoints/other/ConsumerGroups/cg2", {},
                         api_version=HUB_API), 404, "ResourceNotFound")
    assert_error(arm.put(f"{hub_path(rg, 'nohub')}/eventHubEndpoints/events/ConsumerGroups/cg2", {},
                         api_version=HUB_API), 404, "ParentResourceNotFound")
    assert_error(arm.delete(f"{base}/$Default", api_version=HUB_API), 400, "BadRequest")
    assert arm.delete(f"{base}/cg1", api_version=HUB_API).status_code == 200
    assert arm.get(f"{base}/cg1", api_version=HUB_API).status_code == 404


def test_consumer_group_create_status_and_listing(arm, rg):
    name = unique("hubcl")
    make_hub(arm, rg, name)
    base = f"{hub_path(rg, name)}/eventHubEndpoints/events/ConsumerGroups"
    assert arm.put(f"{base}/cg1", {"properties": {"name": "cg1"}}, api_version=HUB_API).status_code == 200
    listed = arm.get(base, api_version=HUB_API)
    assert listed.status_code == 200, listed.text
    assert [c["name"] for c in listed.json()["value"]] == ["$Default", "cg1"]


def test_hub_certificates(arm, rg):
    name = unique("hubcert")
    make_hub(arm, rg, name)
    base = f"{hub_path(rg, name)}/certificates"
    pem = make_ca_pem("contoso-root")
    r = arm.put(f"{base}/root", {"properties": {"certificate": pem}}, api_version=HUB_API)
    assert r.status_code == 201, r.text
    assert "Azure-AsyncOperation" not in r.headers
    body = r.json()
    props = body["properties"]
    assert body["etag"] and body["type"] == "Microsoft.Devices/IotHubs/certificates"
    assert props["subject"] == "CN=contoso-root, O=Contoso"
    assert re.fullmatch(r"[0-9A-F]{40}", props["thumbprint"])
    assert props["isVerified"] is False and props["expiry"].endswith(" GMT") and props["created"].endswith(" GMT")
    assert props["certificate"] == pem and "policyResourceId" not in props and "provisioningState" not in props
    verified = arm.put(f"{base}/root", {"properties": {"certificate": pem, "isVerified": True}},
                       api_version=HUB_API, headers={"If-Match": body["etag"]})
    assert verified.status_code == 200 and verified.json()["properties"]["isVerified"] is True
    assert verified.json()["properties"]["created"] == props["created"]
    der = base64.b64encode(x509.load_pem_x509_certificate(pem.encode()).public_bytes(
        serialization.Encoding.DER)).decode()
    assert arm.put(f"{base}/der", {"properties": {"certificate": der}}, api_version="2021-07-02").status_code == 201
    assert_error(arm.put(f"{base}/bad", {"properties": {"certificate": "not a certificate"}}, api_version=HUB_API),
                 400, "InvalidCertificate", "properties.certificate")
    assert_error(arm.put(f"{base}/bad", {"properties": {}}, api_version=HUB_API), 400, "InvalidRequestContent",
                 "properties.certificate")
    listed = arm.get(base, api_version=HUB_API)
    assert listed.status_code == 200 and [c["name"] for c in listed.json()["value"]] == ["root", "der"]
    assert arm.delete(f"{base}/der", api_version=HUB_API).status_code == 200
    assert arm.get(f"{base}/der", api_version=HUB_API).status_code == 404
