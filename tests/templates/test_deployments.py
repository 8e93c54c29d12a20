"""Template deployments over REST: the samples, our own templates, what-if, modes and bad input."""

from __future__ import annotations

import copy
import json
import uuid

import pytest
import requests

from tests.support.adr_setup import namespace_pki
from tests.support.emulator_process import SUB, Arm
from tests.support.paths import ROOT, SHARED

SAMPLES = SHARED / "arm-samples"
OURS = ROOT / "arm_templates"
API = "2024-03-01"


def deployment_path(rg: str, name: str) -> str:
    return f"resourceGroups/{rg}/providers/Microsoft.Resources/deployments/{name}"


def sample(folder: str) -> tuple[dict, dict]:
    template = json.loads((SAMPLES / folder / "azuredeploy.json").read_text())
    params_file = SAMPLES / folder / "azuredeploy.parameters.json"
    params = json.loads(params_file.read_text())["parameters"] if params_file.exists() else {}
    return template, params


def fill_placeholders(params: dict) -> dict:
    """Substitute the quickstart CI placeholders as the samples' README says."""
    text = json.dumps(params)
    text = text.replace("GEN-UNIQUE-8", "u" + uuid.uuid4().hex[:7]).replace("GEN-PASSWORD", "P@ss-" + uuid.uuid4().hex)
    while "GEN-UNIQUE" in text:
        text = text.replace("GEN-UNIQUE", "u" + uuid.uuid4().hex[:12], 1)
    return json.loads(text)


def deploy(arm, rg: str, name: str, template: dict, parameters: dict | None = None, mode: str = "Incremental",
           expect: str = "Succeeded") -> dict:
    r = arm.put(deployment_path(rg, name), {"properties": {"mode": mode, "template": template,
                                                           "parameters": parameters or {}}}, api_version=API)
    assert r.status_code in (200, 201), r.text
    assert r.headers["Azure-AsyncOperation"]
    status = requests.get(r.headers["Azure-AsyncOperation"], timeout=30).json()
    got = arm.get(deployment_path(rg, name), api_version=API).json()
    assert got["properties"]["provisioningState"] == expect, json.dumps(got["properties"].get("error"), indent=1)
    assert status["status"] == expect
    return got


def resource(arm, rid: str, api: str) -> dict:
    r = arm.get(rid, api_version=api)
    assert r.status_code == 200, r.text
    return r.json()


def test_quickstart_iothub_device_provisioning(arm, rg):
    template, params = sample("quickstart-iothub-device-provisioning")
    params = fill_placeholders(params)
    got = deploy(arm, rg, "qs-dps", template, params)
    hub_id = next(r["id"] for r in got["properties"]["outputResources"] if "/IotHubs/" in r["id"])
    dps_id = next(r["id"] for r in got["properties"]["outputResources"] if "/provisioningServices/" in r["id"])
    hub = resource(arm, hub_id, "2021-07-02")
    dps = resource(arm, dps_id, "2022-02-05")
    assert hub["name"] == params["iotHubName"]["value"]
    linked = dps["properties"]["iotHubs"]
    assert len(linked) == 1 and linked[0]["name"] == hub["properties"]["hostName"]


def test_reelyactive_iot_hub_dps(arm, rg):
    template, params = sample("reelyactive-iot-hub-dps")
    params = copy.deepcopy(params)
    suffix = uuid.uuid4().hex[:6]
    params["iotHubName"]["value"] += suffix
    params["deviceProvisioningServiceName"]["value"] += suffix
    got = deploy(arm, rg, "reely", template, params)
    dps_id = next(r["id"] for r in got["properties"]["outputResources"] if "/provisioningServices/" in r["id"])
    dps = resource(arm, dps_id, "2022-02-05")
    assert dps["properties"]["iotHubs"][0]["name"].startswith(params["iotHubName"]["value"].lower())


def test_quickstart_auto_route_messages(arm, rg):
    template, params = sample("quickstart-iothub-auto-route-messages")
    got = deploy(arm, rg, "route", template, fill_placeholders(params))
    types = {r["id"].split("/providers/")[-1].split("/")[1] for r in got["properties"]["outputResources"]}
    assert {"storageAccounts", "IotHubs"} <= types
    ops = arm.get(f"/subscriptions/{SUB}/resourcegroups/{rg}/deployments/route/operations", api_version=API).json()
    by_type = {o["properties"]["targetResource"]["resourceType"]: o["properties"] for o in ops["value"]}
    # the account is modelled (listKeys works); its blob container is stored as a generic resource
    assert "emulator" not in by_type["Microsoft.Storage/storageAccounts"]["statusMessage"]
    container = by_type["Microsoft.Storage/storageAccounts/blobServices/containers"]
    assert "not emulated" in container["statusMessage"]["emulator"]


