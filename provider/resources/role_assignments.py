"""`Microsoft.Authorization/roleAssignments`: an extension resource on any scope.

Role assignments are **stored and listed, not enforced**: the emulator authorizes every caller
for everything, whatever assignments exist. They are kept so that setup scripts and templates
that create them (adr-howto §4.2-4.4) run unchanged, and so that tests can check that the right
assignments were made. The emulator has no directory either, so `principalId` and
`roleDefinitionId` are checked for shape only.

What is checked, as ARM does: the name is a GUID; the scope (subscription, group or resource)
exists; `roleDefinitionId` names a role definition; an assignment cannot be changed in place to
another principal, role or scope (409 `RoleAssignmentUpdateNotPermitted`); and the same
principal cannot hold the same role at the same scope twice under different names (409
`RoleAssignmentExists`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from marshmallow import fields, validate

from provider import api_versions
from provider.arm.context import RequestContext
from provider.arm.errors import ArmError, method_not_allowed
from provider.arm.resource_type import LroSpec, NameRule, ResourceType, register
from provider.arm.schemas import BaseSchema

ROLE_ASSIGNMENT_API_VERSIONS = api_versions.ROLE_ASSIGNMENTS
ROLE_ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"
_GUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_ROLE_DEFINITION_ID = re.compile(
    rf"^(/subscriptions/[^/]+(/resourceGroups/[^/]+)?)?/providers/Microsoft\.Authorization/roleDefinitions/({_GUID})$",
    re.IGNORECASE)
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal", "ForeignGroup", "Device")


@dataclass(frozen=True)
class GuidNameRule(NameRule):
    """Role assignment names are GUIDs; ARM answers `InvalidRoleAssignmentId` otherwise."""

    def check(self, name: str, type_name: str) -> None:
        if not re.fullmatch(_GUID, name):
            raise ArmError(400, "InvalidRoleAssignmentId",
                           f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
                           target="name")


class RoleAssignmentProperties(BaseSchema):
    roleDefinitionId = fields.String(required=True, validate=validate.Length(min=1))
    principalId = fields.String(required=True, validate=validate.Regexp(rf"^{_GUID}$",
                                                                        error="The principalId must be a GUID."))
    principalType = fields.String(validate=validate.OneOf(PRINCIPAL_TYPES))
    description = fields.String(allow_none=True)
    condition = fields.String(allow_none=True)
    conditionVersion = fields.String(allow_none=True, validate=validate.OneOf(["1.0", "2.0"]))
    delegatedManagedIdentityResourceId = fields.String(allow_none=True)
    canDelegate = fields.Boolean()  # 2015-07-01 .. 2018-09-01-preview


class RoleAssignmentBody(BaseSchema):
    properties = fields.Nested(RoleAssignmentProperties, required=True)


def role_definition_guid(role_definition_id: str) -> str | None:
    match = _ROLE_DEFINITION_ID.match(role_definition_id.strip())
    return match.group(3).lower() if match else None


def scope_of(doc: dict[str, Any]) -> str:
    """The scope id of a role assignment: its id up to the last `/providers/`."""
    rid = doc["id"]
    return rid[: rid.lower().rindex("/providers/")]


@register
class RoleAssignments(ResourceType):
    namespace = "Microsoft.Authorization"
    type_path = ("roleAssignments",)
    api_versions = ROLE_ASSIGNMENT_API_VERSIONS
    tracked = False
    extension = True
    list_at_subscription = True
    lro = LroSpec(put=False, patch=False, delete=False)
    name_rule = GuidNameRule()
    put_schema = RoleAssignmentBody
    patch_schema = None
    envelope_fields = ()
    description = "A role assignment (stored, not enforced)."

    def list_filter(self, ctx: RequestContext, doc: dict[str, Any], scope_group: str | None) -> bool:
        """ARM's listing at a scope: assignments at, above and below it; `$filter=atScope()` keeps those at
        and above; `principalId eq '...'` (or `assignedTo('...')`) keeps one principal's."""
        scope = (ctx.list_scope or "").lower().rstrip("/")
        own = str((doc.get("properties") or {}).get("scope", "")).lower().rstrip("/")
        above = scope == own or scope.startswith(own + "/")
        below = own.startswith(scope + "/")
        text = (ctx.list_filter or "").strip()
        if not (above or (below and "atscope()" not in text.lower())):
            return False
        principal = re.search(r"(?:principalId\s+eq\s+|assignedTo\()\s*'([^']+)'", text, re.IGNORECASE)
        return principal is None or (doc.get("properties") or {}).get("principalId", "").lower() == \
            principal.group(1).lower()

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        props = doc["properties"]
        role_guid = role_definition_guid(props["roleDefinitionId"])
        if role_guid is None:
            raise ArmError(400, "InvalidRoleDefinitionId",
                           f"The role definition ID '{props['roleDefinitionId']}' is not valid. Use "
                           "'/subscriptions/{subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/{guid}'.",
                           target="properties.roleDefinitionId")
        assert ctx.rid is not None
        scope = ctx.rid.scope
        if existing is not None:
            old = existing.get("properties") or {}
            if (role_definition_guid(old.get("roleDefinitionId", "")) != role_guid
                    or old.get("principalId", "").lower() != props["principalId"].lower()):
                raise ArmError(409, "RoleAssignmentUpdateNotPermitted",
                               "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
        for other in ctx.repo.of_type(ROLE_ASSIGNMENT_TYPE):
            if other["id"].lower() == doc["id"].lower():
                continue
            other_props = other.get("properties") or {}
            if (scope_of(other).lower() == scope.lower()
                    and other_props.get("principalId", "").lower() == props["principalId"].lower()
                    and role_definition_guid(other_props.get("roleDefinitionId", "")) == role_guid):
                raise ArmError(409, "RoleAssignmentExists",
                               f"The role assignment already exists (as '{other['id']}').")
        props["scope"] = scope
        if not props.get("principalType"):
            props["principalType"] = "ServicePrincipal" if is_known_service_principal(ctx, props["principalId"]) \
                else "User"
        now = ctx.timestamp()
        props["createdOn"] = ((existing or {}).get("properties") or {}).get("createdOn", now)
        props["updatedOn"] = now
        props["createdBy"] = ((existing or {}).get("properties") or {}).get("createdBy", ctx.caller)
        props["updatedBy"] = ctx.caller

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        raise method_not_allowed("Role assignments cannot be updated with PATCH; PUT them again.",
                                 headers={"Allow": "GET, PUT, DELETE"})

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        doc.get("properties", {}).pop("provisioningState", None)  # the authorization RP reports none
        return doc


def is_known_service_principal(ctx: RequestContext, principal_id: str) -> bool:
    """True when a managed identity in the emulator (user- or system-assigned) has this principal id."""
    row = ctx.emu.store.query_one(
        "SELECT 1 AS x FROM resources WHERE type != ? AND instr(lower(body), ?) > 0",
        (ROLE_ASSIGNMENT_TYPE.lower(), principal_id.lower()))
    return row is not None


