"""Drive the emulator with the Azure management SDKs installed in *this* interpreter.

`tests/e2e/test_mgmt_sdks.py` runs this script twice: in the test venv (the newest releases) and in a
separate venv holding older releases, so the newest and an older api-version of every type are
exercised by the real clients. It imports nothing of the project: each venv only needs the SDKs.

Each SDK does create, get, list, update and delete (LRO pollers where the operation is
long-running) and lists keys where the type has them. The script prints one JSON object:
`{"packages": {name: version}, "api_versions": {client: [versions sent]}, "steps": [...]}` and
exits non-zero on the first failure, with the traceback on stderr.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import uuid
from importlib import metadata
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpRequest

PACKAGES = ("azure-mgmt-iothub", "azure-mgmt-iothubprovisioningservices", "azure-mgmt-deviceregistry",
            "azure-mgmt-msi", "azure-mgmt-resource", "azure-mgmt-resource-deployments", "azure-mgmt-authorization")
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
SCOPES = ["https://management.azure.com/.default"]


class StaticToken:
    """A TokenCredential whose token is a JWT-shaped string that expires in an hour."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        def part(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

        expires = int(time.time()) + 3600
        token = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'exp': expires, 'upn': 'sdk@contoso.com'})}.sig"
        return AccessToken(token, expires)


class Run:
    def __init__(self, base_url: str, ca_file: str, subscription: str) -> None:
        self.base_url, self.ca_file, self.subscription = base_url, ca_file, subscription
        self.steps: list[str] = []
        self.api_versions: dict[str, set[str]] = {}

    def client(self, cls: type, name: str, **extra: Any) -> Any:
        seen = self.api_versions.setdefault(name, set())

        def record(request: Any) -> None:
            url = request.http_request.url
            if "api-version=" in url:
                seen.add(url.split("api-version=", 1)[1].split("&", 1)[0])

        return cls(StaticToken(), self.subscription, base_url=self.base_url, connection_verify=self.ca_file,
                   credential_scopes=SCOPES, polling_interval=0, raw_request_hook=record, **extra)

    def step(self, name: str) -> None:
        self.steps.append(name)


def _resource_client_class() -> type:
    try:  # azure-mgmt-resource 26: the resources client lives in its own package
        from azure.mgmt.resource.resources import ResourceManagementClient
    except ImportError:
        from azure.mgmt.resource import ResourceManagementClient
    return ResourceManagementClient


def _deployments_client(run: Run, resources: Any) -> Any:
    try:  # from azure-mgmt-resource 26 on, deployments are their own package
        from azure.mgmt.resource.deployments import DeploymentsMgmtClient
    except ImportError:
        return resources
    return run.client(DeploymentsMgmtClient, "deployments")


def resource_groups(run: Run, group: str) -> Any:
    client = run.client(_resource_client_class(), "resource")
    created = client.resource_groups.create_or_update(group, {"location": "eastus", "tags": {"by": "sdk"}})
    assert created.name == group and created.properties.provisioning_state == "Succeeded"
    assert client.resource_groups.get(group).tags == {"by": "sdk"}
    assert group in [g.name for g in client.resource_groups.list()]
    assert client.resource_groups.update(group, {"tags": {"by": "sdk", "k": "v"}}).tags == {"by": "sdk", "k": "v"}
    assert client.resource_groups.check_existence(group) is True
    run.step("resource groups: create, get, list, update, exists")
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0", "parameters": {"who": {"type": "string"}},
                "resources": [],
                "outputs": {"hello": {"type": "string", "value": "[concat('hi ', parameters('who'))]"}}}
    deployments = _deployments_client(run, client)
    deployment = deployments.deployments.begin_create_or_update(group, "sdk-deploy", {"properties": {
        "mode": "Incremental", "template": template, "parameters": {"who": {"value": "sdk"}}}}).result()
    assert deployment.properties.provisioning_state == "Succeeded"
    assert deployment.properties.outputs["hello"]["value"] == "hi sdk"
    assert [d.name for d in deployments.deployments.list_by_resource_group(group)] == ["sdk-deploy"]
    deployments.deployments.begin_delete(group, "sdk-deploy").result()
    run.step("deployments: create (LRO), list, delete (LRO)")
    return client