def test_synthetic_device_registry_sample(arm, rg):
    template, _ = sample("synthetic-deviceregistry-iothub-dps")
    got = deploy(arm, rg, "synthetic", template)
    outputs = got["properties"]["outputs"]
    assert outputs["hubHostName"]["value"].endswith(".azure-devices.localhost")
    assert outputs["dpsIdScope"]["value"].startswith("0ne")
    assert outputs["policyStates"]["value"] == ["Succeeded", "Succeeded"]
    ns_name = outputs["namespaceId"]["value"].rsplit("/", 1)[1]
    pki = namespace_pki(arm, rg, ns_name)
    assert set(pki["policies"]) == {"fleet-a", "fleet-b"}  # real issuing CAs, through the same handlers
    assert all(p["issuingCa"] for p in pki["policies"].values())


def test_rest_surface(arm, rg):
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0",
                "parameters": {"secret": {"type": "securestring"}, "n": {"type": "int", "defaultValue": 2}},
                "resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31",
                               "name": "[concat('id-', copyIndex())]", "location": "eastus",
                               "copy": {"name": "ids", "count": "[parameters('n')]"}}],
                "outputs": {"first": {"type": "string", "value": "[reference(resourceId("
                                      "'Microsoft.ManagedIdentity/userAssignedIdentities', 'id-0')).principalId]"}}}
    path = deployment_path(rg, "surface")
    validated = arm.post(f"{path}/validate", {"properties": {"mode": "Incremental", "template": template,
                                                             "parameters": {"secret": {"value": "s3cret"}}}},
                         api_version=API)
    assert validated.status_code == 200, validated.text
    assert len(validated.json()["properties"]["validatedResources"]) == 2
    assert arm.request("HEAD", path, API).status_code == 404
    got = deploy(arm, rg, "surface", template, {"secret": {"value": "s3cret"}})
    assert "s3cret" not in json.dumps(got)
    assert got["properties"]["parameters"]["secret"] == {"type": "SecureString"}
    assert len(got["properties"]["outputs"]["first"]["value"]) == 36
    assert got["properties"]["duration"].startswith("PT") and got["properties"]["correlationId"]
    assert arm.request("HEAD", path, API).status_code == 204
    listed = arm.get(f"resourceGroups/{rg}/providers/Microsoft.Resources/deployments/", api_version=API).json()
    assert [d["name"] for d in listed["value"]] == ["surface"]
    exported = arm.post(f"{path}/exportTemplate", api_version=API).json()
    assert exported["template"] == template
    ops = arm.get(f"{path}/operations", api_version=API).json()["value"]
    assert len(ops) == 2 and all(len(o["operationId"]) == 16 for o in ops)
    one = arm.get(f"{path}/operations/{ops[0]['operationId']}", api_version=API)
    assert one.status_code == 200 and one.json()["properties"]["statusCode"] in ("OK", "Created")
    assert arm.post(f"{path}/cancel", api_version=API).status_code == 409  # already finished
    assert arm.put(f"{path}/operations/x", {}, api_version=API).status_code == 405
    assert arm.delete(path, api_version=API).status_code == 202
    assert arm.get(path, api_version=API).status_code == 404
    # deleting the history entry keeps the resources
    assert arm.get(f"resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-1",
                   api_version="2023-01-31").status_code == 200


