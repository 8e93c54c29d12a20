"""The deployment engine: parameters, variables, copy loops, dependencies, 2.0 features, nested deployments,
modes and failure reporting (research §3, §7, §8)."""

from __future__ import annotations

import copy

import pytest

from provider.templates import (
    ResourceWriteError,
    TemplateError,
    plan_deployment,
    run_deployment,
    validate_template,
)
from tests.templates.template_fakes import SUB, FakeHost, scope_for

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/rg1"
HUB = "Microsoft.Devices/IotHubs"


def tpl(resources=None, **sections) -> dict:
    template = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": resources or []}
    template.update(sections)
    return template


def hub(name, **extra) -> dict:
    return {"type": HUB, "apiVersion": "2021-07-02", "name": name, "location": "westus",
            "sku": {"name": "S1", "capacity": 1}, **extra}


def deploy(template, parameters=None, host=None, **kwargs):
    host = host or FakeHost()
    result = run_deployment(template, parameters or {}, scope=scope_for(host), host=host, **kwargs)
    return host, result


def rid(type_, name) -> str:
    return f"{RG_ID}/providers/{type_}/{name}"


def plan_of(template, parameters=None):
    host = FakeHost()
    return plan_deployment(template, parameters or {}, scope=scope_for(host), host=host)


def validate(template, parameters=None):
    host = FakeHost()
    return validate_template(template, parameters or {}, scope=scope_for(host), host=host)


def error_of(template, parameters=None, host=None) -> TemplateError:
    host = host or FakeHost()
    with pytest.raises(TemplateError) as info:
        validate_template(template, parameters or {}, scope=scope_for(host), host=host)
    return info.value


# --------------------------------------------------------------------------- parameters

PARAMS = {
    "name": {"type": "string", "minLength": 3, "maxLength": 8},
    "sku": {"type": "string", "defaultValue": "S1", "allowedValues": ["F1", "S1", "S2"]},
    "units": {"type": "int", "defaultValue": 1, "minValue": 1, "maxValue": 10},
    "pwd": {"type": "securestring"},
    "tags": {"type": "object", "defaultValue": {}},
    "flag": {"type": "bool", "defaultValue": False},
    "derived": {"type": "string", "defaultValue": "[concat(parameters('name'), '-', resourceGroup().location)]"},
    "secrets": {"type": "secureObject", "defaultValue": {"k": "v"}},
}


def test_parameter_binding_and_echo_hides_secure_values():
    template = tpl(parameters=PARAMS, outputs={"d": {"type": "string", "value": "[parameters('derived')]"}})
    _, result = deploy(template, {"name": {"value": "abc"}, "pwd": {"value": "hunter2"}, "SKU": {"value": "s2"}})
    assert result.error is None
    assert result.outputs == {"d": {"type": "String", "value": "abc-westus"}}
    assert result.parameters["pwd"] == {"type": "SecureString"}
    assert result.parameters["secrets"] == {"type": "SecureObject"}
    assert result.parameters["units"] == {"type": "Int", "value": 1}
    assert result.parameters["sku"] == {"type": "String", "value": "s2"}
    assert "hunter2" not in repr(result.parameters) and "hunter2" not in repr(result.plan.parameters)


@pytest.mark.parametrize(
    "supplied, fragment",
    [
        ({"pwd": {"value": "x"}}, "The value for the template parameter 'name' is not provided"),
        ({"name": {"value": "abc"}, "pwd": {"value": "x"}, "sku": {"value": "P1"}},
         "The parameter value is not part of the allowed value(s): 'F1,S1,S2'"),
        ({"name": {"value": "abc"}, "pwd": {"value": "x"}, "units": {"value": "1"}},
         "Expected a value of type 'Integer', but received a value of type 'String'"),
        ({"name": {"value": "abc"}, "pwd": {"value": "x"}, "units": {"value": 11}}, "greater than the maximum"),
        ({"name": {"value": "abc"}, "pwd": {"value": "x"}, "units": {"value": 0}}, "less than the minimum"),
        ({"name": {"value": "ab"}, "pwd": {"value": "x"}}, "less than the minimum length 3"),
        ({"name": {"value": "abcdefghi"}, "pwd": {"value": "x"}}, "greater than the maximum length 8"),
        ({"name": {"value": "abc"}, "pwd": {"value": "x"}, "flag": {"value": "true"}}, "type 'Boolean'"),
        ({"name": {"value": "abc"}, "pwd": {"value": "x"}, "tags": {"value": []}}, "type 'Object'"),
        ({"name": {"value": "abc"}, "pwd": {"value": "x"}, "extra": {"value": 1}, "more": {"value": 2}},
         "The template parameters 'extra, more' in the parameters file are not valid"),
        ({"name": "abc", "pwd": {"value": "x"}}, "must be an object with a 'value'"),
    ],
)
def test_parameter_errors(supplied, fragment):
    err = error_of(tpl(parameters=PARAMS), supplied)
    assert err.code == "InvalidTemplate"
    assert fragment in err.message


def test_secure_value_not_echoed_in_errors():
    params = {"pwd": {"type": "securestring", "allowedValues": ["a"]}}
    err = error_of(tpl(parameters=params), {"pwd": {"value": "topsecret"}})
    assert "topsecret" not in err.message


def test_array_allowed_values_check_every_element():
    params = {"zones": {"type": "array", "allowedValues": ["1", "2", "3"]}}
    validate(tpl(parameters=params), {"zones": {"value": ["1", "3"]}})
    assert "allowed value" in error_of(tpl(parameters=params), {"zones": {"value": ["1", "4"]}}).message


