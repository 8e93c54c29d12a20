"""`Microsoft.DeviceRegistry/namespaces`: the ADR namespace (tracked, system-assigned identity)."""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import fields, validate

from provider import api_versions
from provider.adr import ids
from provider.arm.context import RequestContext
from provider.arm.errors import invalid_content, linked_invalid_property_id
from provider.arm.ids import try_parse_resource_id
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


# ---- the GA namespace (2026-11-01 on): the namespace links its hubs and provisioning services ---------
class InboundCallerIdentity(BaseSchema):
    type = fields.String(required=True, validate=validate.OneOf(["SystemAssigned", "UserAssigned"]))
    userAssignedIdentity = fields.String()


class LinkedEndpoint(BaseSchema):
    endpointType = fields.String(required=True)
    resourceId = fields.String(required=True)
    inboundCallerIdentity = fields.Nested(InboundCallerIdentity, required=True)
    address = fields.String()


class LinkedEndpoints(BaseSchema):
    endpoints = fields.Dict(keys=fields.String(), values=fields.Nested(LinkedEndpoint))


class GaNamespaceProperties(BaseSchema):
    messaging = fields.Nested(LinkedEndpoints)
    provisioning = fields.Nested(LinkedEndpoints)


class GaNamespaceBody(TrackedBody):
    identity = fields.Nested(SystemAssignedIdentity)
    properties = fields.Nested(GaNamespaceProperties)


class GaNamespaceUpdate(BaseSchema):
    tags = Tags()
    identity = fields.Nested(SystemAssignedIdentity)
    properties = fields.Nested(GaNamespaceProperties)


LINKING_VERSIONS = api_versions.since(NAMESPACE_API_VERSIONS, "2026-11-01")
ENDPOINT_TYPES = {"messaging": "Microsoft.Devices/IotHubs", "provisioning": "Microsoft.Devices/provisioningServices"}


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

    def schema_for(self, method: str, api_version: str) -> type[BaseSchema] | None:
        if api_version in LINKING_VERSIONS:
            return GaNamespaceBody if method == "PUT" else GaNamespaceUpdate
        return NamespaceBody if method == "PUT" else NamespaceUpdate

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        props = doc["properties"]
        props["uuid"] = ((existing or {}).get("properties") or {}).get("uuid") or str(uuid.uuid4())
        if ctx.api_version in LINKING_VERSIONS:
            check_linked_endpoints(props)
        identity = system_identity(ctx, doc.get("identity"), existing)
        if identity is None:
            doc.pop("identity", None)
        else:
            doc["identity"] = identity

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        if "identity" in patch:
            doc["identity"] = system_identity(ctx, patch["identity"], doc)

    def after_write(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        ctx.emu.adr.sync_new_link(ctx, doc["id"])  # hubs its messaging endpoints name now trust its CAs

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        props = doc.get("properties") or {}
        if api_version and api_version not in LINKING_VERSIONS:
            # the preview shape: messaging endpoints {endpointType, address, resourceId}, no provisioning
            props.pop("provisioning", None)
            for endpoint in ((props.get("messaging") or {}).get("endpoints") or {}).values():
                endpoint.pop("inboundCallerIdentity", None)
                if not endpoint.get("address") and ctx is not None:
                    endpoint["address"] = ctx.emu.hub.host_name(str(endpoint.get("resourceId", "")).rsplit("/", 1)[-1])
            return doc
        for section in ENDPOINT_TYPES:
            for endpoint in ((props.get(section) or {}).get("endpoints") or {}).values():
                linked = ctx is not None and ctx.repo.exists(endpoint.get("resourceId", "").lower())
                endpoint["linkingState"] = "Succeeded" if linked else "Failed"
                if not linked:
                    endpoint["linkingError"] = {
                        "code": "LinkedResourceNotFound",
                        "message": f"The resource '{endpoint.get('resourceId')}' does not exist; create it, then "
                                   "resubmit the namespace."}
        return doc


def check_linked_endpoints(props: dict[str, Any]) -> None:
    """`messaging.endpoints` name hubs and `provisioning.endpoints` provisioning services, by id."""
    for section, endpoint_type in ENDPOINT_TYPES.items():
        for name, endpoint in ((props.get(section) or {}).get("endpoints") or {}).items():
            target = f"properties.{section}.endpoints.{name}"
            if endpoint["endpointType"].lower() != endpoint_type.lower():
                raise invalid_content(f"{section} endpoints link resources of type '{endpoint_type}'.",
                                      target=f"{target}.endpointType")
            rid = try_parse_resource_id(endpoint["resourceId"])
            if rid is None or rid.type_key != endpoint_type.lower():
                raise linked_invalid_property_id(f"'{endpoint['resourceId']}' is not the id of a {endpoint_type}.",
                                                 target=f"{target}.resourceId")
            endpoint["endpointType"] = endpoint_type
            identity = endpoint["inboundCallerIdentity"]
            if identity["type"] == "UserAssigned" and not identity.get("userAssignedIdentity"):
                raise invalid_content("A UserAssigned inboundCallerIdentity names its userAssignedIdentity.",
                                      target=f"{target}.inboundCallerIdentity.userAssignedIdentity")
