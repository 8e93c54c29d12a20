"""The Azure management SDKs as real clients of the emulator, over HTTPS.

Each client gets the emulator's HTTPS URL as `base_url`, trusts the emulator's CA through
`connection_verify`, and authenticates with a static JWT-shaped token, so the SDK pipelines
(bearer-token policy, ARM polling, deserialization) run exactly as they do against Azure.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from azure.core.credentials import AccessToken
from azure.core.rest import HttpRequest
from azure.mgmt.deviceregistry import DeviceRegistryMgmtClient
from azure.mgmt.deviceregistry import models as adr
from azure.mgmt.iothub import IotHubClient
from azure.mgmt.iothub import models as hubm
from azure.mgmt.iothubprovisioningservices import IotDpsClient
from azure.mgmt.iothubprovisioningservices import models as dpsm
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.msi import models as msim

from tests.emulator_process import SUB, Arm
from tests.test_iothub_dps_arm import make_ca_pem

pytestmark = pytest.mark.slow
SCOPES = ["https://management.azure.com/.default"]
DPS_API = "2025-02-01-preview"


class StaticToken:
    """A TokenCredential whose token is a JWT-shaped string that expires in an hour."""

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        def part(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

        expires = int(time.time()) + 3600
        token = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'exp': expires, 'upn': 'sdk@contoso.com'})}.sig"
        return AccessToken(token, expires)


@pytest.fixture(scope="module")
def client_kwargs(emulator) -> dict:
    return {"base_url": emulator.https, "connection_verify": emulator.ca_file, "credential_scopes": SCOPES,
            "polling_interval": 0}


@pytest.fixture()
def group(emulator) -> str:
    name = f"rg-sdk-{uuid.uuid4().hex[:8]}"
    Arm(emulator.http).group(name)
    return name


def test_sdks_build_the_linked_setup(client_kwargs, group):
    credential = StaticToken()
    msi = ManagedServiceIdentityClient(credential, SUB, **client_kwargs)
    registry = DeviceRegistryMgmtClient(credential, SUB, **client_kwargs)
    hubs = IotHubClient(credential, SUB, **client_kwargs)
    dps = IotDpsClient(credential, SUB, **client_kwargs)

    identity = msi.user_assigned_identities.create_or_update(group, "sdk-uami", msim.Identity(location="eastus"))
    assert identity.principal_id and identity.client_id and identity.tenant_id
    assert msi.user_assigned_identities.get(group, "sdk-uami").client_id == identity.client_id

    namespace = registry.namespaces.begin_create_or_replace(
        group, "sdk-ns", adr.Namespace(location="eastus",
                                       identity=adr.SystemAssignedServiceIdentity(type="SystemAssigned"))).result()
    assert namespace.id.endswith("/namespaces/sdk-ns") and namespace.properties.uuid
    assert namespace.identity.principal_id

    hub_name = f"sdkhub{uuid.uuid4().hex[:8]}"
    hub = hubs.iot_hub_resource.begin_create_or_update(group, hub_name, hubm.IotHubDescription(
        location="eastus", sku=hubm.IotHubSkuInfo(name="GEN2", capacity=1),
        identity=hubm.ArmIdentity(type="UserAssigned", user_assigned_identities={identity.id: hubm.ArmUserIdentity()}),
        properties=hubm.IotHubProperties(device_registry=hubm.DeviceRegistry(
            namespace_resource_id=namespace.id, identity_resource_id=identity.id)))).result()
    assert hub.properties.host_name == f"{hub_name}.azure-devices.localhost"
    assert hub.properties.provisioning_state == "Succeeded" and hub.properties.state == "Active"
    assert hub.sku.tier == "Generation2"
    assert hub.properties.device_registry.namespace_resource_id == namespace.id
    assert hub.identity.user_assigned_identities[identity.id].principal_id == identity.principal_id
    assert hub.properties.event_hub_endpoints["events"].partition_count == 4
    keys = {k.key_name: k for k in hubs.iot_hub_resource.list_keys(group, hub_name)}
    assert keys["iothubowner"].primary_key and "ServiceConnect" in keys["iothubowner"].rights
    owner = hubs.iot_hub_resource.get_keys_for_key_name(group, hub_name, "iothubowner")
    assert owner.primary_key == keys["iothubowner"].primary_key
    updated = hubs.iot_hub_resource.begin_update(group, hub_name, hubm.TagsResource(tags={"k": "v"})).result()
    assert updated.tags == {"k": "v"}

    default = hubs.iot_hub_resource.get_event_hub_consumer_group(group, hub_name, "events", "$Default")
    assert default.name == "$Default" and default.etag

    pem = make_ca_pem("sdk-root")
    cert = hubs.certificates.create_or_update(group, hub_name, "sdk-root", hubm.CertificateDescription(
        properties=hubm.CertificateProperties(certificate=pem)))
    assert cert.properties.subject == "CN=sdk-root, O=Contoso" and len(cert.properties.thumbprint) == 40
    assert cert.properties.expiry.year >= 2026 and cert.properties.is_verified is False and cert.etag
    assert [c.name for c in hubs.certificates.list_by_iot_hub(group, hub_name).value] == ["sdk-root"]

    connection = (f"HostName={hub.properties.host_name};SharedAccessKeyName=iothubowner;"
                  f"SharedAccessKey={owner.primary_key}")
    dps_name = f"sdkdps{uuid.uuid4().hex[:8]}"
    service = dps.iot_dps_resource.begin_create_or_update(group, dps_name, dpsm.ProvisioningServiceDescription(
        location="eastus", sku=dpsm.IotDpsSkuInfo(name="S1", capacity=1),
        identity=dpsm.ManagedServiceIdentity(type="UserAssigned",
                                             user_assigned_identities={identity.id: dpsm.UserAssignedIdentity()}),
        properties=dpsm.IotDpsPropertiesDescription(
            iot_hubs=[dpsm.IotHubDefinitionDescription(connection_string=connection, location="eastus")],
            device_registry_namespace=dpsm.DeviceRegistryNamespaceDescription(
                resource_id=namespace.id, authentication_type="UserAssigned",
                selected_user_assigned_identity_resource_id=identity.id)))).result()
    assert service.properties.id_scope.startswith("0ne") and service.properties.state == "Active"
    assert service.properties.iot_hubs[0].name == hub.properties.host_name
    assert service.properties.iot_hubs[0].connection_string.endswith("SharedAccessKey=****")
    assert service.properties.device_registry_namespace.resource_id == namespace.id
    assert service.resourcegroup == group and service.subscriptionid == SUB
    [listed] = dps.iot_dps_resource.list_by_resource_group(group)
    assert listed.properties.id_scope == service.properties.id_scope
    # 1.2.0b3 builds the URLs of get/delete/list_keys without the subscription id (a KeyError before any
    # request is sent), so those calls go through the same client pipeline with send_request.
    dps_path = f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Devices/provisioningServices/" \
               f"{dps_name}"
    keys_response = dps.send_request(HttpRequest("POST", f"{dps_path}/listkeys?api-version={DPS_API}"))
    owner_key = keys_response.json()["value"][0]
    assert owner_key["keyName"] == "provisioningserviceowner" and owner_key["primaryKey"]

    # teardown: DPS, hub (which unblocks the namespace), namespace, identity
    assert dps.send_request(HttpRequest("DELETE", f"{dps_path}?api-version={DPS_API}")).status_code == 202
    hubs.iot_hub_resource.begin_delete(group, hub_name).result()
    registry.namespaces.begin_delete(group, "sdk-ns").result()
    msi.user_assigned_identities.delete(group, "sdk-uami")
    assert [h.name for h in hubs.iot_hub_resource.list_by_resource_group(group)] == []


def test_sdk_consumer_groups(client_kwargs, group):
    hubs = IotHubClient(StaticToken(), SUB, **client_kwargs)
    hub_name = f"sdkcg{uuid.uuid4().hex[:8]}"
    hubs.iot_hub_resource.begin_create_or_update(group, hub_name, hubm.IotHubDescription(
        location="eastus", sku=hubm.IotHubSkuInfo(name="S1", capacity=1))).result()
    created = hubs.iot_hub_resource.create_event_hub_consumer_group(
        group, hub_name, "events", "sdk-cg",
        hubm.EventHubConsumerGroupBodyDescription(properties=hubm.EventHubConsumerGroupName(name="sdk-cg")))
    assert created.name == "sdk-cg" and created.etag
    listed = [c.name for c in hubs.iot_hub_resource.list_event_hub_consumer_groups(group, hub_name, "events")]
    assert listed == ["$Default", "sdk-cg"]
    hubs.iot_hub_resource.delete_event_hub_consumer_group(group, hub_name, "events", "sdk-cg")