def test_nullable_and_v2_type_definitions():
    template = tpl(
        languageVersion="2.0",
        resources={},
        definitions={
            "endpoint": {"type": "object", "properties": {
                "name": {"type": "string", "minLength": 1},
                "port": {"type": "int", "nullable": True},
                "kind": {"type": "string", "allowedValues": ["mqtt", "http"]},
            }, "additionalProperties": False},
        },
        parameters={
            "endpoints": {"type": "array", "items": {"$ref": "#/definitions/endpoint"}},
            "optional": {"type": "string", "nullable": True},
        },
        outputs={"n": {"type": "int", "value": "[length(parameters('endpoints'))]"},
                 "o": {"type": "string", "nullable": True, "value": "[parameters('optional')]"}},
    )
    good = {"endpoints": {"value": [{"name": "a", "kind": "mqtt"}, {"name": "b", "port": 1, "kind": "http"}]}}
    _, result = deploy(template, good)
    assert result.outputs == {"n": {"type": "Int", "value": 2}, "o": {"type": "String", "value": None}}
    bad_kind = {"endpoints": {"value": [{"name": "a", "kind": "amqp"}]}}
    assert "allowed value" in error_of(template, bad_kind).message
    extra = {"endpoints": {"value": [{"name": "a", "kind": "mqtt", "x": 1}]}}
    assert "'x' are not allowed" in error_of(template, extra).message
    missing = {"endpoints": {"value": [{"kind": "mqtt"}]}}
    assert "'name' is required" in error_of(template, missing).message


def test_parameter_default_cycle():
    params = {"a": {"type": "string", "defaultValue": "[parameters('b')]"},
              "b": {"type": "string", "defaultValue": "[parameters('a')]"}}
    assert "circular" in error_of(tpl(parameters=params)).message


# --------------------------------------------------------------------------- variables and functions


def test_variables_copy_and_lazy_evaluation():
    template = tpl(
        variables={
            "disks": {"copy": [{"name": "list", "count": 3, "input": {
                "name": "[concat('disk', copyIndex('list', 1))]", "lun": "[copyIndex('list')]"}}]},
            "copy": [{"name": "names", "count": 2, "input": "[concat('item', copyIndex('names'))]"}],
            "$fxv#0": "loaded text",
            "chain": "[concat(variables('$fxv#0'), '!')]",
        },
        outputs={"disks": {"type": "array", "value": "[variables('disks').list]"},
                 "names": {"type": "array", "value": "[variables('names')]"},
                 "chain": {"type": "string", "value": "[variables('chain')]"}},
    )
    _, result = deploy(template)
    assert result.outputs["disks"]["value"] == [{"name": "disk1", "lun": 0}, {"name": "disk2", "lun": 1},
                                                {"name": "disk3", "lun": 2}]
    assert result.outputs["names"]["value"] == ["item0", "item1"]
    assert result.outputs["chain"]["value"] == "loaded text!"


def test_variable_cycle_and_unknown_variable():
    template = tpl(variables={"a": "[variables('b')]", "b": "[variables('a')]"},
                   outputs={"x": {"type": "string", "value": "[variables('a')]"}})
    _, result = deploy(template)
    assert result.error["code"] == "DeploymentOutputEvaluationFailed"
    assert "circular" in str(result.error)
    template = tpl(resources=[hub("[variables('nope')]")])
    assert "The template variable 'nope' is not found" in error_of(template).message


def test_user_defined_functions():
    template = tpl(
        functions=[{"namespace": "contoso", "members": {
            "uniqueName": {"parameters": [{"name": "prefix", "type": "string"}],
                           "output": {"type": "string",
                                      "value": "[concat(toLower(parameters('prefix')), "
                                               "uniqueString(resourceGroup().id))]"}},
        }}],
        resources=[hub("[contoso.uniqueName('HUB')]")],
        outputs={"n": {"type": "string", "value": "[contoso.UNIQUENAME('X')]"}},
    )
    host, result = deploy(template)
    assert result.error is None
    assert result.outputs["n"]["value"].startswith("x") and len(result.outputs["n"]["value"]) == 14
    assert host.puts()[0].endswith("/IotHubs/hub" + result.outputs["n"]["value"][1:])
    bad = tpl(functions=template["functions"], outputs={"n": {"type": "string", "value": "[contoso.uniqueName(1)]"}})
    _, result = deploy(bad)
    assert "not valid" in str(result.error)


# --------------------------------------------------------------------------- resources, ids, loops


def test_child_resources_get_full_type_and_name():
    template = tpl([hub("hub1", resources=[
        {"type": "certificates", "apiVersion": "2021-07-02", "name": "cert1", "dependsOn": ["hub1"],
         "properties": {"certificate": "abc"}},
        {"type": "Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups", "apiVersion": "2021-07-02",
         "name": "hub1/events/cg1", "properties": {"name": "cg1"}},
    ])])
    plan = plan_of(template)
    assert [r.type for r in plan.resources] == [HUB, f"{HUB}/certificates", f"{HUB}/eventHubEndpoints/ConsumerGroups"]
    assert plan.resources[1].resource_id == rid(HUB, "hub1/certificates/cert1")
    assert plan.resources[1].name == "hub1/cert1"
    assert plan.resources[2].resource_id == rid(HUB, "hub1/eventHubEndpoints/events/ConsumerGroups/cg1")
    assert plan.resources[2].depends_on == [rid(HUB, "hub1")]  # implicit parent edge
    host, result = deploy(template)
    assert result.error is None and len(host.puts()) == 3