def identities(run: Run, group: str) -> Any:
    from azure.mgmt.msi import ManagedServiceIdentityClient

    client = run.client(ManagedServiceIdentityClient, "msi")
    identity = client.user_assigned_identities.create_or_update(group, "sdk-uami", {"location": "eastus"})
    assert identity.principal_id and identity.client_id and identity.tenant_id
    assert client.user_assigned_identities.get(group, "sdk-uami").client_id == identity.client_id
    assert [i.name for i in client.user_assigned_identities.list_by_resource_group(group)] == ["sdk-uami"]
    tagged = client.user_assigned_identities.update(group, "sdk-uami", {"tags": {"k": "v"}})
    assert tagged.tags == {"k": "v"}
    run.step("identities: create, get, list, update")
    return client, identity


def role_assignments(run: Run, group: str, principal_id: str) -> None:
    from azure.mgmt.authorization import AuthorizationManagementClient

    client = run.client(AuthorizationManagementClient, "authorization")
    scope = f"/subscriptions/{run.subscription}/resourceGroups/{group}"
    role = f"/subscriptions/{run.subscription}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR}"
    name = str(uuid.uuid4())
    fields = {"role_definition_id": role, "principal_id": principal_id}
    try:
        created = client.role_assignments.create(scope, name, {**fields, "principal_type": "ServicePrincipal"})
    except Exception as exc:  # 2015-07-01 (the default of 2.x) nests the fields under `properties`
        if "properties" not in str(exc):
            raise
        created = client.role_assignments.create(scope, name, {"properties": fields})
    created_props = getattr(created, "properties", None) or created
    assert created.name == name and created_props.principal_id == principal_id
    got = client.role_assignments.get(scope, name)
    assert (getattr(got, "properties", None) or got).role_definition_id.lower() == role.lower()
    assert name in [a.name for a in client.role_assignments.list_for_scope(scope)]
    definition = client.role_definitions.get(scope, CONTRIBUTOR)
    assert definition.role_name == "Contributor"
    client.role_assignments.delete(scope, name)
    assert name not in [a.name for a in client.role_assignments.list_for_scope(scope)]
    run.step("role assignments: create, get, list, delete; role definition get")


def namespaces(run: Run, group: str) -> Any:
    from azure.mgmt.deviceregistry import DeviceRegistryMgmtClient
    from azure.mgmt.deviceregistry import models as adr

    client = run.client(DeviceRegistryMgmtClient, "deviceregistry")
    namespace = client.namespaces.begin_create_or_replace(group, "sdk-ns", adr.Namespace(
        location="eastus", identity=adr.SystemAssignedServiceIdentity(type="SystemAssigned"))).result()
    assert namespace.id.endswith("/namespaces/sdk-ns") and namespace.properties.uuid
    assert client.namespaces.get(group, "sdk-ns").properties.uuid == namespace.properties.uuid
    assert [n.name for n in client.namespaces.list_by_resource_group(group)] == ["sdk-ns"]
    updated = client.namespaces.begin_update(group, "sdk-ns", adr.NamespaceUpdate(tags={"k": "v"})).result()
    assert updated.tags == {"k": "v"}
    run.step("namespaces: create (LRO), get, list, update (LRO)")
    if hasattr(client, "policies"):  # the preview credential model (1.2.0b1, 2026-03-01-preview)
        client.credentials.begin_create_or_update(group, "sdk-ns", adr.Credential(location="eastus")).result()
        policy = client.policies.begin_create_or_update(group, "sdk-ns", "fleet", adr.Policy(
            properties=adr.PolicyProperties(certificate=adr.CertificateConfiguration(
                certificate_authority_configuration=adr.CertificateAuthorityConfiguration(key_type="ECC"),
                leaf_certificate_configuration=adr.LeafCertificateConfiguration(validity_period_in_days=30))))
        ).result()
        assert policy.name == "fleet"
        assert [p.name for p in client.policies.list_by_resource_group(group, "sdk-ns")] == ["fleet"]
        client.policies.begin_delete(group, "sdk-ns", "fleet").result()
        run.step("credentials + policies: create (LRO), list, delete (LRO)")
    return client


