"""`Microsoft.ManagedIdentity/userAssignedIdentities`, and the `identity` block of other resources.

A user-assigned identity is a tracked resource whose `properties` are read-only: a `principalId`
and `clientId` generated once (kept across PUT replace, as Entra keeps the service principal) and
the emulator's tenant. The emulator has no directory: the ids are only names that role
assignments and linked resources refer to.

`resource_identity` builds the `identity` block of IoT hubs and DPS instances the way ARM does:
a SystemAssigned identity gets a stable generated principal, every user-assigned entry must name
an identity that exists and is echoed with its `principalId` and `clientId`.
"""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import fields, validate

from provider import api_versions
from provider.arm.context import RequestContext
from provider.arm.errors import ArmError, invalid_content
from provider.arm.ids import try_parse_resource_id
from provider.arm.resource_type import LroSpec, NameRule, ResourceType, register
from provider.arm.schemas import BaseSchema, Tags, TrackedBody

IDENTITY_API_VERSIONS = api_versions.USER_ASSIGNED_IDENTITIES
IDENTITY_TYPE = "Microsoft.ManagedIdentity/userAssignedIdentities"


class IdentityProperties(BaseSchema):
    isolationScope = fields.String(validate=validate.OneOf(["None", "Regional"]))


class IdentityBody(TrackedBody):
    properties = fields.Nested(IdentityProperties)


class IdentityUpdate(BaseSchema):
    tags = Tags()
    properties = fields.Nested(IdentityProperties)


@register
class UserAssignedIdentities(ResourceType):
    namespace = "Microsoft.ManagedIdentity"
    type_path = ("userAssignedIdentities",)
    api_versions = IDENTITY_API_VERSIONS
    list_at_subscription = True
    lro = LroSpec(put=False, patch=False, delete=False)  # the MSI RP answers every write synchronously
    name_rule = NameRule(r"^[A-Za-z0-9][A-Za-z0-9_-]*$", 3, 128,
                         "Use letters, digits, '-' and '_', starting with a letter or digit.")
    put_schema = IdentityBody
    patch_schema = IdentityUpdate
    description = "A user-assigned managed identity."

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        previous = (existing or {}).get("properties") or {}
        props = doc["properties"]
        props["tenantId"] = ctx.config.tenant_id
        props["principalId"] = previous.get("principalId") or str(uuid.uuid4())
        props["clientId"] = previous.get("clientId") or str(uuid.uuid4())

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        """Only tags and `isolationScope` change; the generated ids stay."""

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        doc.get("properties", {}).pop("provisioningState", None)  # the MSI RP reports none
        return doc


def attached_identity_ids(doc: dict[str, Any]) -> list[str]:
    """The user-assigned identity ids attached to a resource's `identity` block."""
    return list(((doc.get("identity") or {}).get("userAssignedIdentities") or {}).keys())


def is_attached(doc: dict[str, Any], identity_id: str) -> bool:
    wanted = identity_id.rstrip("/").lower()
    return any(i.rstrip("/").lower() == wanted for i in attached_identity_ids(doc))


def has_system_identity(doc: dict[str, Any]) -> bool:
    return "systemassigned" in ((doc.get("identity") or {}).get("type") or "").replace(" ", "").lower()


def resource_identity(ctx: RequestContext, requested: dict[str, Any] | None, existing: dict[str, Any] | None,
                      target: str = "identity") -> dict[str, Any] | None:
    """The stored `identity` block for a resource from the requested one (None: no identity)."""
    if not requested or requested.get("type") == "None":
        return None
    kind = requested["type"]
    normalized = kind.replace(" ", "").lower()
    previous = (existing or {}).get("identity") or {}
    out: dict[str, Any] = {"type": kind}
    if "systemassigned" in normalized:
        out["principalId"] = previous.get("principalId") or str(uuid.uuid4())
        out["tenantId"] = ctx.config.tenant_id
    requested_users = requested.get("userAssignedIdentities") or {}
    if "userassigned" in normalized:
        if not requested_users:
            raise invalid_content(
                f"The identity type '{kind}' requires at least one entry in 'userAssignedIdentities'.",
                target=f"{target}.userAssignedIdentities")
        users: dict[str, Any] = {}
        for identity_id in requested_users:
            rid = try_parse_resource_id(identity_id)
            if rid is None or rid.type_key != IDENTITY_TYPE.lower():
                raise invalid_content(f"'{identity_id}' is not the resource id of a user-assigned identity "
                                      f"({IDENTITY_TYPE}).", target=f"{target}.userAssignedIdentities")
            found = ctx.repo.get(rid.key)
            if found is None:
                raise ArmError(400, "FailedIdentityOperation",
                               f"The user-assigned identity '{identity_id}' was not found. Create it "
                               "before assigning it.", target=f"{target}.userAssignedIdentities")
            props = found.get("properties") or {}
            users[identity_id] = {"principalId": props.get("principalId"), "clientId": props.get("clientId")}
        out["userAssignedIdentities"] = users
    elif requested_users:
        raise invalid_content(f"'userAssignedIdentities' is only allowed when the identity type includes UserAssigned, "
                              f"not with '{kind}'.", target=f"{target}.userAssignedIdentities")
    return out


def apply_identity(ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
    """Resolve `doc["identity"]` in place (generated principals, attached user-assigned identities)."""
    identity = resource_identity(ctx, doc.get("identity"), existing)
    if identity is None:
        doc.pop("identity", None)
    else:
        doc["identity"] = identity