def test_extension_resource_scope():
    template = tpl([
        hub("hub1"),
        {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
         "scope": f"[resourceId('{HUB}', 'hub1')]", "name": "[guid('hub1', 'reader')]",
         "properties": {"principalId": "p"}, "dependsOn": ["hub1"]},
        {"type": "Microsoft.Authorization/locks", "apiVersion": "2020-05-01", "scope": f"{HUB}/hub1",
         "name": "lock", "properties": {"level": "CanNotDelete"}, "dependsOn": ["hub1"]},
    ])
    host, result = deploy(template)
    assert result.error is None
    guid = "[guid('hub1', 'reader')]"
    assert host.puts()[1].startswith(rid(HUB, "hub1") + "/providers/Microsoft.Authorization/roleAssignments/")
    assert guid not in host.puts()[1]
    assert host.puts()[2] == rid(HUB, "hub1") + "/providers/Microsoft.Authorization/locks/lock"


def test_resource_copy_loop_and_property_copy():
    template = tpl(
        parameters={"names": {"type": "array", "defaultValue": ["a", "b", "c"]}},
        resources=[hub("[concat('hub-', parameters('names')[copyIndex()])]",
                       copy={"name": "hubLoop", "count": "[length(parameters('names'))]"},
                       properties={"copy": [{"name": "routes", "count": "[add(copyIndex(), 1)]", "input": {
                           "name": "[concat('r', copyIndex('routes'), '-of-', copyIndex())]"}}]}),
                   {"type": "Microsoft.Devices/provisioningServices", "apiVersion": "2022-02-05", "name": "dps",
                    "location": "westus", "dependsOn": ["hubLoop"],
                    "properties": {"iotHubs": {"copy": [{"name": "x", "count": 0, "input": "[copyIndex('x')]"}]}}}],
        outputs={"ids": {"type": "array", "copy": {"count": 3, "input": f"[resourceId('{HUB}', "
                                                   "concat('hub-', parameters('names')[copyIndex()]))]"}}},
    )
    host, result = deploy(template)
    assert result.error is None
    assert host.puts()[:3] == [rid(HUB, f"hub-{n}") for n in "abc"]
    assert host.resources[rid(HUB, "hub-c").lower()]["properties"]["routes"] == [
        {"name": "r0-of-2"}, {"name": "r1-of-2"}, {"name": "r2-of-2"}]
    dps = host.resources[rid("Microsoft.Devices/provisioningServices", "dps").lower()]
    assert dps["properties"]["iotHubs"] == {"x": []}
    assert result.outputs["ids"]["value"] == [rid(HUB, f"hub-{n}") for n in "abc"]
    plan = result.plan
    assert plan.resource(rid("Microsoft.Devices/provisioningServices", "dps")).depends_on == [
        rid(HUB, f"hub-{n}") for n in "abc"]


def test_serial_copy_with_batch_size_orders_batches():
    template = tpl([hub("[concat('h', copyIndex())]",
                        copy={"name": "loop", "count": 5, "mode": "serial", "batchSize": 2})])
    plan = plan_of(template)
    deps = {r.name: sorted(d.rsplit("/", 1)[-1] for d in r.depends_on) for r in plan.resources}
    assert deps == {"h0": [], "h1": [], "h2": ["h0", "h1"], "h3": ["h0", "h1"], "h4": ["h2", "h3"]}


def test_copy_count_zero_and_limits():
    _, result = deploy(tpl([hub("[concat('h', copyIndex())]", copy={"name": "loop", "count": 0})]))
    assert result.error is None and result.operations == []
    err = error_of(tpl([hub("[concat('h', copyIndex())]", copy={"name": "loop", "count": 801})]))
    assert "between 0 and 800" in err.message


def test_condition_false_skips_resource_and_drops_edge():
    template = tpl([hub("a", condition="[equals('x', 'y')]"), hub("b", dependsOn=["a"])],
                   outputs={"skipped": {"type": "string", "condition": "[false()]", "value": "[reference('a').x]"}})
    host, result = deploy(template)
    assert result.error is None
    assert host.puts() == [rid(HUB, "b")]
    assert result.outputs == {}
    assert result.plan.resources[0].condition is False


def test_duplicate_resources_rejected():
    assert "defined multiple times" in error_of(tpl([hub("a"), hub("A")])).message
    validate(tpl([hub("a"), hub("a", condition="[false()]")]))


# --------------------------------------------------------------------------- dependencies


def test_depends_on_forms_and_topological_order():
    template = tpl([
        hub("c", dependsOn=[f"[resourceId('{HUB}', 'b')]"]),
        hub("b", dependsOn=[f"{HUB}/a"]),
        hub("a", dependsOn=[]),
        hub("d", dependsOn=["c", "[concat('Microsoft.Devices/IotHubs/', 'a')]"]),
    ])
    host, result = deploy(template)
    assert result.error is None
    assert [p.rsplit("/", 1)[-1] for p in host.puts()] == ["a", "b", "c", "d"]