def hubs(run: Run, group: str, identity: Any, namespace_id: str | None, cert_pem: str) -> tuple[Any, str, str]:
    from azure.mgmt.iothub import IotHubClient
    from azure.mgmt.iothub import models as hubm

    client = run.client(IotHubClient, "iothub")
    name = f"sdkhub{uuid.uuid4().hex[:8]}"
    identity_model = hubm.ArmIdentity(type="UserAssigned",
                                      user_assigned_identities={identity.id: hubm.ArmUserIdentity()})
    properties = hubm.IotHubProperties()
    link_writable = namespace_id is not None and "identity_resource_id" in _fields(hubm.DeviceRegistry)
    if link_writable:
        properties = hubm.IotHubProperties(device_registry=hubm.DeviceRegistry(
            namespace_resource_id=namespace_id, identity_resource_id=identity.id))
    hub = client.iot_hub_resource.begin_create_or_update(group, name, hubm.IotHubDescription(
        location="eastus", sku=hubm.IotHubSkuInfo(name="GEN2", capacity=1), identity=identity_model,
        properties=properties)).result()
    assert hub.properties.host_name == f"{name}.azure-devices.localhost"
    assert hub.properties.provisioning_state == "Succeeded" and hub.properties.state == "Active"
    assert hub.sku.tier == "Generation2"
    assert hub.identity.user_assigned_identities[identity.id].principal_id == identity.principal_id
    if link_writable:
        assert hub.properties.device_registry.namespace_resource_id == namespace_id
    assert client.iot_hub_resource.get(group, name).etag
    assert [h.name for h in client.iot_hub_resource.list_by_resource_group(group)] == [name]
    updated = client.iot_hub_resource.begin_update(group, name, hubm.TagsResource(tags={"k": "v"})).result()
    assert updated.tags == {"k": "v"}
    keys = {k.key_name: k for k in client.iot_hub_resource.list_keys(group, name)}
    owner = client.iot_hub_resource.get_keys_for_key_name(group, name, "iothubowner")
    assert owner.primary_key == keys["iothubowner"].primary_key and "ServiceConnect" in owner.rights
    run.step("iot hubs: create (LRO), get, list, update (LRO), list keys, key by name")

    group_body = hubm.EventHubConsumerGroupBodyDescription(properties=hubm.EventHubConsumerGroupName(name="sdk-cg"))
    created = client.iot_hub_resource.create_event_hub_consumer_group(group, name, "events", "sdk-cg", group_body)
    assert created.name == "sdk-cg" and created.etag
    listed = [c.name for c in client.iot_hub_resource.list_event_hub_consumer_groups(group, name, "events")]
    assert listed == ["$Default", "sdk-cg"]
    client.iot_hub_resource.delete_event_hub_consumer_group(group, name, "events", "sdk-cg")
    cert = client.certificates.create_or_update(group, name, "sdk-root", hubm.CertificateDescription(
        properties=hubm.CertificateProperties(certificate=cert_pem)))
    assert cert.properties.subject == "CN=sdk-root, O=Contoso" and len(cert.properties.thumbprint) == 40
    assert [c.name for c in _items(client.certificates.list_by_iot_hub(group, name))] == ["sdk-root"]
    try:  # TypeSpec-generated releases take the etag as a keyword with a match condition
        from azure.core import MatchConditions

        client.certificates.delete(group, name, "sdk-root", etag=cert.etag,
                                   match_condition=MatchConditions.IfNotModified)
    except TypeError:
        client.certificates.delete(group, name, "sdk-root", cert.etag)
    assert [c.name for c in _items(client.certificates.list_by_iot_hub(group, name))] == []
    run.step("consumer groups and certificates: create, list, delete")
    connection = (f"HostName={hub.properties.host_name};SharedAccessKeyName=iothubowner;"
                  f"SharedAccessKey={owner.primary_key}")
    return client, name, connection


