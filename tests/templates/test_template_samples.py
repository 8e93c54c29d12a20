"""Every acceptance sample in shared/arm-samples deploys against the fake host, with the resources and
outputs it describes (see that folder's README for what each one exercises)."""

from __future__ import annotations

import json
import uuid

import pytest

from provider.templates import plan_deployment, run_deployment, validate_template
from tests.support.paths import SHARED
from tests.templates.template_fakes import SUB, FakeHost, scope_for

SAMPLES = SHARED / "arm-samples"
RG = "sample-rg"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
PLACEHOLDERS = {"GEN-UNIQUE-8": "contoso8", "GEN-UNIQUE": "genunique42", "GEN-PASSWORD": "P@ssw0rd-Test-1234"}

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"samples not found at {SAMPLES}")


def _fill(value):
    if isinstance(value, str):
        return PLACEHOLDERS.get(value, value)
    if isinstance(value, dict):
        return {k: _fill(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v) for v in value]
    return value


def load(folder: str) -> tuple[dict, dict]:
    template = json.loads((SAMPLES / folder / "azuredeploy.json").read_text())
    params_file = SAMPLES / folder / "azuredeploy.parameters.json"
    params = _fill(json.loads(params_file.read_text())["parameters"]) if params_file.exists() else {}
    return template, params


def deploy(folder: str, params: dict | None = None):
    template, default_params = load(folder)
    host = FakeHost()
    host.add_group(RG, "westeurope")
    result = run_deployment(template, default_params if params is None else params,
                            scope=scope_for(host, RG, name=folder[:60]), host=host)
    assert result.error is None, json.dumps(result.error, indent=1)
    assert result.provisioning_state == "Succeeded"
    return host, result


def body(host: FakeHost, resource_id: str) -> dict:
    return host.resources[resource_id.lower()]


def sample_folders() -> list[str]:
    return sorted(p.name for p in SAMPLES.iterdir() if p.is_dir()) if SAMPLES.is_dir() else []


@pytest.mark.parametrize("folder", sample_folders())
def test_every_sample_validates_plans_and_deploys(folder):
    if not (SAMPLES / folder / "azuredeploy.json").exists():
        compiled = sorted((SAMPLES / folder).glob("*.json"))
        if not compiled:
            pytest.skip(f"{folder} holds Bicep source only; no compiled ARM JSON is present and no Bicep compiler "
                        "is installable here")
    template, params = load(folder)
    host = FakeHost()
    host.add_group(RG, "westeurope")
    scope = scope_for(host, RG)
    validation = validate_template(template, params, scope=scope, host=host)
    plan = plan_deployment(template, params, scope=scope, host=host)
    assert [r.resource_id for r in plan.resources if r.condition] == validation.validated_resources
    result = run_deployment(template, params, scope=scope, host=host)
    assert result.error is None, json.dumps(result.error, indent=1)
    assert sorted(result.output_resources) == sorted(validation.validated_resources)
    assert {rid.lower() for rid in result.output_resources} <= set(host.resources)
    assert all(op.provisioning_state == "Succeeded" for op in result.operations)


def test_quickstart_iothub_device_provisioning():
    host, result = deploy("quickstart-iothub-device-provisioning")
    hub_id = f"{RG_ID}/providers/Microsoft.Devices/IotHubs/genunique42"
    dps_id = f"{RG_ID}/providers/Microsoft.Devices/provisioningServices/genunique42"
    assert host.puts() == [hub_id, dps_id]
    hub = body(host, hub_id)
    assert hub["location"] == "westeurope"
    assert hub["sku"] == {"name": "S1", "capacity": "1"}  # string parameter passed through as written
    key = host.post_action(f"{hub_id}/IotHubKeys/iothubowner", "listkeys", None, "2020-03-01")["primaryKey"]
    linked = body(host, dps_id)["properties"]["iotHubs"][0]
    assert linked == {
        "connectionString": f"HostName=genunique42.azure-devices.net;SharedAccessKeyName=iothubowner;"
                            f"SharedAccessKey={key}",
        "location": "westeurope",
        "name": "genunique42.azure-devices.net",
    }
    assert result.plan.resource(dps_id).depends_on == [hub_id]