def test_implicit_dependency_from_reference_orders_resources():
    template = tpl([
        {"type": "Microsoft.Devices/provisioningServices", "apiVersion": "2022-02-05", "name": "dps",
         "location": "westus", "properties": {"iotHubs": [{
             "connectionString": f"[concat('HostName=', reference(resourceId('{HUB}', 'hub')).hostName, "
                                 f"';SharedAccessKey=', listKeys(resourceId('{HUB}', 'hub'), '2021-07-02')"
                                 ".value[0].primaryKey)]",
             "location": "westus"}]}},
        hub("hub"),
    ])
    host, result = deploy(template)
    assert result.error is None
    assert [p.rsplit("/", 1)[-1] for p in host.puts()] == ["hub", "dps"]
    conn = host.resources[rid("Microsoft.Devices/provisioningServices", "dps").lower()]["properties"]["iotHubs"][0]
    assert conn["connectionString"].startswith("HostName=hub.azure-devices.net;SharedAccessKey=")
    planned = result.plan.resource(rid("Microsoft.Devices/provisioningServices", "dps"))
    assert planned.body_complete is False
    assert planned.body["properties"]["iotHubs"][0]["connectionString"].startswith("[concat('HostName='")


def test_dependency_cycle_names_the_cycle():
    template = tpl([hub("a", dependsOn=["b"]), hub("b", dependsOn=["a"])])
    err = error_of(template)
    assert err.code == "InvalidTemplate"
    assert f"Circular dependency detected on resource: '{HUB}/a' -> '{HUB}/b' -> '{HUB}/a'" in err.message


def test_dependency_cycle_v2_uses_symbolic_names():
    template = tpl(languageVersion="2.0", resources={
        "a": hub("a", dependsOn=["c"]), "b": hub("b", dependsOn=["a"]), "c": hub("c", dependsOn=["b"])})
    assert "'a' -> 'c' -> 'b' -> 'a'" in error_of(template).message


def test_depends_on_unknown_resource():
    err = error_of(tpl([hub("a", dependsOn=["ghost"])]))
    assert "The resource 'ghost' is not defined in the template" in err.message
    assert err.target == "resources[0].dependsOn"


def test_reference_by_unknown_name_is_rejected():
    template = tpl([hub("a", properties={"x": "[reference('ghost').y]"})])
    assert "could not find template resource" in error_of(template).message


# --------------------------------------------------------------------------- languageVersion 2.0


def test_v2_existing_resources_references_and_symbolic_lists():
    host = FakeHost()
    host.add_group("rg1")
    host.add_group("shared")
    shared_id = f"/subscriptions/{SUB}/resourceGroups/shared/providers/Microsoft.ManagedIdentity/" \
                "userAssignedIdentities/id1"
    host.add_resource(shared_id, {"location": "westus", "properties": {"principalId": "pid-1"}})
    template = tpl(
        languageVersion="2.0",
        resources={
            "ident": {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31",
                      "existing": True, "resourceGroup": "shared", "name": "id1"},
            "hubs": hub("[format('hub{0}', copyIndex())]", copy={"name": "hubs", "count": 2},
                        properties={"owner": "[reference('ident').principalId]"}),
            "dps": {"type": "Microsoft.Devices/provisioningServices", "apiVersion": "2022-02-05", "name": "dps",
                    "location": "westus", "properties": {
                        "iotHubs": [{"connectionString": "[format('HostName={0};Key={1}', reference('hubs[1]')."
                                                         "hostName, listKeys('hubs[1]', '2021-07-02').value[0]."
                                                         "primaryKey)]"}]}},
        },
        outputs={
            "hosts": {"type": "array",
                      "value": "[map(references('hubs'), lambda('h', lambdaVariables('h').hostName))]"},
            "full": {"type": "string", "value": "[reference('hubs[0]', '2021-07-02', 'full').location]"},
            "identity": {"type": "string", "value": "[reference('ident').principalId]"},
        },
    )
    host, result = deploy(template, host=host)
    assert result.error is None, result.error
    assert result.outputs["hosts"]["value"] == ["hub0.azure-devices.net", "hub1.azure-devices.net"]
    assert result.outputs["full"]["value"] == "westus"
    assert result.outputs["identity"]["value"] == "pid-1"
    assert shared_id not in result.output_resources and shared_id.lower() not in [p.lower() for p in host.puts()]
    assert host.resources[rid(HUB, "hub0").lower()]["properties"]["owner"] == "pid-1"
    assert host.puts()[-1].endswith("/dps")
    dps = result.plan.resource("dps")
    assert rid(HUB, "hub1") in dps.depends_on


def test_v2_existing_resource_missing_fails_deployment():
    template = tpl(languageVersion="2.0", resources={
        "ident": {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31",
                  "existing": True, "name": "missing"},
        "h": hub("h", dependsOn=["ident"]),
    })
    host, result = deploy(template)
    assert result.error["code"] == "DeploymentFailed"
    detail = result.error["details"][0]
    assert detail["code"] == "ResourceNotFound"
    assert detail["target"].endswith("/userAssignedIdentities/missing")
    assert host.puts() == []


def test_v2_symbolic_reference_to_loop_without_index_is_an_error():
    template = tpl(languageVersion="2.0", resources={
        "hubs": hub("[format('hub{0}', copyIndex())]", copy={"name": "hubs", "count": 2}),
    }, outputs={"x": {"type": "string", "value": "[reference('hubs').hostName]"}})
    _, result = deploy(template)
    assert "references('hubs')" in str(result.error)


# --------------------------------------------------------------------------- nested deployments


def _nested(scope_kind, template, parameters=None, **extra):
    props = {"mode": "Incremental", "template": template}
    if scope_kind:
        props["expressionEvaluationOptions"] = {"scope": scope_kind}
    if parameters is not None:
        props["parameters"] = parameters
    return {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "nested",
            "properties": props, **extra}


