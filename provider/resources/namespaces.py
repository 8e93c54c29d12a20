"""`Microsoft.DeviceRegistry/namespaces`: the ADR namespace (tracked, system-assigned identity)."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import fields

from provider import api_versions
from provider.adr import ids
from provider.arm.context import RequestContext
from provider.arm.resource_type import ResourceType, register
from provider.arm.schemas import BaseSchema, SystemAssignedIdentity, Tags, TrackedBody

NAMESPACE_API_VERSIONS = api_versions.DEVICE_REGISTRY_NAMESPACES


class MessagingEndpoint(BaseSchema):
    endpointType = fields.String()
    address = fields.String(required=True)
    resourceId = fields.String()


class Messaging(BaseSchema):
    endpoints = fields.Dict(keys=fields.String(), values=fields.Nested(MessagingEndpoint))


class NamespaceProperties(BaseSchema):
    messaging = fields.Nested(Messaging)


class NamespaceBody(TrackedBody):
    identity = fields.Nested(SystemAssignedIdentity)
    properties = fields.Nested(NamespaceProperties)


class NamespaceUpdate(BaseSchema):
    tags = Tags()
    identity = fields.Nested(SystemAssignedIdentity)
    properties = fields.Nested(NamespaceProperties)


def system_identity(ctx: RequestContext, requested: dict[str, Any] | None,
                    existing: dict[str, Any] | None) -> dict[str, Any] | None:
    """A SystemAssigned identity gets a stable generated principal; `None` drops it."""
    if not requested or requested.get("type") == "None":
        return {"type": "None"} if requested else None
    previous = (existing or {}).get("identity") or {}
    return {
        "type": requested["type"],
        "principalId": previous.get("principalId") or str(uuid.uuid4()),
        "tenantId": ctx.config.tenant_id,
    }


@register
class Namespaces(ResourceType):
    namespace = "Microsoft.DeviceRegistry"
    type_path = ("namespaces",)
    api_versions = NAMESPACE_API_VERSIONS
    list_at_subscription = True
    name_rule = ids.NAMESPACE_NAME_RULE
    put_schema = NamespaceBody
    patch_schema = NamespaceUpdate
    patchable_envelope = ("tags", "identity")
    description = "An Azure Device Registry namespace."

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        props = doc["properties"]
        props["uuid"] = ((existing or {}).get("properties") or {}).get("uuid") or str(uuid.uuid4())
        identity = system_identity(ctx, doc.get("identity"), existing)
        if identity is None:
            doc.pop("identity", None)
        else:
            doc["identity"] = identity

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        if "identity" in patch:
            doc["identity"] = system_identity(ctx, patch["identity"], doc)