def test_quickstart_device_provisioning_with_distinct_names():
    params = {"iotHubName": {"value": "myhub"}, "provisioningServiceName": {"value": "mydps"},
              "skuName": {"value": "S2"}, "skuUnits": {"value": "2"}, "location": {"value": "northeurope"}}
    host, _ = deploy("quickstart-iothub-device-provisioning", params)
    dps = body(host, f"{RG_ID}/providers/Microsoft.Devices/provisioningServices/mydps")
    assert dps["location"] == "northeurope" and dps["sku"] == {"name": "S2", "capacity": "2"}
    assert dps["properties"]["iotHubs"][0]["connectionString"].startswith("HostName=myhub.azure-devices.net;")


def test_quickstart_iothub_auto_route_messages():
    host, result = deploy("quickstart-iothub-auto-route-messages")
    from provider.templates.uniquestring import unique_string

    suffix = unique_string(RG_ID)
    storage_id = f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/contoso8{suffix}"
    container_id = f"{storage_id}/blobServices/default/containers/contoso8results"
    hub_id = f"{RG_ID}/providers/Microsoft.Devices/IotHubs/contoso8Hub{suffix}"
    assert host.puts() == [storage_id, container_id, hub_id]
    assert body(host, storage_id)["kind"] == "Storage"
    assert body(host, container_id)["properties"]["publicAccess"] == "None"
    routing = body(host, hub_id)["properties"]["routing"]
    endpoint = routing["endpoints"]["storageContainers"][0]
    key = host.post_action(storage_id, "listKeys", None, "2021-02-01")["keys"][0]["value"]
    assert endpoint["connectionString"] == (f"DefaultEndpointsProtocol=https;AccountName=contoso8{suffix};"
                                            f"EndpointSuffix=core.windows.net;AccountKey={key}")
    assert endpoint["fileNameFormat"] == "{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm}"
    assert endpoint["name"] == "contoso8StorageEndpont"
    assert routing["routes"][0]["condition"] == 'level="storage"'
    assert routing["routes"][0]["endpointNames"] == ["contoso8StorageEndpont"]
    assert routing["fallbackRoute"]["name"] == "$fallback"
    assert body(host, hub_id)["properties"]["eventHubEndpoints"]["events"]["partitionCount"] == 4
    assert [op.status_code for op in result.operations] == ["Created"] * 3


def test_reelyactive_iot_hub_dps_with_parameter_file_and_defaults():
    host, _ = deploy("reelyactive-iot-hub-dps")
    hub_id = f"{RG_ID}/providers/Microsoft.Devices/IotHubs/pareto-anywhere-iot-hub"
    dps_id = f"{RG_ID}/providers/Microsoft.Devices/provisioningServices/pareto-anywhere-dps"
    assert host.puts() == [hub_id, dps_id]
    key = host.post_action(hub_id, "listkeys", None, "2021-07-02")["value"][0]["primaryKey"]
    assert body(host, dps_id)["properties"]["iotHubs"] == [{
        "connectionString": f"HostName=pareto-anywhere-iot-hub.azure-devices.net;SharedAccessKeyName=iothubowner;"
                            f"SharedAccessKey={key}",
        "location": "westeurope"}]
    assert body(host, hub_id)["sku"] == {"name": "S1", "capacity": 1}

    host, _ = deploy("reelyactive-iot-hub-dps", {})  # defaults derive from the resource group name
    assert host.puts() == [f"{RG_ID}/providers/Microsoft.Devices/IotHubs/{RG}-iot-hub",
                           f"{RG_ID}/providers/Microsoft.Devices/provisioningServices/{RG}-dps"]