def test_nested_inner_deployment_outputs_flow_back():
    inner = tpl([hub("[parameters('hubName')]")],
                parameters={"hubName": {"type": "string"}},
                outputs={"host": {"type": "string", "value": "[reference(parameters('hubName')).hostName]"}})
    template = tpl([_nested("inner", inner, {"hubName": {"value": "[concat('in', 'ner')]"}})],
                   outputs={"fromNested": {"type": "string",
                                           "value": "[reference('nested').outputs.host.value]"}})
    seen = []
    host, result = deploy(template, on_operation=seen.append)
    assert result.error is None, result.error
    assert result.outputs["fromNested"]["value"] == "inner.azure-devices.net"
    assert rid(HUB, "inner") in result.output_resources
    nested_id = rid("Microsoft.Resources/deployments", "nested")
    assert result.nested[nested_id].outputs["host"]["value"] == "inner.azure-devices.net"
    assert [(op.deployment_name, op.emulated) for op in seen] == [("nested", False), ("deploy1", True)]


def test_nested_outer_scope_uses_parent_parameters():
    inner = tpl([hub("[parameters('name')]")])
    template = tpl([_nested(None, inner)], parameters={"name": {"type": "string", "defaultValue": "outerhub"}})
    host, result = deploy(template)
    assert result.error is None
    assert host.puts() == [rid(HUB, "outerhub")]


def test_nested_deployment_into_other_group():
    host = FakeHost()
    host.add_group("rg1")
    host.add_group("other")
    inner = tpl([hub("x")], outputs={"rg": {"type": "string", "value": "[resourceGroup().name]"}})
    template = tpl([_nested("inner", inner, resourceGroup="other")],
                   outputs={"rg": {"type": "string", "value": "[reference('nested').outputs.rg.value]"}})
    host, result = deploy(template, host=host)
    assert result.error is None
    assert host.puts() == [f"/subscriptions/{SUB}/resourceGroups/other/providers/{HUB}/x"]
    assert result.outputs["rg"]["value"] == "other"


def test_subscription_scope_creates_group_then_deploys_into_it():
    host = FakeHost()
    inner = tpl([hub("subhub")])
    template = tpl([
        {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01", "name": "newrg",
         "location": "northeurope"},
        _nested("inner", inner, resourceGroup="newrg",
                dependsOn=["[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'newrg')]"]),
    ], outputs={"sub": {"type": "string", "value": "[subscription().subscriptionId]"}})
    result = run_deployment(template, {}, scope=scope_for(host, group=None, location="northeurope"), host=host)
    assert result.error is None, result.error
    assert host.puts() == [f"/subscriptions/{SUB}/resourceGroups/newrg",
                           f"/subscriptions/{SUB}/resourceGroups/newrg/providers/{HUB}/subhub"]
    assert host.resource_group(SUB, "newrg")["location"] == "northeurope"


def test_nested_failure_propagates():
    host = FakeHost()
    host.fail_on[HUB.lower()] = ResourceWriteError("InvalidSku", "bad sku", 400)
    inner = tpl([hub("x")])
    _, result = deploy(tpl([_nested("inner", inner)]), host=host)
    assert result.provisioning_state == "Failed"
    detail = result.error["details"][0]
    assert detail["target"] == rid("Microsoft.Resources/deployments", "nested")
    assert detail["code"] == "DeploymentFailed"
    assert detail["details"][0]["code"] == "InvalidSku"


# --------------------------------------------------------------------------- modes and failures


def test_complete_mode_deletes_resources_not_in_template():
    host = FakeHost()
    host.add_group("rg1")
    host.add_resource(rid(HUB, "old"), {"location": "westus"})
    host.add_resource(rid(HUB, "keep"), {"location": "westus"})
    host.add_resource(rid(HUB, "keep/certificates/c1"), {})
    host.add_resource(rid(HUB, "gone"), {"location": "westus"})
    template = tpl([hub("keep"), hub("gone", condition="[false()]")])
    result = run_deployment(template, {}, scope=scope_for(host), host=host, mode="Complete")
    assert result.error is None
    deleted = sorted(op.resource_id for op in result.operations if op.provisioning_operation == "Delete")
    assert deleted == [rid(HUB, "gone"), rid(HUB, "old")]
    assert rid(HUB, "keep/certificates/c1").lower() in host.resources
    _, incremental = deploy(tpl([hub("keep")]), host=host)
    assert all(op.provisioning_operation == "Create" for op in incremental.operations)


def test_complete_mode_rejected_at_subscription_scope():
    host = FakeHost()
    with pytest.raises(TemplateError, match="Complete mode"):
        run_deployment(tpl(), {}, scope=scope_for(host, group=None), host=host, mode="Complete")


def test_host_failure_reported_as_deployment_failed():
    host = FakeHost()
    host.fail_on[rid(HUB, "b").lower()] = ResourceWriteError("Conflict", "name taken", 409)
    ops = []
    _, result = deploy(tpl([hub("a"), hub("b", dependsOn=["a"]), hub("c", dependsOn=["b"])]), host=host,
                       on_operation=ops.append)
    assert result.provisioning_state == "Failed"
    assert result.error["code"] == "DeploymentFailed"
    assert result.error["message"].startswith("At least one resource deployment operation failed.")
    assert result.error["details"] == [{"code": "Conflict", "message": "name taken", "target": rid(HUB, "b")}]
    assert [(op.resource_id, op.provisioning_state, op.status_code) for op in result.operations] == [
        (rid(HUB, "a"), "Succeeded", "Created"), (rid(HUB, "b"), "Failed", "Conflict")]
    assert ops == result.operations
    assert result.output_resources == [rid(HUB, "a")]