def provisioning_services(run: Run, group: str, identity: Any, namespace_id: str | None, connection: str,
                          hub_host: str) -> Any:
    from azure.mgmt.iothubprovisioningservices import IotDpsClient
    from azure.mgmt.iothubprovisioningservices import models as dpsm

    client = run.client(IotDpsClient, "dps")
    name = f"sdkdps{uuid.uuid4().hex[:8]}"
    link_writable = namespace_id is not None and hasattr(dpsm.IotDpsPropertiesDescription(),
                                                         "device_registry_namespace")
    properties: dict[str, Any] = {"iot_hubs": [dpsm.IotHubDefinitionDescription(connection_string=connection,
                                                                                location="eastus")]}
    if link_writable:
        properties["device_registry_namespace"] = dpsm.DeviceRegistryNamespaceDescription(
            resource_id=namespace_id, authentication_type="UserAssigned",
            selected_user_assigned_identity_resource_id=identity.id)
    service = client.iot_dps_resource.begin_create_or_update(group, name, dpsm.ProvisioningServiceDescription(
        location="eastus", sku=dpsm.IotDpsSkuInfo(name="S1", capacity=1),
        identity=dpsm.ManagedServiceIdentity(type="UserAssigned",
                                             user_assigned_identities={identity.id: dpsm.UserAssignedIdentity()}),
        properties=dpsm.IotDpsPropertiesDescription(**properties))).result()
    assert service.properties.id_scope.startswith("0ne") and service.properties.state == "Active"
    assert service.properties.iot_hubs[0].name == hub_host
    assert service.properties.iot_hubs[0].connection_string.endswith("SharedAccessKey=****")
    if link_writable:
        assert service.properties.device_registry_namespace.resource_id == namespace_id
    elif namespace_id is None and hasattr(service.properties, "device_registry_namespaces"):
        assert not service.properties.device_registry_namespaces
    [listed] = client.iot_dps_resource.list_by_resource_group(group)
    assert listed.properties.id_scope == service.properties.id_scope
    path = f"/subscriptions/{run.subscription}/resourceGroups/{group}/providers/Microsoft.Devices/" \
           f"provisioningServices/{name}"
    version = client._config.api_version
    try:
        got = client.iot_dps_resource.get(name, group)
        keys = list(client.iot_dps_resource.list_keys(name, group))
        one = client.iot_dps_resource.list_keys_for_key_name(name, "provisioningserviceowner", group)
        assert got.properties.id_scope == service.properties.id_scope
        assert keys[0].key_name == "provisioningserviceowner" and one.primary_key == keys[0].primary_key
    except KeyError:
        # 1.2.0b3 builds the URLs of get/delete/list_keys without the subscription id (a KeyError before
        # any request is sent); the same calls then go through the client's own pipeline
        got = client.send_request(HttpRequest("GET", f"{path}?api-version={version}")).json()
        keys = client.send_request(HttpRequest("POST", f"{path}/listkeys?api-version={version}")).json()["value"]
        assert got["properties"]["idScope"] == service.properties.id_scope
        assert keys[0]["keyName"] == "provisioningserviceowner"
    updated = client.iot_dps_resource.begin_update(group, name, dpsm.TagsResource(tags={"k": "v"})).result()
    assert updated.tags == {"k": "v"}
    run.step("provisioning services: create (LRO), get, list, update (LRO), list keys")
    try:
        client.iot_dps_resource.begin_delete(name, group).result()
    except KeyError:
        assert client.send_request(HttpRequest("DELETE", f"{path}?api-version={version}")).status_code == 202
    return client


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def ga_links(run: Run, group: str, registry: Any, hub_client: Any, hub_name: str, connection: str) -> None:
    """The newest hub and DPS releases read the link a GA (2026-11-01) namespace makes to them. The
    namespace is PUT through the Device Registry client's own pipeline: no released
    azure-mgmt-deviceregistry speaks 2026-11-01 yet."""
    from azure.mgmt.iothubprovisioningservices import IotDpsClient
    from azure.mgmt.iothubprovisioningservices import models as dpsm

    dps_client = run.client(IotDpsClient, "dps")
    dps_name = f"sdkgadps{uuid.uuid4().hex[:6]}"
    dps = dps_client.iot_dps_resource.begin_create_or_update(group, dps_name, dpsm.ProvisioningServiceDescription(
        location="eastus", sku=dpsm.IotDpsSkuInfo(name="S1", capacity=1), properties=dpsm.IotDpsPropertiesDescription(
            iot_hubs=[dpsm.IotHubDefinitionDescription(connection_string=connection, location="eastus")]))).result()
    hub = hub_client.iot_hub_resource.get(group, hub_name)
    path = f"/subscriptions/{run.subscription}/resourceGroups/{group}/providers/Microsoft.DeviceRegistry/" \
           "namespaces/sdk-ga-ns"
    body = {"location": "eastus", "properties": {
        "messaging": {"endpoints": {"hub": {"endpointType": "Microsoft.Devices/IotHubs", "resourceId": hub.id,
                                            "inboundCallerIdentity": {"type": "SystemAssigned"}}}},
        "provisioning": {"endpoints": {"dps": {"endpointType": "Microsoft.Devices/provisioningServices",
                                               "resourceId": dps.id,
                                               "inboundCallerIdentity": {"type": "SystemAssigned"}}}}}}
    put = registry.send_request(HttpRequest("PUT", f"{path}?api-version=2026-11-01", json=body))
    assert put.status_code in (200, 201), put.text()
    namespace_id = put.json()["id"]
    linked_hub = hub_client.iot_hub_resource.get(group, hub_name).properties.device_registry
    assert linked_hub.namespace_resource_id == namespace_id and linked_hub.linking_properties.state == "Success"
    assert linked_hub.namespace_uuid == put.json()["properties"]["uuid"]
    [linked] = dps_client.iot_dps_resource.get(dps_name, group).properties.device_registry_namespaces
    assert linked.resource_id == namespace_id and linked.linking_state == "Succeeded"
    dps_client.iot_dps_resource.begin_delete(dps_name, group).result()
    assert registry.send_request(HttpRequest("DELETE", f"{path}?api-version=2026-11-01")).status_code in (200, 202)
    run.step("GA links: a 2026-11-01 namespace links the hub and DPS; the newest releases read them")


