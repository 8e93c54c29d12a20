"""The GA Device Registry certificate model (api-version 2026-11-01 and newer).

`Microsoft.DeviceRegistry/namespaces/certificateAuthorities`: a `Root` (a new self-signed P-384
CA in the key store) or an `ICA` whose issuer is `Microsoft` (signed by a Root CA of the same
namespace named by `issuer.certificateAuthorityResourceId`) or `External` (the service makes a
key and a CSR, `status: PendingActivation`; `activate` with the signed chain checks it with the
Bring Your Own Root rules and makes it `Active`; activating again renews). `revokeAndRotate`
(Microsoft ICAs only) revokes the CA's certificate and issues a new one with a new key.

`.../certificateAuthorities/{ca}/certificatePolicies`: leaf validity (`certificate.validityPeriodInDays`);
the policy's devices are signed by its parent CA.

Both are ARM views over the Device Registry backend (`emu.adr`): which CA signs a policy's
devices, what is synced to linked hubs (automatically, after every CA or policy change: the GA
model has no sync operation) and the PKI view all live there.
"""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import fields, validate

from provider import api_versions
from provider.adr import ids
from provider.adr.errors import arm_error
from provider.arm.context import RequestContext
from provider.arm.errors import (
    conflict,
    invalid_content,
    linked_invalid_property_id,
    linked_resource_not_found,
    operation_not_allowed,
)
from provider.arm.ids import same_id, try_parse_resource_id
from provider.arm.resource_type import Action, ResourceType, register
from provider.arm.schemas import BaseSchema, TagsPatch, TrackedBody
from provider.pki.errors import PkiError

CA_API_VERSIONS = api_versions.DEVICE_REGISTRY_CERTIFICATE_AUTHORITIES
ROOT_VALIDITY_DAYS = 3650
ICA_VALIDITY_DAYS = 1825
MAX_LEAF_DAYS = 3650  # the spec declares no range; a leaf outliving the emulator's own CAs makes no sense


# ---- body schemas -----------------------------------------------------------------------------------
class Issuer(BaseSchema):
    issuerType = fields.String(required=True, validate=validate.OneOf(["Microsoft", "External"]))
    certificateAuthorityResourceId = fields.String()


class CertificateAuthorityProperties(BaseSchema):
    certificateAuthorityType = fields.String(required=True, validate=validate.OneOf(["Root", "ICA"]))
    keyType = fields.String(required=True, validate=validate.OneOf(["ECC"]))
    issuer = fields.Nested(Issuer)


class CertificateAuthorityBody(TrackedBody):
    properties = fields.Nested(CertificateAuthorityProperties, required=True)


class ActivateRequest(BaseSchema):
    certificateChain = fields.String(required=True, validate=validate.Length(min=1, max=256 * 1024))


class CertificateConfiguration(BaseSchema):
    validityPeriodInDays = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_LEAF_DAYS))


class CertificatePolicyProperties(BaseSchema):
    certificate = fields.Nested(CertificateConfiguration, required=True)


class CertificatePolicyBody(TrackedBody):
    properties = fields.Nested(CertificatePolicyProperties, required=True)


class CertificateConfigurationUpdate(BaseSchema):
    validityPeriodInDays = fields.Integer(strict=True, validate=validate.Range(1, MAX_LEAF_DAYS))


class CertificatePolicyUpdateProperties(BaseSchema):
    certificate = fields.Nested(CertificateConfigurationUpdate)


class CertificatePolicyUpdate(TagsPatch):
    properties = fields.Nested(CertificatePolicyUpdateProperties)


# ---- certificate authorities ------------------------------------------------------------------------
def _issuer_type(doc: dict[str, Any]) -> str | None:
    """`Microsoft` or `External` for an ICA; None for a Root."""
    props = doc["properties"]
    if props.get("certificateAuthorityType") != "ICA":
        return None
    return (props.get("issuer") or {}).get("issuerType")