def test_reference_to_missing_resource_fails_that_resource():
    template = tpl([hub("a"), hub("b", properties={
        "x": f"[reference(resourceId('{HUB}', 'nothere'), '2021-07-02').hostName]"})])
    host, result = deploy(template)
    assert result.provisioning_state == "Failed"
    detail = result.error["details"][0]
    assert detail["code"] == "ResourceNotFound" and detail["target"] == rid(HUB, "b")
    assert "Microsoft.Devices/IotHubs/nothere" in detail["message"]
    assert host.puts() == [rid(HUB, "a")]


def test_redeploy_reports_ok_instead_of_created():
    host, _ = deploy(tpl([hub("a")]))
    _, again = deploy(tpl([hub("a")]), host=host)
    assert again.operations[0].status_code == "OK"


def test_null_properties_are_dropped_from_bodies():
    host, _ = deploy(tpl([hub("a", properties={"x": "[json('null')]", "y": {"z": "[null()]"}, "w": 1})]))
    assert host.resources[rid(HUB, "a").lower()]["properties"] == {
        "y": {}, "w": 1, "hostName": "a.azure-devices.net", "state": "Active", "provisioningState": "Succeeded"}


def test_validate_reports_resources_and_dependencies():
    template = tpl([hub("a"), hub("b", dependsOn=["a"])])
    result = validate(template)
    assert result.validated_resources == [rid(HUB, "a"), rid(HUB, "b")]
    assert result.dependencies == [{"id": rid(HUB, "b"), "resourceType": HUB, "resourceName": "b",
                                    "dependsOn": [{"id": rid(HUB, "a"), "resourceType": HUB, "resourceName": "a"}]}]


def test_missing_resource_group():
    host = FakeHost()
    from provider.templates import DeploymentScope

    with pytest.raises(TemplateError) as info:
        validate_template(tpl([hub("a")]), {}, scope=DeploymentScope(SUB, "nogroup"), host=host)
    assert info.value.code == "ResourceGroupNotFound"


def test_template_is_not_mutated():
    template = tpl([hub("[concat('h', copyIndex())]", copy={"name": "l", "count": 2})],
                   variables={"copy": [{"name": "v", "count": 1, "input": "x"}]})
    before = copy.deepcopy(template)
    deploy(template)
    assert template == before


def test_bad_language_version_and_literal_type():
    assert "language version" in error_of(tpl(languageVersion="9.9")).message
    err = error_of(tpl([{"type": "[concat('a')]", "apiVersion": "1", "name": "x"}]))
    assert "must be a literal" in err.message


def test_bicep_style_module_with_symbolic_dependencies():
    module_template = tpl(
        languageVersion="2.0",
        parameters={"hubName": {"type": "string"}, "tags": {"type": "object", "nullable": True}},
        resources={"hub": hub("[parameters('hubName')]", tags="[coalesce(parameters('tags'), createObject())]")},
        outputs={"hubId": {"type": "string", "value": f"[resourceId('{HUB}', parameters('hubName'))]"},
                 "host": {"type": "string", "value": "[reference('hub').hostName]"}},
    )
    template = tpl(
        languageVersion="2.0",
        parameters={"enableTelemetry": {"type": "bool", "defaultValue": False},
                    "name": {"type": "string", "defaultValue": "modhub",
                             "metadata": {"description": "[Optional] the hub name"}}},
        resources={
            "telemetry": {"condition": "[parameters('enableTelemetry')]", "type": "Microsoft.Resources/deployments",
                          "apiVersion": "2022-09-01",
                          "name": "[format('46d3xbcp.res.x.{0}.{1}', replace('0.3.0', '.', '-'), "
                                  "substring(uniqueString(deployment().name), 0, 4))]",
                          "properties": {"mode": "Incremental", "template": tpl()}},
            "mod": {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01",
                    "name": "[format('mod-{0}', uniqueString(deployment().name))]",
                    "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "mode": "Incremental",
                                   "parameters": {"hubName": {"value": "[parameters('name')]"}},
                                   "template": module_template}},
            "consumer": {"type": "Microsoft.Devices/provisioningServices", "apiVersion": "2022-02-05",
                         "name": "dps", "location": "westus",
                         "properties": {"linkedHub": "[reference('mod').outputs.hubId.value]",
                                        "host": "[tryGet(reference('mod').outputs, 'host', 'value')]"}},
        },
        outputs={"host": {"type": "string", "value": "[reference('mod').outputs.host.value]"}},
    )
    host, result = deploy(template)
    assert result.error is None, result.error
    assert host.puts() == [rid(HUB, "modhub"), rid("Microsoft.Devices/provisioningServices", "dps")]
    dps = host.resources[rid("Microsoft.Devices/provisioningServices", "dps").lower()]["properties"]
    assert dps["linkedHub"] == rid(HUB, "modhub") and dps["host"] == "modhub.azure-devices.net"
    assert result.outputs["host"]["value"] == "modhub.azure-devices.net"
    mod = result.plan.resource("mod")
    assert mod.nested is not None and mod.nested.resources[0].resource_id == rid(HUB, "modhub")
    assert result.plan.resource("telemetry").condition is False


def test_outer_nested_template_references_parent_resource():
    inner = tpl([{"type": "Microsoft.Devices/provisioningServices", "apiVersion": "2022-02-05", "name": "dps",
                  "location": "westus", "properties": {"hubHost": "[reference('parenthub').hostName]"}}])
    template = tpl([_nested("outer", inner), hub("parenthub")])
    host, result = deploy(template)
    assert result.error is None, result.error
    assert host.puts() == [rid(HUB, "parenthub"), rid("Microsoft.Devices/provisioningServices", "dps")]
    body = host.resources[rid("Microsoft.Devices/provisioningServices", "dps").lower()]
    assert body["properties"]["hubHost"] == "parenthub.azure-devices.net"