def _fields(model: type) -> set[str]:
    attribute_map = getattr(model, "_attribute_map", None)
    if attribute_map is not None:  # msrest-style models
        return set(attribute_map)
    return {name for name in dir(model) if not name.startswith("_")}


def _items(listing: Any) -> list[Any]:
    return list(listing.value) if hasattr(listing, "value") else list(listing)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--subscription", required=True)
    parser.add_argument("--cert-pem", required=True, help="a CA certificate (PEM file) to upload to the hub")
    parser.add_argument("--link", action="store_true", help="link hub and DPS to the namespace (where writable)")
    parser.add_argument("--ga-link", action="store_true", help="link hub and DPS from a GA namespace, read the links")
    args = parser.parse_args()
    run = Run(args.base_url, args.ca_file, args.subscription)
    group = f"rg-sdk-{uuid.uuid4().hex[:8]}"
    with open(args.cert_pem) as handle:
        cert_pem = handle.read()

    resources = resource_groups(run, group)
    msi, identity = identities(run, group)
    role_assignments(run, group, identity.principal_id)
    registry = namespaces(run, group)
    namespace_id = registry.namespaces.get(group, "sdk-ns").id if args.link else None
    hub_client, hub_name, connection = hubs(run, group, identity, namespace_id, cert_pem)
    provisioning_services(run, group, identity, namespace_id, connection, f"{hub_name}.azure-devices.localhost")
    if args.ga_link:
        ga_links(run, group, registry, hub_client, hub_name, connection)

    hub_client.iot_hub_resource.begin_delete(group, hub_name).result()
    registry.namespaces.begin_delete(group, "sdk-ns").result()
    msi.user_assigned_identities.delete(group, "sdk-uami")
    resources.resource_groups.begin_delete(group).result()
    try:
        resources.resource_groups.get(group)
        raise AssertionError("the group still exists after its delete completed")
    except ResourceNotFoundError:
        pass
    run.step("teardown: hub, namespace, identity (delete), group (LRO)")
    print(json.dumps({"packages": {p: _version(p) for p in PACKAGES},
                      "api_versions": {k: sorted(v) for k, v in run.api_versions.items()},
                      "steps": run.steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
