"""Resource ids (provider/arm/ids.py): parsing, keys, parents and scopes, and how routing uses them."""

from __future__ import annotations

import pytest

from provider.arm.errors import ArmError
from provider.arm.ids import ResourceId, parse_resource_id, parse_scope, same_id, try_parse_resource_id
from tests.support.arm_helpers import NS_API, SUB

CERT = "/subscriptions/S/resourceGroups/G/providers/Microsoft.Devices/IotHubs/h/certificates/c"
ROLE = ("/subscriptions/S/resourceGroups/G/providers/Microsoft.DeviceRegistry/namespaces/ns"
        "/providers/Microsoft.Authorization/roleAssignments/ra")


def test_a_nested_id_parses_into_its_parts():
    rid = parse_resource_id(CERT)
    assert rid == ResourceId("S", "G", "Microsoft.Devices", ("IotHubs", "certificates"), ("h", "c"),
                             "/subscriptions/S/resourceGroups/G")
    assert rid.full_type == "Microsoft.Devices/IotHubs/certificates"
    assert rid.type_key == "microsoft.devices/iothubs/certificates"
    assert rid.name == "c"
    assert rid.id == CERT
    assert rid.key == CERT.lower()
    assert rid.parent == ResourceId("S", "G", "Microsoft.Devices", ("IotHubs",), ("h",),
                                    "/subscriptions/S/resourceGroups/G")
    assert rid.parent_key == "/subscriptions/s/resourcegroups/g/providers/microsoft.devices/iothubs/h"
    assert rid.parent.parent is None
    assert rid.child("x", "y").id == CERT + "/x/y"


def test_the_last_providers_segment_names_an_extension_resource():
    rid = parse_resource_id(ROLE)
    assert (rid.subscription, rid.resource_group, rid.namespace) == ("S", "G", "Microsoft.Authorization")
    assert (rid.types, rid.names) == (("roleAssignments",), ("ra",))
    assert rid.scope == "/subscriptions/S/resourceGroups/G/providers/Microsoft.DeviceRegistry/namespaces/ns"
    assert rid.parent is None
    assert rid.parent_key == rid.scope.lower()  # a top-level resource hangs off its scope
    assert rid.id == ROLE


def test_subscription_level_ids_and_sloppy_slashes():
    rid = parse_resource_id("/subscriptions/S/providers/Microsoft.Authorization/roleDefinitions/x")
    assert (rid.resource_group, rid.scope, rid.id) == (
        None, "/subscriptions/S", "/subscriptions/S/providers/Microsoft.Authorization/roleDefinitions/x")
    sloppy = parse_resource_id("  //subscriptions//S/resourceGroups/G/providers/Microsoft.Devices/IotHubs/h/  ")
    assert sloppy.id == "/subscriptions/S/resourceGroups/G/providers/Microsoft.Devices/IotHubs/h"


@pytest.mark.parametrize("bad", [
    "",
    "/subscriptions/S/resourceGroups/G",  # no provider segment
    "/subscriptions/S/resourceGroups/G/providers/Microsoft.Devices/IotHubs",  # a type without a name
    "/subscriptions/S/resourceGroups/G/providers/Microsoft.Devices/IotHubs/h/certificates",  # a collection
    "/tenants/t/providers/Microsoft.Devices/IotHubs/h",  # not under a subscription
])
def test_malformed_ids_are_400_invalid_resource_id(bad):
    with pytest.raises(ArmError) as caught:
        parse_resource_id(bad)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400, "InvalidResourceId", f"'{bad}' is not a valid resource id.")
    assert try_parse_resource_id(bad) is None


def test_scopes_and_id_comparison():
    assert parse_scope("/subscriptions/S") == ("S", None)
    assert parse_scope("/subscriptions/S/resourceGroups/G") == ("S", "G")
    assert parse_scope("/subscriptions/S/resourcegroups/G/providers/A/b/c") == ("S", "G")
    with pytest.raises(ArmError) as caught:
        parse_scope("/foo")
    assert caught.value.code == "InvalidResourceId"
    assert same_id("/subscriptions/S/x/", "/SUBSCRIPTIONS/s/X")
    assert same_id(None, "")
    assert not same_id("/subscriptions/S/x", "/subscriptions/S/y")


# ---- through the app ---------------------------------------------------------------------------------------
def test_the_stored_id_keeps_the_callers_casing_and_lookups_ignore_it(client, group):
    path = f"/subscriptions/{SUB}/resourceGroups/G/providers/microsoft.deviceregistry/NAMESPACES/ns-case"
    created = client.put(f"{path}?api-version={NS_API}", json={"location": "eastus"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.json["id"] == path
    assert created.json["name"] == "ns-case"
    assert created.json["type"] == "Microsoft.DeviceRegistry/namespaces"  # the registered casing, not the caller's
    got = client.get(f"{group}/providers/Microsoft.DeviceRegistry/namespaces/NS-CASE?api-version={NS_API}")
    assert got.status_code == 200 and got.json["id"] == path


def test_a_child_of_a_missing_parent_is_parent_resource_not_found(client, group):
    path = f"{group}/providers/Microsoft.Devices/IotHubs/nohub/certificates/c?api-version=2025-08-01-preview"
    r = client.put(path, json={"properties": {"certificate": "x"}})
    assert r.status_code == 404
    assert r.json == {"error": {"code": "ParentResourceNotFound", "message": (
        "Can not perform requested operation on nested resource. Parent resource 'nohub' of type "
        "'Microsoft.Devices/IotHubs' not found.")}}


def test_an_extension_resource_on_a_missing_scope_is_404_with_target_scope(client, group):
    scope = f"{group}/providers/Microsoft.DeviceRegistry/namespaces/no-such-ns"
    path = f"{scope}/providers/Microsoft.Authorization/roleAssignments/00000000-0000-0000-0000-000000000001"
    body = {"properties": {"principalId": "89d10474-74af-4874-99a7-c23c2f643083", "roleDefinitionId": (
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
        "b24988ac-6180-42a0-ab88-20f7382dd24c")}}
    r = client.put(f"{path}?api-version=2022-04-01", json=body)
    assert r.status_code == 404
    assert r.json == {"error": {"code": "ResourceNotFound", "target": "scope",
                                "message": f"The scope '{scope}' of this resource was not found."}}