def test_escaped_brackets_in_resource_bodies():
    host, _ = deploy(tpl([hub("a", properties={"literal": "[[not an expression]", "braces": "{0}/{1}"})]))
    props = host.resources[rid(HUB, "a").lower()]["properties"]
    assert props["literal"] == "[not an expression]" and props["braces"] == "{0}/{1}"


def test_templates_link_needs_a_loader():
    template = tpl([{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "linked",
                     "properties": {"mode": "Incremental", "templateLink": {"uri": "https://example.invalid/t.json"}}}])
    assert error_of(template).code == "InvalidContentLink"
    from provider.templates import EngineOptions

    options = EngineOptions(template_loader=lambda link, parent: tpl([hub("fromlink")]))
    host, result = deploy(template, options=options)
    assert result.error is None and host.puts() == [rid(HUB, "fromlink")]


def test_implicit_dependencies_through_variables_and_lambdas():
    template = tpl([hub("b", properties={"x": "[variables('v')]"}), hub("a")],
                   variables={"v": "[reference('a').hostName]"})
    host, result = deploy(template)
    assert [p.rsplit("/", 1)[-1] for p in host.puts()] == ["a", "b"]
    assert host.resources[rid(HUB, "b").lower()]["properties"]["x"] == "a.azure-devices.net"

    template = tpl(languageVersion="2.0", resources={
        "b": hub("b", properties={"x": "[map(range(0, 2), lambda('i', reference(format('hubs[{0}]', "
                                        "lambdaVariables('i'))).hostName))]"}),
        "hubs": hub("[format('h{0}', copyIndex())]", copy={"name": "hubs", "count": 2}),
    })
    host, result = deploy(template)
    assert result.error is None
    assert [p.rsplit("/", 1)[-1] for p in host.puts()] == ["h0", "h1", "b"]
    assert host.resources[rid(HUB, "b").lower()]["properties"]["x"] == ["h0.azure-devices.net",
                                                                       "h1.azure-devices.net"]


def test_reference_in_a_name_is_rejected_even_through_a_variable():
    template = tpl([hub("a"), hub("[variables('v')]")], variables={"v": "[reference('a').hostName]"})
    assert "'reference' is not expected" in error_of(template).message


def test_secure_values_are_masked_in_plans_and_operation_records():
    template = tpl([hub("a", properties={"password": "[parameters('pwd')]",
                                         "conn": "[concat('key=', parameters('pwd'), ';')]"})],
                   parameters={"pwd": {"type": "securestring"}})
    host, result = deploy(template, {"pwd": {"value": "s3cr3t-value"}})
    assert host.resources[rid(HUB, "a").lower()]["properties"]["password"] == "s3cr3t-value"  # the RP gets it
    assert "s3cr3t-value" not in repr(result.operations) and "s3cr3t-value" not in repr(result.plan)
    assert result.operations[0].request["properties"]["conn"] == "key=***;"


def test_module_scoped_to_the_subscription_from_a_group_deployment():
    inner = tpl([{"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01", "name": "made",
                  "location": "westus"}],
                outputs={"scope": {"type": "string", "value": "[resourceId('Microsoft.Authorization/locks', 'x')]"}})
    template = tpl([_nested("inner", inner, subscriptionId="[subscription().subscriptionId]", location="westus")],
                   outputs={"scope": {"type": "string", "value": "[reference('nested').outputs.scope.value]"}})
    host, result = deploy(template)
    assert result.error is None, result.error
    assert host.puts() == [f"/subscriptions/{SUB}/resourceGroups/made"]
    assert result.plan.resources[0].resource_id == f"/subscriptions/{SUB}/providers/Microsoft.Resources/" \
                                                   "deployments/nested"
    assert result.outputs["scope"]["value"] == f"/subscriptions/{SUB}/providers/Microsoft.Authorization/locks/x"