def activate(ctx: RequestContext, doc: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    """Activate (or renew) an External ICA with the chain its issuer signed."""
    if _issuer_type(doc) != "External":
        raise operation_not_allowed("activate applies only to an ICA whose issuer is External.")
    try:
        ctx.emu.pki.activate_byor(doc["id"].lower(), body["certificateChain"])
    except PkiError as exc:
        raise arm_error(exc) from exc
    ctx.emu.adr.refresh_certificate_authority(ctx, doc)
    return 204, None


def revoke_and_rotate(ctx: RequestContext, doc: dict[str, Any], _body: Any) -> tuple[int, Any]:
    """New key and certificate for a Microsoft ICA; the old certificate is revoked, and hubs stop
    trusting it (and the device certificates it signed) with the sync that follows."""
    if _issuer_type(doc) != "Microsoft":
        raise operation_not_allowed("revokeAndRotate applies only to an ICA whose issuer is Microsoft.")
    try:
        ctx.emu.pki.rotate_issuing_ca(doc["id"].lower(), common_name=doc["name"])
    except PkiError as exc:
        raise arm_error(exc) from exc
    ctx.emu.adr.refresh_certificate_authority(ctx, doc)
    return 204, None


@register
class CertificateAuthorities(ResourceType):
    namespace = "Microsoft.DeviceRegistry"
    type_path = ("namespaces", "certificateAuthorities")
    api_versions = CA_API_VERSIONS
    name_rule = ids.CHILD_NAME_RULE
    put_schema = CertificateAuthorityBody
    patch_schema = TagsPatch
    actions = {
        "activate": Action(activate, schema=ActivateRequest, requires_body=True),
        "revokeAndRotate": Action(revoke_and_rotate),
    }
    description = "A certificate authority of a Device Registry namespace: a Root, or an ICA."

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        props = doc["properties"]
        old = (existing or {}).get("properties") or {}
        if existing is not None:
            for key in ("certificateAuthorityType", "keyType"):
                if props.get(key) != old.get(key):
                    raise invalid_content(f"{key} cannot be changed after the certificate authority is created.",
                                          target=f"properties.{key}")
            if (props.get("issuer") or {}).get("issuerType") != (old.get("issuer") or {}).get("issuerType"):
                raise invalid_content("issuer.issuerType cannot be changed after creation.",
                                      target="properties.issuer.issuerType")
        if props["certificateAuthorityType"] == "Root":
            if props.get("issuer"):
                raise invalid_content("A Root certificate authority has no issuer.", target="properties.issuer")
        else:
            props["issuer"] = self._check_issuer(ctx, doc, props.get("issuer"))
        props["uuid"] = old.get("uuid") or str(uuid.uuid4())

    @staticmethod
    def _check_issuer(ctx: RequestContext, doc: dict[str, Any], issuer: dict[str, Any] | None) -> dict[str, Any]:
        target = "properties.issuer"
        if not issuer:
            raise invalid_content("An ICA needs an issuer (issuerType Microsoft or External).", target=target)
        if issuer["issuerType"] == "External":
            if issuer.get("certificateAuthorityResourceId"):
                raise invalid_content("An External issuer names no certificateAuthorityResourceId.",
                                      target=f"{target}.certificateAuthorityResourceId")
            return {"issuerType": "External"}
        root_id = issuer.get("certificateAuthorityResourceId") or ""
        rid = try_parse_resource_id(root_id)
        if rid is None or rid.type_key != ids.CA_TYPE.lower():
            raise linked_invalid_property_id(
                f"certificateAuthorityResourceId '{root_id}' is not the id of a certificate authority.",
                target=f"{target}.certificateAuthorityResourceId")
        if not same_id(ids.namespace_of(rid.id), ids.namespace_of(doc["id"])):
            raise invalid_content("The issuing certificate authority must be in the same namespace.",
                                  target=f"{target}.certificateAuthorityResourceId")
        root = ctx.repo.get(rid.key)
        if root is None:
            raise linked_resource_not_found(f"The certificate authority '{root_id}' was not found.",
                                            target=f"{target}.certificateAuthorityResourceId")
        if root["properties"].get("certificateAuthorityType") != "Root":
            raise invalid_content("A Microsoft-issued ICA must be signed by a Root certificate authority.",
                                  target=f"{target}.certificateAuthorityResourceId")
        return {"issuerType": "Microsoft", "certificateAuthorityResourceId": root["id"]}

    def after_write(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        pki, owner, props = ctx.emu.pki, doc["id"].lower(), doc["properties"]
        external = _issuer_type(doc) == "External"
        try:
            if pki.active_ca(owner) is None and pki.pending_request(owner) is None:
                if props["certificateAuthorityType"] == "Root":
                    pki.create_root_ca(owner, doc["name"], ROOT_VALIDITY_DAYS)
                elif not external:
                    pki.create_issuing_ca(owner, props["issuer"]["certificateAuthorityResourceId"].lower(),
                                          ICA_VALIDITY_DAYS, common_name=doc["name"])
                else:
                    pki.create_byor_request(owner, ICA_VALIDITY_DAYS, common_name=doc["name"])
            elif external and existing is not None and pki.pending_request(owner) is None:
                # a PUT of an active External ICA starts its renewal: a new key and CSR, the current
                # certificate signs until `activate` installs the new one (docs/divergences.md)
                pki.create_byor_request(owner, ICA_VALIDITY_DAYS, common_name=doc["name"])
        except PkiError as exc:
            raise arm_error(exc) from exc
        ctx.emu.adr.refresh_certificate_authority(ctx, doc)

    def before_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        policies = ctx.emu.adr.certificate_policies(doc["id"])
        if policies:
            names = ", ".join(p["name"] for p in policies)
            raise conflict(f"The certificate authority is used by the certificate policies {names}; delete them "
                           "first.", target="certificatePolicies")
        children = [ca["name"] for ca in ctx.emu.adr.certificate_authorities(ids.namespace_of(doc["id"]))
                    if same_id((ca["properties"].get("issuer") or {}).get("certificateAuthorityResourceId"), doc["id"])]
        if children:
            raise conflict(f"The Root certificate authority signs the ICAs {', '.join(children)}; delete them first.",
                           target="certificateAuthorities")

    def after_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        ctx.emu.pki.delete_owner(doc["id"].lower())
        ctx.emu.adr.sync_certificate_authorities(ctx, ids.namespace_of(doc["id"]))


# ---- certificate policies ---------------------------------------------------------------------------
@register
class CertificatePolicies(ResourceType):
    namespace = "Microsoft.DeviceRegistry"
    type_path = ("namespaces", "certificateAuthorities", "certificatePolicies")
    api_versions = CA_API_VERSIONS
    location_required = False
    name_rule = ids.CHILD_NAME_RULE
    put_schema = CertificatePolicyBody
    patch_schema = CertificatePolicyUpdate
    description = "A certificate policy: the validity of the device certificates its certificate authority signs."

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        old = (existing or {}).get("properties") or {}
        doc["properties"]["uuid"] = old.get("uuid") or str(uuid.uuid4())
        if not doc.get("location"):
            parent = ctx.repo.get(ids.ca_of(doc["id"]).lower()) or {}
            if parent.get("location"):
                doc["location"] = parent["location"]

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        """Tags and `certificate.validityPeriodInDays` may change; nothing to recompute."""

    def after_write(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        ctx.emu.adr.sync_certificate_authorities(ctx, ids.namespace_of(doc["id"]))

    def after_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        ctx.emu.adr.sync_certificate_authorities(ctx, ids.namespace_of(doc["id"]))