def test_az_cli_style_jsonc_body(arm, rg):
    raw_template = '{\n // a comment\n "$schema": "x", "contentVersion": "1.0.0.0",\n "resources": [],\n}'
    body = '{"properties": {"parameters": {}, "mode": "Incremental", template:' + raw_template + '}}'
    r = requests.put(arm.url(deployment_path(rg, "jsonc"), API), data=body,
                     headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 201, r.text


def test_failed_resource_is_reported_with_its_id(arm, rg):
    template = {"$schema": "x", "contentVersion": "1.0.0.0", "resources": [
        {"type": "Microsoft.DeviceRegistry/namespaces", "apiVersion": "2026-03-01-preview", "name": "dep-ns",
         "location": "eastus"},
        {"type": "Microsoft.DeviceRegistry/namespaces/credentials", "apiVersion": "2026-03-01-preview",
         "name": "dep-ns/default", "location": "eastus", "dependsOn": ["dep-ns"]},
        {"type": "Microsoft.DeviceRegistry/namespaces/credentials/policies", "apiVersion": "2026-03-01-preview",
         "name": "dep-ns/default/bad", "dependsOn": ["[resourceId('Microsoft.DeviceRegistry/namespaces/credentials', "
                                                    "'dep-ns', 'default')]"],
         "properties": {"certificate": {"certificateAuthorityConfiguration": {"keyType": "ECC"},
                                        "leafCertificateConfiguration": {"validityPeriodInDays": 400}}}}]}
    r = arm.put(deployment_path(rg, "fails"), {"properties": {"mode": "Incremental", "template": template}},
                api_version=API)
    status = requests.get(r.headers["Azure-AsyncOperation"], timeout=30).json()
    assert status["status"] == "Failed" and status["error"]["code"] == "DeploymentFailed"
    got = arm.get(deployment_path(rg, "fails"), api_version=API).json()
    error = got["properties"]["error"]
    assert error["code"] == "DeploymentFailed"
    assert error["details"][0]["target"].endswith("/policies/bad")
    assert "validityPeriodInDays" in json.dumps(error)
    ops = arm.get(f"{deployment_path(rg, 'fails')}/operations", api_version=API).json()["value"]
    states = {o["properties"]["targetResource"]["resourceName"]: o["properties"]["provisioningState"] for o in ops}
    assert states == {"dep-ns": "Succeeded", "dep-ns/default": "Succeeded", "dep-ns/default/bad": "Failed"}
    assert arm.get(f"resourceGroups/{rg}/providers/Microsoft.DeviceRegistry/namespaces/dep-ns/credentials/default/"
                   "policies/bad").status_code == 404  # nothing half-written


BASE = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0"}


@pytest.mark.parametrize("template,params,needle", [
    ({**BASE, "resources": [], "outputs": {"o": {"type": "string", "value": "[concat('a' 'b')]"}}}, {}, "position"),
    ({**BASE, "resources": [], "outputs": {"o": {"type": "string", "value": "[nosuchfn()]"}}}, {}, "nosuchfn"),
    ({**BASE, "resources": [], "outputs": {"o": {"type": "int", "value": "[add('a', 1)]"}}}, {}, "add"),
    ({**BASE, "parameters": {"p": {"type": "string"}}, "resources": []}, {}, "p"),
    ({**BASE, "parameters": {"p": {"type": "string", "allowedValues": ["a", "b"]}}, "resources": []},
     {"p": {"value": "c"}}, "allowed"),
    ({**BASE, "resources": [
        {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "a",
         "location": "eastus", "dependsOn": ["b"]},
        {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "b",
         "location": "eastus", "dependsOn": ["a"]}]}, {}, "ircular"),
])
def test_bad_templates_are_refused_clearly(arm, rg, template, params, needle):
    """Template problems are a 400 InvalidTemplate before anything is written; problems only the run can
    see (an output's argument types) fail the deployment with the expression's error inside."""
    r = arm.put(deployment_path(rg, "bad"), {"properties": {"mode": "Incremental", "template": template,
                                                            "parameters": params}}, api_version=API)
    if r.status_code == 400:
        error = r.json()["error"]
        assert error["code"] in ("InvalidTemplate", "InvalidTemplateDeployment"), error
        assert arm.get(deployment_path(rg, "bad"), api_version=API).status_code == 404
    else:
        assert r.status_code == 201, r.text
        error = arm.get(deployment_path(rg, "bad"), api_version=API).json()["properties"]["error"]
        assert error["details"][0]["code"] == "InvalidTemplate"
    assert needle.lower() in json.dumps(error).lower(), error
    assert arm.get(f"resourceGroups/{rg}/resources", api_version="2024-03-01").json()["value"] == []


def test_reference_to_a_missing_resource_fails_the_deployment(arm, rg):
    template = {**BASE, "resources": [], "outputs": {"o": {"type": "string", "value":
                "[reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'ghost'), "
                "'2023-01-31').principalId]"}}}
    r = arm.put(deployment_path(rg, "ghost"), {"properties": {"mode": "Incremental", "template": template}},
                api_version=API)
    if r.status_code == 400:
        assert "ghost" in r.text
        return
    got = arm.get(deployment_path(rg, "ghost"), api_version=API).json()
    assert got["properties"]["provisioningState"] == "Failed" and "ghost" in json.dumps(got["properties"]["error"])


def test_what_if_and_complete_mode(arm, rg):
    def ident(name: str) -> dict:
        return {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31",
                "name": name, "location": "eastus", "tags": {"t": name}}

    two = {**BASE, "resources": [ident("keep"), ident("drop")]}
    deploy(arm, rg, "wi", two)
    path = deployment_path(rg, "wi")
    r = arm.post(f"{path}/whatIf", {"properties": {"mode": "Incremental", "template": two}}, api_version=API)
    assert r.status_code == 202
    result = requests.get(r.headers["Location"], timeout=30).json()
    assert {c["changeType"] for c in result["properties"]["changes"]} == {"NoChange"}
    one = {**BASE, "resources": [{**ident("keep"), "tags": {"t": "changed"}}]}
    r = arm.post(f"{path}/whatIf", {"properties": {"mode": "Complete", "template": one}}, api_version=API)
    changes = {c["resourceId"].rsplit("/", 1)[1]: c for c in
               requests.get(r.headers["Location"], timeout=30).json()["properties"]["changes"]}
    assert changes["keep"]["changeType"] == "Modify"
    assert changes["keep"]["delta"] == [{"path": "tags.t", "propertyChangeType": "Modify", "before": "keep",
                                         "after": "changed"}]
    assert changes["drop"]["changeType"] == "Delete"
    deploy(arm, rg, "wi", one, mode="Complete")
    ident_path = f"resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
    assert arm.get(f"{ident_path}/drop", api_version="2023-01-31").status_code == 404
    assert arm.get(f"{ident_path}/keep", api_version="2023-01-31").json()["tags"] == {"t": "changed"}


def test_subscription_scope_deployment_creates_a_group(arm):
    name = f"subrg-{uuid.uuid4().hex[:6]}"
    template = {"$schema": "https://schema.management.azure.com/schemas/2018-05-01/"
                           "subscriptionDeploymentTemplate.json#",
                "contentVersion": "1.0.0.0", "resources": [
                    {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01", "name": name,
                     "location": "westus"}]}
    path = f"/subscriptions/{SUB}/providers/Microsoft.Resources/deployments/sub-{name}"
    missing = arm.put(path, {"properties": {"mode": "Incremental", "template": template}}, api_version=API)
    assert missing.status_code == 400 and missing.json()["error"]["target"] == "location"
    r = arm.put(path, {"location": "westus", "properties": {"mode": "Incremental", "template": template}},
                api_version=API)
    assert r.status_code == 201, r.text
    assert requests.get(r.headers["Azure-AsyncOperation"], timeout=30).json()["status"] == "Succeeded"
    assert arm.get(f"resourceGroups/{name}", api_version="2024-03-01").json()["location"] == "westus"


def ours(name: str) -> tuple[dict, dict]:
    template = json.loads((OURS / f"{name}.json").read_text())
    params = json.loads((OURS / f"{name}.parameters.json").read_text())["parameters"]
    return template, params


@pytest.mark.parametrize("name", ["full-setup", "full-setup-ga", "namespace-with-policy", "hub-and-dps",
                                  "hub-with-consumer-group",
                                  "dps-linked-by-azure-hostname"])
def test_our_templates_deploy_and_redeploy_without_changes(arm, rg, name):
    template, params = ours(name)
    suffix = uuid.uuid4().hex[:6]
    for key in ("hubName", "dpsName"):
        if key in params:
            params[key] = {"value": params[key]["value"] + suffix}
    got = deploy(arm, rg, name, template, params)
    assert got["properties"]["outputResources"]
    r = arm.post(f"{deployment_path(rg, name)}/whatIf", {"properties": {"mode": "Incremental", "template": template,
                                                                        "parameters": params}}, api_version=API)
    changes = requests.get(r.headers["Location"], timeout=30).json()["properties"]["changes"]
    assert changes and {c["changeType"] for c in changes} <= {"NoChange", "Ignore"}, \
        [(c["resourceId"], c["changeType"], c.get("delta")) for c in changes if c["changeType"] != "NoChange"]


def test_full_setup_is_ready_for_devices(arm, rg):
    template, params = ours("full-setup")
    outputs = deploy(arm, rg, "full", template, params)["properties"]["outputs"]
    sync = requests.post(outputs["syncUrl"]["value"], timeout=30)
    assert sync.status_code == 202
    assert requests.get(sync.headers["Location"], timeout=30).status_code == 200
    hub_certs = arm.get(f"resourceGroups/{rg}/providers/Microsoft.Devices/IotHubs/{outputs['hubName']['value']}"
                        "/certificates", api_version="2025-08-01-preview").json()["value"]
    assert sorted(c["properties"]["policyResourceId"] for c in hub_certs) == sorted(outputs["policyIds"]["value"])
    dps = arm.get(f"resourceGroups/{rg}/providers/Microsoft.Devices/provisioningServices/{outputs['dpsName']['value']}",
                  api_version="2025-02-01-preview").json()
    assert dps["properties"]["deviceRegistryNamespace"]["resourceId"] == outputs["namespaceId"]["value"]
    assert dps["properties"]["idScope"] == outputs["dpsIdScope"]["value"]


def test_polls_mode_deployment_runs_then_can_be_cancelled(emulator_with):
    template = {**BASE, "resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                                       "apiVersion": "2023-01-31", "name": "pid1", "location": "eastus"}]}
    proc = emulator_with("--lro", "polls:2")
    arm = Arm(proc.http)
    arm.group("lro-dep")
    r = arm.put(deployment_path("lro-dep", "slow"), {"properties": {"mode": "Incremental", "template": template}},
                api_version=API)
    assert r.status_code == 201 and r.json()["properties"]["provisioningState"] == "Accepted"
    url = r.headers["Azure-AsyncOperation"]
    assert requests.get(url, timeout=10).json()["status"] == "Running"
    assert arm.get(deployment_path("lro-dep", "slow"), api_version=API).json()["properties"][
        "provisioningState"] == "Running"
    assert arm.post(f"{deployment_path('lro-dep', 'slow')}/cancel", api_version=API).status_code == 204
    status = requests.get(url, timeout=10).json()
    assert status["status"] == "Canceled" and status["error"]["code"] == "DeploymentCanceled"
    assert arm.get(deployment_path("lro-dep", "slow"), api_version=API).json()["properties"][
        "provisioningState"] == "Canceled"
    # a second deployment under the same name runs to the end after N polls
    r = arm.put(deployment_path("lro-dep", "slow"), {"properties": {"mode": "Incremental", "template": template}},
                api_version=API)
    states = [requests.get(r.headers["Azure-AsyncOperation"], timeout=10).json()["status"] for _ in range(3)]
    assert states == ["Running", "Running", "Succeeded"]


def test_calculate_template_hash_matches_the_deployment(arm, rg):
    template = {**BASE, "resources": []}
    r = arm.post("/providers/Microsoft.Resources/calculateTemplateHash", template, api_version=API)
    assert r.status_code == 200 and json.loads(r.json()["minifiedTemplate"]) == template
    deployed = deploy(arm, rg, "hash", template)
    assert deployed["properties"]["templateHash"] == r.json()["templateHash"]
    assert arm.post("/providers/Microsoft.Resources/nope", {}, api_version=API).status_code == 404


UNMODELLED = {**BASE, "resources": [
    {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01", "name": "vnet1", "location": "eastus",
     "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}]}


def test_unmodelled_types_are_stored_generically_and_their_actions_refused(arm, rg):
    deploy(arm, rg, "generic", UNMODELLED)
    vnet = arm.get(f"resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/vnet1", api_version="2023-09-01")
    assert vnet.status_code == 200
    assert vnet.json()["properties"] == {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                                         "provisioningState": "Succeeded"}
    lister = {**BASE, "resources": [], "outputs": {"k": {"type": "object", "value":
              "[listKeys(resourceId('Microsoft.Network/virtualNetworks', 'vnet1'), '2023-09-01')]"}}}
    r = arm.put(deployment_path(rg, "lister"), {"properties": {"mode": "Incremental", "template": lister}},
                api_version=API)
    error = r.json()["error"] if r.status_code == 400 else \
        arm.get(deployment_path(rg, "lister"), api_version=API).json()["properties"]["error"]
    assert "ResourceTypeNotEmulated" in json.dumps(error) and "Microsoft.Network/virtualNetworks" in json.dumps(error)


def test_strict_resource_types_refuses_unmodelled_types(emulator_with):
    proc = emulator_with("--strict-resource-types")
    arm = Arm(proc.http)
    arm.group("strict")
    direct = arm.put("resourceGroups/strict/providers/Microsoft.Network/virtualNetworks/v",
                     {"location": "eastus"}, api_version="2023-09-01")
    assert direct.status_code == 400 and direct.json()["error"]["code"] == "NoRegisteredProviderFound"
    deployed = deploy(arm, "strict", "strict", UNMODELLED, expect="Failed")
    assert "NoRegisteredProviderFound" in json.dumps(deployed["properties"]["error"])
    # modelled types still deploy
    assert arm.put("resourceGroups/strict/providers/Microsoft.DeviceRegistry/namespaces/ns-strict",
                   {"location": "eastus"}, api_version="2026-03-01-preview").status_code == 201