def _avm_style_template() -> dict:
    """The shapes Bicep emits for a verified module: typed nullable params, telemetry, lock, role loop, child module."""
    ra = "coalesce(parameters('roleAssignments'), createArray())[copyIndex()]"
    uami = "Microsoft.ManagedIdentity/userAssignedIdentities"
    child = tpl(
        parameters={"identityName": {"type": "string"}, "name": {"type": "string"},
                    "audiences": {"type": "array"}},
        resources=[{"type": f"{uami}/federatedIdentityCredentials", "apiVersion": "2023-01-31",
                    "name": "[format('{0}/{1}', parameters('identityName'), parameters('name'))]",
                    "properties": {"audiences": "[parameters('audiences')]"}}],
        outputs={"resourceId": {"type": "string", "value": f"[resourceId('{uami}/federatedIdentityCredentials', "
                                                            "parameters('identityName'), parameters('name'))]"}},
    )
    return tpl(
        languageVersion="2.0",
        definitions={
            "lockType": {"type": "object", "nullable": True, "properties": {
                "name": {"type": "string", "nullable": True},
                "kind": {"type": "string", "nullable": True, "allowedValues": ["CanNotDelete", "None", "ReadOnly"]}}},
            "roleAssignmentType": {"type": "array", "nullable": True, "items": {"type": "object", "properties": {
                "roleDefinitionIdOrName": {"type": "string"}, "principalId": {"type": "string"},
                "principalType": {"type": "string", "nullable": True}}}},
        },
        parameters={
            "name": {"type": "string"},
            "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
            "lock": {"$ref": "#/definitions/lockType", "metadata": {"description": "Optional. [lock]"}},
            "roleAssignments": {"$ref": "#/definitions/roleAssignmentType"},
            "tags": {"type": "object", "nullable": True},
            "federated": {"type": "array", "defaultValue": []},
            "enableTelemetry": {"type": "bool", "defaultValue": True},
        },
        variables={"builtInRoleNames": {
            "Reader": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                      "'acdd72a7-3385-48ef-bd42-f606fba81ae7')]"}},
        resources={
            "avmTelemetry": {"condition": "[parameters('enableTelemetry')]",
                             "type": "Microsoft.Resources/deployments", "apiVersion": "2023-07-01",
                             "name": "[format('46d3xbcp.res.mi.{0}.{1}', replace('0.2.1', '.', '-'), "
                                     "substring(uniqueString(deployment().name, parameters('location')), 0, 4))]",
                             "properties": {"mode": "Incremental", "template": tpl(
                                 outputs={"telemetry": {"type": "String", "value": "see docs"}})}},
            "identity": {"type": uami, "apiVersion": "2023-01-31", "name": "[parameters('name')]",
                         "location": "[parameters('location')]", "tags": "[parameters('tags')]"},
            "identity_lock": {
                "condition": "[and(not(empty(coalesce(parameters('lock'), createObject()))), "
                             "not(equals(tryGet(parameters('lock'), 'kind'), 'None')))]",
                "type": "Microsoft.Authorization/locks", "apiVersion": "2020-05-01",
                "scope": f"[format('{uami}/{{0}}', parameters('name'))]",
                "name": "[coalesce(tryGet(parameters('lock'), 'name'), format('lock-{0}', parameters('name')))]",
                "properties": {"level": "[coalesce(tryGet(parameters('lock'), 'kind'), '')]"},
                "dependsOn": ["identity"]},
            "identity_roleAssignments": {
                "copy": {"name": "identity_roleAssignments",
                         "count": "[length(coalesce(parameters('roleAssignments'), createArray()))]"},
                "type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
                "scope": f"[format('{uami}/{{0}}', parameters('name'))]",
                "name": f"[guid(resourceId('{uami}', parameters('name')), {ra}.principalId, "
                        f"{ra}.roleDefinitionIdOrName)]",
                "properties": {
                    "roleDefinitionId": f"[if(contains(variables('builtInRoleNames'), {ra}.roleDefinitionIdOrName), "
                                        f"variables('builtInRoleNames')[{ra}.roleDefinitionIdOrName], "
                                        f"{ra}.roleDefinitionIdOrName)]",
                    "principalId": f"[{ra}.principalId]",
                    "principalType": f"[tryGet({ra}, 'principalType')]"},
                "dependsOn": ["identity"]},
            "identity_federated": {
                "copy": {"name": "identity_federated", "count": "[length(parameters('federated'))]"},
                "type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01",
                "name": "[format('{0}-fic-{1}', uniqueString(deployment().name, parameters('location')), "
                        "copyIndex())]",
                "properties": {"expressionEvaluationOptions": {"scope": "inner"}, "mode": "Incremental",
                               "parameters": {
                                   "name": {"value": "[parameters('federated')[copyIndex()].name]"},
                                   "identityName": {"value": "[parameters('name')]"},
                                   "audiences": {"value": "[parameters('federated')[copyIndex()].audiences]"}},
                               "template": child},
                "dependsOn": ["identity"]},
        },
        outputs={
            "principalId": {"type": "string", "value": "[reference('identity').principalId]"},
            "location": {"type": "string", "value": "[reference('identity', '2023-01-31', 'full').location]"},
            "ficIds": {"type": "array", "value": "[map(references('identity_federated'), "
                                                 "lambda('d', lambdaVariables('d').outputs.resourceId.value))]"},
        },
    )


def test_avm_style_module_deploys_with_defaults_and_with_options():
    uami = "Microsoft.ManagedIdentity/userAssignedIdentities"
    host, result = deploy(_avm_style_template(), {"name": {"value": "id1"}, "enableTelemetry": {"value": False}})
    assert result.error is None, result.error
    assert host.puts() == [rid(uami, "id1")]
    assert result.outputs["ficIds"]["value"] == [] and result.outputs["location"]["value"] == "westus"
    params = {
        "name": {"value": "id2"},
        "lock": {"value": {"kind": "CanNotDelete"}},
        "roleAssignments": {"value": [{"roleDefinitionIdOrName": "Reader", "principalId": "p1"}]},
        "federated": {"value": [{"name": "gh", "audiences": ["api://AzureADTokenExchange"]}]},
    }
    host, result = deploy(_avm_style_template(), params)
    assert result.error is None, result.error
    puts = host.puts()
    assert puts[0] == rid(uami, "id2")
    assert rid(uami, "id2") + "/providers/Microsoft.Authorization/locks/lock-id2" in puts
    role = next(p for p in puts if "/roleAssignments/" in p)
    assert host.resources[role.lower()]["properties"]["roleDefinitionId"].endswith(
        "/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7")
    assert result.outputs["ficIds"]["value"] == [rid(uami, "id2/federatedIdentityCredentials/gh")]
    bad = dict(params, lock={"value": {"kind": "Sometimes"}})
    assert "allowed value" in error_of(_avm_style_template(), bad).message
