"""ARM behaviour of user-assigned managed identities and role assignments, over real HTTP."""

from __future__ import annotations

import uuid

from tests.support.arm_helpers import (
    ADR_CONTRIBUTOR,
    CONTRIBUTOR,
    IOTHUB_APP,
    MSI_API,
    NS_API,
    RA_API,
    SUB,
    assert_error,
    full_id,
    ns_path,
    uami_path,
)


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
