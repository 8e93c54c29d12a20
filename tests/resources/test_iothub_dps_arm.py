"""ARM behaviour of IoT Hub, DPS, managed identities and role assignments, over real HTTP."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.arm.test_arm_rpc import assert_error
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


# ---- managed identities ---------------------------------------------------------------------------
def test_user_assigned_identity_crud(arm, rg):
    path = uami_path(rg, "id-one")
    r = arm.put(path, {"location": "East US", "tags": {"a": "1"}}, api_version=MSI_API)
    assert r.status_code == 201, r.text
    assert "Azure-AsyncOperation" not in r.headers  # the MSI RP is synchronous
    body = r.json()
    assert body["type"] == "Microsoft.ManagedIdentity/userAssignedIdentities"
    props = body["properties"]
    assert uuid.UUID(props["principalId"]) and uuid.UUID(props["clientId"]) and props["tenantId"]
    assert "provisioningState" not in props
    again = arm.put(path, {"location": "eastus", "properties": {"principalId": "ignored"}}, api_version="2018-11-30")
    assert again.status_code == 200
    assert again.json()["properties"]["principalId"] == props["principalId"]
    assert again.json()["properties"]["clientId"] == props["clientId"]
    patched = arm.patch(path, {"tags": {"b": "2"}}, api_version="2024-11-30")
    assert patched.status_code == 200 and patched.json()["tags"] == {"b": "2"}
    listed = arm.get(f"resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
                     api_version=MSI_API).json()["value"]
    assert [i["name"] for i in listed] == ["id-one"]
    by_sub = arm.get("providers/Microsoft.ManagedIdentity/userAssignedIdentities", api_version=MSI_API)
    assert by_sub.status_code == 200
    assert_error(arm.put(uami_path(rg, "x"), {"location": "eastus"}, api_version=MSI_API), 400, "InvalidResourceName")
    assert_error(arm.put(uami_path(rg, "_bad"), {"location": "eastus"}, api_version=MSI_API), 400,
                 "InvalidResourceName")
    assert arm.delete(path, api_version=MSI_API).status_code == 200
    assert arm.delete(path, api_version=MSI_API).status_code == 204
    assert_error(arm.get(path, api_version=MSI_API), 404, "ResourceNotFound")


# ---- role assignments -----------------------------------------------------------------------------
def test_role_assignment_on_resource_scope(arm, rg):
    arm.put(ns_path(rg, "ns-ra"), {"location": "eastus"}, api_version=NS_API)
    identity = arm.put(uami_path(rg, "id-ra"), {"location": "eastus"}, api_version=MSI_API).json()
    principal = identity["properties"]["principalId"]
    scope = full_id(ns_path(rg, "ns-ra"))
    name = str(uuid.uuid4())
    path = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    body = {"properties": {"roleDefinitionId": ADR_CONTRIBUTOR, "principalId": principal}}
    r = arm.put(path, body, api_version=RA_API)
    assert r.status_code == 201, r.text
    assert "Azure-AsyncOperation" not in r.headers
    got = r.json()
    assert got["id"] == path and got["type"] == "Microsoft.Authorization/roleAssignments" and got["name"] == name
    assert got["properties"]["scope"] == scope
    assert got["properties"]["principalType"] == "ServicePrincipal"  # a managed identity's principal
    assert "location" not in got and "provisioningState" not in got["properties"]
    assert arm.put(path, body, api_version=RA_API).status_code == 200  # idempotent redeploy
    assert arm.get(path, api_version="2015-07-01").json()["properties"]["principalId"] == principal
    listed = arm.get(f"{scope}/providers/Microsoft.Authorization/roleAssignments", api_version=RA_API)
    assert listed.status_code == 200 and path in [v["id"] for v in listed.json()["value"]]
    # the same principal, role and scope under another name
    twin = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    assert_error(arm.put(twin, body, api_version=RA_API), 409, "RoleAssignmentExists")
    # an assignment cannot move to another principal
    moved = {"properties": {"roleDefinitionId": ADR_CONTRIBUTOR, "principalId": str(uuid.uuid4())}}
    assert_error(arm.put(path, moved, api_version=RA_API), 409, "RoleAssignmentUpdateNotPermitted")
    # deleting the scope resource takes its assignments with it
    assert arm.delete(ns_path(rg, "ns-ra"), api_version=NS_API).status_code == 202
    assert_error(arm.get(path, api_version=RA_API), 404, "ResourceNotFound")


def test_role_assignment_errors_and_group_scope(arm, rg):
    ok = {"properties": {"roleDefinitionId": CONTRIBUTOR, "principalId": IOTHUB_APP}}
    group_scope = f"/subscriptions/{SUB}/resourceGroups/{rg}"
    assert_error(arm.put(f"{group_scope}/providers/Microsoft.Authorization/roleAssignments/not-a-guid", ok,
                         api_version=RA_API), 400, "InvalidRoleAssignmentId", "name")
    missing_scope = full_id(ns_path(rg, "no-such-ns"))
    assert_error(arm.put(f"{missing_scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}", ok,
                         api_version=RA_API), 404, "ResourceNotFound")
    assert_error(arm.put(f"/subscriptions/{SUB}/resourceGroups/no-such-rg/providers/Microsoft.Authorization/"
                         f"roleAssignments/{uuid.uuid4()}", ok, api_version=RA_API), 404, "ResourceGroupNotFound")
    path = f"{group_scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    assert_error(arm.put(path, {"properties": {"principalId": IOTHUB_APP}}, api_version=RA_API), 400,
                 "InvalidRequestContent", "properties.roleDefinitionId")
    assert_error(arm.put(path, {"properties": {"roleDefinitionId": "Contributor", "principalId": IOTHUB_APP}},
                         api_version=RA_API), 400, "InvalidRoleDefinitionId")
    assert_error(arm.put(path, {"properties": {"roleDefinitionId": CONTRIBUTOR, "principalId": "bob"}},
                         api_version=RA_API), 400, "InvalidRequestContent", "properties.principalId")
    assert_error(arm.put(path, ok, api_version="2099-01-01"), 400, "InvalidApiVersionParameter")
    r = arm.put(path, {"properties": {**ok["properties"], "principalType": "ServicePrincipal",
                                      "description": "IoT Hub first-party app"}}, api_version="2020-04-01-preview")
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["scope"] == group_scope
    assert r.json()["properties"]["description"] == "IoT Hub first-party app"
    listed = arm.get(f"{group_scope}/providers/Microsoft.Authorization/roleAssignments", api_version=RA_API)
    assert path in [v["id"] for v in listed.json()["value"]]
    assert arm.delete(path, api_version=RA_API).status_code == 200
    assert arm.delete(path, api_version=RA_API).status_code == 204


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


# ---- DPS ------------------------------------------------------------------------------------------
def make_dps(arm, rg, name, api=DPS_API, hubs=None, properties=None, **extra) -> requests.Response:
    body = {"location": "eastus", "sku": {"name": "S1", "capacity": 1},
            "properties": {"iotHubs": hubs or [], **(properties or {})}}
    body.update(extra)
    return arm.put(dps_path(rg, name), body, api_version=api)


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
@pytest.fixture()
def emu():
    from provider.config import Config
    from provider.state import Emulator

    emulator = Emulator(Config(in_memory=True))
    yield emulator
    emulator.store.close()


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
    from provider.resources import iothub_children, iothubs, provisioning_services

    groups.put(RequestContext(emu, None, "2024-03-01", ""), SUB, "g", {"location": "eastus"})
    namespace = _put(emu, ns_path("g", "ns-helpers"), {"location": "eastus"}, NS_API)
    identity = _put(emu, uami_path("g", "uami"), {"location": "eastus"}, MSI_API)
    hub = _put(emu, hub_path("g", "MyHub"), {"location": "eastus", "sku": {"name": "GEN2", "capacity": 1},
                                            "identity": {"type": "UserAssigned",
                                                         "userAssignedIdentities": {identity["id"]: {}}},
                                            "properties": {"deviceRegistry": {
                                                "namespaceResourceId": namespace["id"],
                                                "identityResourceId": identity["id"]}}}, HUB_API)
    assert iothubs.find_hub_by_host(emu, "MYHUB.azure-devices.localhost:8883")["id"] == hub["id"]
    assert iothubs.find_hub_by_name(emu, "myhub")["id"] == hub["id"]
    assert iothubs.find_hub_by_host(emu, "other.azure-devices.localhost") is None
    policies = iothubs.hub_policy_keys(emu, hub)
    assert policies["iothubowner"]["rights"] == "RegistryWrite, ServiceConnect, DeviceConnect"
    conn = iothubs.connection_string(emu, hub, "iothubowner")
    assert conn == (f"HostName=myhub.azure-devices.localhost;SharedAccessKeyName=iothubowner;"
                    f"SharedAccessKey={policies['iothubowner']['primaryKey']}")
    with pytest.raises(KeyError):
        iothubs.connection_string(emu, hub, "nobody")
    assert [h["id"] for h in iothubs.linked_hubs(emu, namespace["id"].upper())] == [hub["id"]]

    # the CA sync: replace synced certificates, keep user uploads
    user_pem, first, second = make_ca_pem("user-ca"), make_ca_pem("policy-a"), make_ca_pem("policy-b")
    _put(emu, f"{hub_path('g', 'MyHub')}/certificates/user", {"properties": {"certificate": user_pem}}, HUB_API)
    policy_a, policy_b = f"{namespace['id']}/credentials/default/policies/a", \
        f"{namespace['id']}/credentials/default/policies/b"
    ctx = _ctx(emu, hub_path("g", "MyHub"), HUB_API)
    with emu.store.transaction():
        iothub_children.set_synced_certificates(ctx, hub, [("adr-a", first, policy_a), ("adr-b", second, policy_b)])
    synced = iothub_children.synced_certificates(emu, hub)
    assert {(c["name"], c["properties"]["policyResourceId"]) for c in synced} == {("adr-a", policy_a),
                                                                                 ("adr-b", policy_b)}
    assert all(c["properties"]["isVerified"] for c in synced)
    assert sorted(iothub_children.hub_trusted_certificates(emu, hub)) == sorted([first, second])  # user: unverified
    etag_a = next(c["etag"] for c in synced if c["name"] == "adr-a")
    with emu.store.transaction():
        iothub_children.set_synced_certificates(ctx, hub, [("adr-a", first, policy_a)])
    synced = iothub_children.synced_certificates(emu, hub)
    assert [c["name"] for c in synced] == ["adr-a"] and synced[0]["etag"] == etag_a  # unchanged: not rewritten
    names = [c["name"] for c in iothub_children.certificate_docs(emu, hub)]
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
    assert provisioning_services.find_dps_by_id_scope(emu, scope.lower())["id"] == dps["id"]
    assert provisioning_services.find_dps_by_host(emu, "mydps.azure-devices-provisioning.localhost")["id"] == dps["id"]
    assert list(provisioning_services.dps_policy_keys(emu, dps)) == ["provisioningserviceowner"]
    [(linked_hub, entry)] = provisioning_services.linked_hub_docs(emu, dps)
    assert linked_hub["id"] == hub["id"] and entry["connectionString"] == conn  # the stored entry has the key
    assert provisioning_services.dps_namespace_id(dps) == namespace["id"]
    assert provisioning_services.dps_connection_string(emu, dps).startswith(
        "HostName=mydps.azure-devices-provisioning.localhost;SharedAccessKeyName=provisioningserviceowner;")
    assert iothubs.hub_name_availability(ctx, {"name": "myhub"})["reason"] == "AlreadyExists"
    assert iothubs.hub_name_availability(ctx, {"name": "free-name"})["nameAvailable"] is True
    assert provisioning_services.dps_name_availability(ctx, {"name": "x"})["reason"] == "Invalid"
