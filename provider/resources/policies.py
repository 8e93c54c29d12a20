"""`Microsoft.DeviceRegistry/namespaces/credentials/policies`: an issuing CA and its leaf rules.

A policy owns one issuing CA signed by the namespace root (or, with Bring Your Own Root, by the
user's root after `activateBringYourOwnRoot`). The read-only certificate fields in the body are
copied from the real certificate whenever it changes. In 2025-11-01-preview a policy is a tracked
resource with an optional location; from 2026-03-01-preview on it is a proxy resource.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from provider import api_versions
from provider.adr import ids
from provider.adr.errors import arm_error
from provider.arm.context import RequestContext
from provider.arm.errors import invalid_content, operation_not_allowed
from provider.arm.resource_type import Action, ResourceType, register
from provider.arm.schemas import BaseSchema, Tags
from provider.common import utc_z
from provider.pki.errors import PkiError

POLICY_API_VERSIONS = api_versions.DEVICE_REGISTRY_CREDENTIALS
PROXY_FROM = "2026-03-01-preview"
LEAF_DAYS = {"2025-11-01-preview": (1, 90), "2026-03-01-preview": (7, 90)}
ISSUING_CA_VALIDITY_DAYS = 1825


def _leaf_schema(low: int, high: int) -> type[BaseSchema]:
    class LeafCertificateConfiguration(BaseSchema):
        validityPeriodInDays = fields.Integer(required=True, strict=True, validate=validate.Range(low, high))

    return LeafCertificateConfiguration


def _schemas(version: str) -> tuple[type[BaseSchema], type[BaseSchema]]:
    low, high = LEAF_DAYS[version]
    leaf = _leaf_schema(low, high)
    byor = version >= PROXY_FROM

    class BringYourOwnRoot(BaseSchema):
        enabled = fields.Boolean(required=True)

    class CertificateAuthorityConfiguration(BaseSchema):
        keyType = fields.String(required=True, validate=validate.OneOf(["ECC"]))
        if byor:
            bringYourOwnRoot = fields.Nested(BringYourOwnRoot)

    class CertificateConfiguration(BaseSchema):
        certificateAuthorityConfiguration = fields.Nested(CertificateAuthorityConfiguration, required=True)
        leafCertificateConfiguration = fields.Nested(leaf, required=True)

    class PolicyProperties(BaseSchema):
        certificate = fields.Nested(CertificateConfiguration, required=True)

    class PolicyBody(BaseSchema):
        properties = fields.Nested(PolicyProperties, required=True)
        if not byor:
            location = fields.String()
            tags = Tags()

    class CertificateConfigurationUpdate(BaseSchema):
        leafCertificateConfiguration = fields.Nested(leaf)

    class PolicyUpdateProperties(BaseSchema):
        certificate = fields.Nested(CertificateConfigurationUpdate)

    class PolicyUpdate(BaseSchema):
        properties = fields.Nested(PolicyUpdateProperties)
        if not byor:
            tags = Tags()

    return PolicyBody, PolicyUpdate


SCHEMAS = {version: _schemas(version) for version in POLICY_API_VERSIONS}


class ActivateBringYourOwnRootRequest(BaseSchema):
    certificateChain = fields.String(required=True, validate=validate.Length(min=1, max=256 * 1024))


def copy_ca_fields(ctx: RequestContext, doc: dict[str, Any]) -> None:
    """Report the current issuing CA (subject, validity, BYOR state) in the policy body."""
    pki = ctx.emu.pki
    owner = doc["id"].lower()
    ca_config = doc["properties"]["certificate"]["certificateAuthorityConfiguration"]
    active = pki.active_ca(owner)
    pending = pki.pending_request(owner)
    record = active or pending
    if record is not None:
        ca_config["subject"] = record.subject
        if record.not_before and record.not_after:
            ca_config["validityNotBefore"] = utc_z(record.not_before)
            ca_config["validityNotAfter"] = utc_z(record.not_after)
    byor = ca_config.get("bringYourOwnRoot")
    if byor and byor.get("enabled"):
        if active is not None:
            byor.update(status="Active", issuingCertificateThumbprint=active.thumbprint,
                        certificateSigningRequest=(pending.csr_pem if pending else "") or "")
        elif pending is not None:
            byor.update(status="PendingActivation", certificateSigningRequest=pending.csr_pem or "")
            byor.pop("issuingCertificateThumbprint", None)


def revoke_issuer(ctx: RequestContext, doc: dict[str, Any], _body: Any) -> tuple[int, Any]:
    """Rotate the issuing CA: new key and certificate; leaves of the old one stop being trusted once synced."""
    byor = doc["properties"]["certificate"]["certificateAuthorityConfiguration"].get("bringYourOwnRoot") or {}
    if byor.get("enabled"):
        raise operation_not_allowed(
            "revokeIssuer is not possible for a policy with an external root (Bring Your Own Root). "
            "Revoke each device instead, then delete the policy.")
    try:
        ctx.emu.pki.rotate_issuing_ca(doc["id"].lower())
    except PkiError as exc:
        raise arm_error(exc) from exc
    copy_ca_fields(ctx, doc)
    ctx.repo.update_body(doc["id"], doc)
    return 204, None


def activate_byor(ctx: RequestContext, doc: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    """Validate the signed BYOR chain against the documented rules and activate the issuing CA."""
    byor = doc["properties"]["certificate"]["certificateAuthorityConfiguration"].get("bringYourOwnRoot") or {}
    if not byor.get("enabled"):
        raise operation_not_allowed(
            "activateBringYourOwnRoot applies only to a policy created with bringYourOwnRoot.enabled.")
    try:
        ctx.emu.pki.activate_byor(doc["id"].lower(), body["certificateChain"])
    except PkiError as exc:
        raise arm_error(exc) from exc
    copy_ca_fields(ctx, doc)
    ctx.repo.update_body(doc["id"], doc)
    return 204, None


@register
class Policies(ResourceType):
    namespace = "Microsoft.DeviceRegistry"
    type_path = ("namespaces", "credentials", "policies")
    api_versions = POLICY_API_VERSIONS
    tracked = True
    location_required = False
    name_rule = ids.CHILD_NAME_RULE
    actions = {
        "revokeIssuer": Action(revoke_issuer, api_versions=("2026-03-01-preview",)),
        "activateBringYourOwnRoot": Action(activate_byor, schema=ActivateBringYourOwnRootRequest,
                                           api_versions=("2026-03-01-preview",), requires_body=True),
    }
    description = "A certificate policy: an issuing CA and the validity of the leaves it signs."

    def schema_for(self, method: str, api_version: str) -> type[BaseSchema] | None:
        body, update = SCHEMAS.get(api_version, SCHEMAS[PROXY_FROM])
        return body if method == "PUT" else update

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        if ctx.api_version >= PROXY_FROM:
            doc.pop("location", None)
            doc.pop("tags", None)
        if existing is None:
            return
        old_ca = existing["properties"]["certificate"]["certificateAuthorityConfiguration"]
        new_ca = doc["properties"]["certificate"]["certificateAuthorityConfiguration"]
        if new_ca.get("keyType") != old_ca.get("keyType"):
            raise invalid_content("keyType cannot be changed after the policy is created.",
                                  target="properties.certificate.certificateAuthorityConfiguration.keyType")
        old_byor = bool((old_ca.get("bringYourOwnRoot") or {}).get("enabled"))
        new_byor = bool((new_ca.get("bringYourOwnRoot") or {}).get("enabled", old_byor))
        if old_byor != new_byor:
            raise invalid_content("bringYourOwnRoot.enabled cannot be changed after the policy is created.",
                                  target="properties.certificate.certificateAuthorityConfiguration.bringYourOwnRoot.enabled")
        for key in ("subject", "validityNotBefore", "validityNotAfter"):
            if key in old_ca:
                new_ca[key] = old_ca[key]
        if old_byor:
            new_ca["bringYourOwnRoot"] = dict(old_ca["bringYourOwnRoot"])

    def after_write(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        pki = ctx.emu.pki
        owner = doc["id"].lower()
        if existing is None or (pki.active_ca(owner) is None and pki.pending_request(owner) is None):
            ca_config = doc["properties"]["certificate"]["certificateAuthorityConfiguration"]
            if (ca_config.get("bringYourOwnRoot") or {}).get("enabled"):
                pki.create_byor_request(owner, ISSUING_CA_VALIDITY_DAYS)
            else:
                pki.create_issuing_ca(owner, ctx.emu.adr.issuing_ca_parent(doc["id"]), ISSUING_CA_VALIDITY_DAYS)
        copy_ca_fields(ctx, doc)
        ctx.repo.update_body(doc["id"], doc)

    def after_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        ctx.emu.pki.delete_owner(doc["id"].lower())
