"""`Microsoft.DeviceRegistry/namespaces/devices`: ADR device identities.

Each device carries a revocation identifier that the emulator embeds in every certificate it
issues to the device. `POST .../revoke` rotates it, so every earlier certificate stops matching
(the hub compares identifiers instead of checking CRLs), and optionally disables the device.
The identifier is internal state (`_revocationId`) and never appears in a response.
"""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import fields

from provider import api_versions
from provider.adr import ids
from provider.arm.context import RequestContext
from provider.arm.errors import invalid_content, linked_resource_not_found
from provider.arm.ids import same_id, try_parse_resource_id
from provider.arm.resource_type import Action, ResourceType, register
from provider.arm.schemas import BaseSchema, Tags, TrackedBody

DEVICE_API_VERSIONS = api_versions.DEVICE_REGISTRY_DEVICES
POLICY_VERSIONS = api_versions.DEVICE_REGISTRY_CREDENTIALS  # the versions whose devices carry `policy`


class ExtendedLocation(BaseSchema):
    type = fields.String(required=True)
    name = fields.String(required=True)


class DeviceCredentialPolicy(BaseSchema):
    resourceId = fields.String(required=True)


class Endpoints(BaseSchema):
    inbound = fields.Dict(keys=fields.String(), values=fields.Dict())
    outbound = fields.Dict()


class DeviceProperties(BaseSchema):
    enabled = fields.Boolean()
    externalDeviceId = fields.String()
    discoveredDeviceRef = fields.String()
    manufacturer = fields.String()
    model = fields.String()
    operatingSystem = fields.String()
    operatingSystemVersion = fields.String()
    endpoints = fields.Nested(Endpoints)
    attributes = fields.Dict()
    policy = fields.Nested(DeviceCredentialPolicy, allow_none=True)


class DeviceBody(TrackedBody):
    extendedLocation = fields.Nested(ExtendedLocation)
    properties = fields.Nested(DeviceProperties)


class PlainDeviceProperties(DeviceProperties):
    """A device at the versions without the preview credential model: no `policy` (GA 2026-11-01 drops it)."""

    class Meta(BaseSchema.Meta):
        exclude = ("policy",)


class PlainDeviceBody(DeviceBody):
    properties = fields.Nested(PlainDeviceProperties)


class DeviceUpdateProperties(BaseSchema):
    operatingSystemVersion = fields.String()
    endpoints = fields.Nested(Endpoints)
    attributes = fields.Dict()
    policy = fields.Nested(DeviceCredentialPolicy, allow_none=True)
    enabled = fields.Boolean()


class DeviceUpdate(BaseSchema):
    tags = Tags()
    properties = fields.Nested(DeviceUpdateProperties)


class PlainDeviceUpdateProperties(DeviceUpdateProperties):
    class Meta(BaseSchema.Meta):
        exclude = ("policy",)


class PlainDeviceUpdate(DeviceUpdate):
    properties = fields.Nested(PlainDeviceUpdateProperties)


class RevokeRequest(BaseSchema):
    disable = fields.Boolean()


CREATE_ONLY = ("externalDeviceId", "discoveredDeviceRef", "manufacturer", "model", "operatingSystem")


def check_policy_reference(ctx: RequestContext, device_id: str, policy: dict[str, Any] | None) -> None:
    """The policy must be a policy of the device's own namespace, and must exist."""
    if not policy:
        return
    target = "properties.policy.resourceId"
    rid = try_parse_resource_id(policy.get("resourceId", ""))
    if rid is None or rid.type_key not in (ids.POLICY_TYPE.lower(), ids.CERTIFICATE_POLICY_TYPE.lower()):
        raise invalid_content("properties.policy.resourceId must be the id of a "
                              "Microsoft.DeviceRegistry/namespaces/credentials/policies or .../certificateAuthorities/"
                              "certificatePolicies resource.", target=target)
    if not same_id(ids.namespace_of(rid.id), ids.namespace_of(device_id)):
        raise invalid_content("The policy must belong to the device's namespace.",
                              target=target)
    if not ctx.repo.exists(rid.key):
        raise linked_resource_not_found(f"The policy '{rid.id}' was not found.", target=target)


def revoke(ctx: RequestContext, doc: dict[str, Any], body: dict[str, Any] | None) -> tuple[int, Any]:
    """Rotate the revocation identifier (every earlier certificate stops matching); optionally disable."""
    doc["_revocationId"] = uuid.uuid4().hex
    if (body or {}).get("disable"):
        doc["properties"]["enabled"] = False
    doc["properties"]["version"] = int(doc["properties"].get("version", 1)) + 1
    ctx.repo.update_body(doc["id"], doc)
    policy_id = (doc["properties"].get("policy") or {}).get("resourceId")
    ctx.emu.pki.revoke_device_certificates(doc["name"],
                                           policy_owner=ctx.emu.adr.signing_owner(policy_id) if policy_id else None)
    ctx.emu.adr.device_revoked(doc)
    return 200, {"result": "Succeeded"}


@register
class NamespaceDevices(ResourceType):
    namespace = "Microsoft.DeviceRegistry"
    type_path = ("namespaces", "devices")
    api_versions = DEVICE_API_VERSIONS
    etag_in_body = True
    name_rule = ids.CHILD_NAME_RULE
    put_schema = DeviceBody
    patch_schema = DeviceUpdate
    actions = {"revoke": Action(revoke, schema=RevokeRequest, api_versions=("2026-03-01-preview",))}

    def schema_for(self, method: str, api_version: str) -> type[BaseSchema] | None:
        if api_version not in POLICY_VERSIONS:
            return PlainDeviceBody if method == "PUT" else PlainDeviceUpdate
        return self.put_schema if method == "PUT" else self.patch_schema
    description = "A device registered in an ADR namespace."

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        props = doc["properties"]
        old = (existing or {}).get("properties") or {}
        if existing:
            for key in CREATE_ONLY:
                if key in old and key in props and props[key] != old[key]:
                    raise invalid_content(f"properties.{key} cannot be changed after creation.",
                                          target=f"properties.{key}")
                if key in old:
                    props[key] = old[key]
        if ctx.api_version not in POLICY_VERSIONS and old.get("policy"):
            props["policy"] = old["policy"]  # a version without the field cannot change the policy a device has
        check_policy_reference(ctx, doc["id"], props.get("policy"))
        props.setdefault("enabled", True)
        props["uuid"] = old.get("uuid") or str(uuid.uuid4())
        props["version"] = int(old.get("version", 0)) + 1
        props["lastTransitionTime"] = ctx.timestamp() if props["enabled"] != old.get("enabled") else \
            old.get("lastTransitionTime", ctx.timestamp())
        doc["_revocationId"] = (existing or {}).get("_revocationId") or uuid.uuid4().hex

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        props = doc["properties"]
        check_policy_reference(ctx, doc["id"], props.get("policy"))
        props["version"] = int(props.get("version", 1)) + 1

    def after_write(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        if existing and existing["properties"].get("enabled", True) and not doc["properties"].get("enabled", True):
            ctx.emu.adr.device_revoked(doc)

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        if api_version and api_version not in POLICY_VERSIONS:
            doc.get("properties", {}).pop("policy", None)  # the field exists in the preview credential versions only
        return doc