def test_synthetic_deviceregistry_iothub_dps():
    from provider.templates.uniquestring import unique_string

    host, result = deploy("synthetic-deviceregistry-iothub-dps")
    suffix = unique_string(RG_ID)
    ns_id = f"{RG_ID}/providers/Microsoft.DeviceRegistry/namespaces/adr-ns-{suffix}"
    uami_id = f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/adr-id-{suffix}"
    hub_id = f"{RG_ID}/providers/Microsoft.Devices/IotHubs/adr-hub-{suffix}"
    dps_id = f"{RG_ID}/providers/Microsoft.Devices/provisioningServices/adr-dps-{suffix}"
    role_def = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/" \
               "a5c3590a-3a1a-4cd4-9648-ea0a32b15137"
    role_name = str(uuid.uuid5(uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830"),
                               f"{ns_id}-adr-id-{suffix}-{role_def}"))
    role_id = f"{ns_id}/providers/Microsoft.Authorization/roleAssignments/{role_name}"
    policies = [f"{ns_id}/credentials/default/policies/fleet-{x}" for x in "ab"]
    puts = host.puts()
    assert set(puts) == {uami_id, ns_id, f"{ns_id}/credentials/default", *policies, role_id, hub_id, dps_id}
    order = {rid: i for i, rid in enumerate(puts)}
    assert order[ns_id] < order[f"{ns_id}/credentials/default"] < min(order[p] for p in policies)
    assert max(order[role_id], *(order[p] for p in policies)) < order[hub_id] < order[dps_id]
    assert order[uami_id] < order[role_id]

    assert body(host, policies[1])["properties"]["certificate"] == {
        "certificateAuthorityConfiguration": {"keyType": "ECC"},
        "leafCertificateConfiguration": {"validityPeriodInDays": 30}}
    role = body(host, role_id)["properties"]
    assert role["roleDefinitionId"] == role_def
    assert role["principalId"] == body(host, uami_id)["properties"]["principalId"]
    hub = body(host, hub_id)
    assert hub["identity"]["userAssignedIdentities"] == {uami_id: {}}
    assert hub["properties"]["deviceRegistry"] == {"namespaceResourceId": ns_id, "identityResourceId": uami_id}
    dps = body(host, dps_id)["properties"]
    key = host.post_action(hub_id, "listKeys", None, "2025-08-01-preview")["value"][0]["primaryKey"]
    assert dps["iotHubs"] == [{"connectionString": f"HostName=adr-hub-{suffix}.azure-devices.net;"
                                                   f"SharedAccessKeyName=iothubowner;SharedAccessKey={key}",
                               "location": "westeurope"}]
    assert dps["deviceRegistryNamespace"] == {"resourceId": ns_id, "authenticationType": "UserAssigned",
                                              "selectedUserAssignedIdentityResourceId": uami_id}

    assert result.outputs == {
        "namespaceId": {"type": "String", "value": ns_id},
        "policyIds": {"type": "Array", "value": policies},
        "policyStates": {"type": "Array", "value": ["Succeeded", "Succeeded"]},
        "hubHostName": {"type": "String", "value": f"adr-hub-{suffix}.azure-devices.net"},
        "hubLocation": {"type": "String", "value": "westeurope"},
        "dpsIdScope": {"type": "String", "value": dps["idScope"]},
        "roleAssignmentName": {"type": "String", "value": role_name},
    }
    planned = result.plan
    assert planned.resource("namespaceRoleAssignment").scope == ns_id
    assert planned.resource("policies[1]").copy_index == 1
    assert planned.resource("dps").body_complete is False


def test_synthetic_sample_parameter_constraints():
    template, _ = load("synthetic-deviceregistry-iothub-dps")
    host = FakeHost()
    host.add_group(RG)
    from provider.templates import TemplateError

    for params, fragment in [({"keyType": {"value": "DSA"}}, "allowed value"),
                             ({"leafValidityDays": {"value": 91}}, "maximum"),
                             ({"namePrefix": {"value": "ab"}}, "minimum length")]:
        with pytest.raises(TemplateError, match=fragment):
            validate_template(template, params, scope=scope_for(host, RG), host=host)
    host2, result = deploy("synthetic-deviceregistry-iothub-dps",
                           {"policyNames": {"value": ["one", "two", "three"]}, "keyType": {"value": "rsa"}})
    assert len(result.outputs["policyIds"]["value"]) == 3
    assert len([p for p in host2.puts() if "/policies/" in p]) == 3
