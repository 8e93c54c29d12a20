"""IoT hub child resources: Event Hub consumer groups and CA certificates.

`Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups`: the built-in `events` endpoint
always has a `$Default` consumer group. The emulator stores it as a real row when the hub is
written, so GET and list see it like any other; it cannot be deleted (400), and user names follow
the service's rule (letters, digits, '.', '-', '_'; so `$Default` itself cannot be PUT).

`Microsoft.Devices/IotHubs/certificates`: CA certificates the hub trusts for X.509 device
authentication. The PUT body carries a PEM (or base64 DER) certificate that must parse; the
response adds `subject`, `expiry`, `thumbprint` (SHA-1, upper-case hex), `created`, `updated`
(RFC 1123 dates, as the service sends them) and `etag` in the body. `isVerified` may be set in
the body (as `az iot hub certificate create --verified` does); otherwise it is kept while the
certificate stays the same and reset to false when it changes. Proof-of-possession
(`generateVerificationCode`/`verify`) is not emulated.

`policyResourceId` is read-only: only the ADR credential sync sets it, through
`set_synced_certificates`. A certificate written by the sync cannot be replaced by a user PUT
(409 `CertificateManagedByDeviceRegistry`); the next sync rewrites the set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from email.utils import format_datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from marshmallow import fields, validate

from provider.api_versions import since
from provider.arm.context import RequestContext
from provider.arm.errors import ArmError
from provider.arm.ids import ResourceId, parse_resource_id
from provider.arm.resource_type import LroSpec, NameRule, ResourceType, register
from provider.arm.schemas import BaseSchema
from provider.resources.iothubs import DEVICE_REGISTRY_VERSIONS, EVENTS_ENDPOINT, HUB_API_VERSIONS

CONSUMER_GROUP_TYPE = "Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups"
CERTIFICATE_TYPE = "Microsoft.Devices/IotHubs/certificates"
DEFAULT_CONSUMER_GROUP = "$Default"


def _rfc1123(ctx: RequestContext) -> str:
    assert ctx.now is not None
    return format_datetime(ctx.now, usegmt=True)


def _no_patch(kind: str) -> ArmError:
    return ArmError(405, "MethodNotAllowed", f"{kind} cannot be updated with PATCH; PUT them again.",
                    headers={"Allow": "GET, PUT, DELETE"})


# ---- consumer groups ------------------------------------------------------------------------------
class ConsumerGroupName(BaseSchema):
    name = fields.String()


class ConsumerGroupBody(BaseSchema):
    """`{properties: {name}}` (2021-03-31 on); older versions send no body, so nothing is required."""

    properties = fields.Nested(ConsumerGroupName)


@register
class ConsumerGroups(ResourceType):
    namespace = "Microsoft.Devices"
    type_path = ("IotHubs", "eventHubEndpoints", "ConsumerGroups")
    api_versions = HUB_API_VERSIONS
    tracked = False
    etag_in_body = True
    lro = LroSpec(put=False, patch=False, delete=False)
    create_status = 200  # the service (and the SDK, which accepts nothing else) answers 200 on create
    name_rule = NameRule(r"^[A-Za-z0-9._-]+$", 1, 50, "Use letters, digits, '.', '-' and '_'.")
    put_schema = ConsumerGroupBody
    envelope_fields = ()
    description = "A consumer group of an IoT hub's built-in Event Hub endpoint."

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        assert ctx.rid is not None
        endpoint = ctx.rid.names[1]
        if endpoint.lower() != EVENTS_ENDPOINT:
            raise ArmError(404, "ResourceNotFound",
                           f"The IoT hub '{ctx.rid.names[0]}' has no Event Hub endpoint '{endpoint}'; the built-in "
                           f"endpoint is '{EVENTS_ENDPOINT}'.")
        created = ((existing or {}).get("properties") or {}).get("created") or _rfc1123(ctx)
        doc["properties"] = {"name": doc["name"], "created": created}

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        raise _no_patch("Consumer groups")

    def before_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        if doc["name"].lower() == DEFAULT_CONSUMER_GROUP.lower():
            raise ArmError(400, "BadRequest", "The $Default consumer group cannot be deleted.")

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        props = doc.get("properties", {})
        props.pop("provisioningState", None)
        if api_version and api_version not in DEVICE_REGISTRY_VERSIONS:
            props.pop("policyResourceId", None)  # the preview link field, shown only where the spec has it
        return doc


def ensure_default_consumer_groups(ctx: RequestContext, hub_doc: dict[str, Any]) -> None:
    """Store `$Default` under the `events` endpoint the first time the hub is written."""
    from provider.arm.handlers import new_etag, system_data

    rid = parse_resource_id(hub_doc["id"]).child("eventHubEndpoints", EVENTS_ENDPOINT).child(
        "ConsumerGroups", DEFAULT_CONSUMER_GROUP)
    if ctx.repo.exists(rid.key):
        return
    ctx.repo.put(rid, {"id": rid.id, "name": DEFAULT_CONSUMER_GROUP, "type": CONSUMER_GROUP_TYPE,
                       "properties": {"name": DEFAULT_CONSUMER_GROUP, "created": _rfc1123(ctx),
                                      "provisioningState": "Succeeded"},
                       "systemData": system_data(ctx, None), "etag": new_etag()})


# ---- certificates ---------------------------------------------------------------------------------
class CertificateBodyProperties(BaseSchema):
    certificate = fields.String(required=True, validate=validate.Length(min=1, max=64 * 1024))
    isVerified = fields.Boolean()


class CertificateBody(BaseSchema):
    properties = fields.Nested(CertificateBodyProperties, required=True)


def load_certificate(text: str) -> x509.Certificate:
    """A PEM certificate (the first of a chain) or base64 DER; ValueError when it is neither."""
    stripped = text.strip()
    if "-----BEGIN" in stripped:
        return x509.load_pem_x509_certificates(stripped.encode())[0]
    try:
        der = base64.b64decode("".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not PEM and not base64") from exc
    return x509.load_der_x509_certificate(der)


def subject_text(cert: x509.Certificate) -> str:
    """`CN=..., O=...`: the subject as the service prints it (most specific RDN first)."""
    return ", ".join(rdn.rfc4514_string() for rdn in reversed(cert.subject.rdns))


def thumbprint(cert: x509.Certificate) -> str:
    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest().upper()  # noqa: S324 (the service's id)


def certificate_properties(ctx: RequestContext, pem_or_der: str, is_verified: bool | None,
                           existing: dict[str, Any] | None, target: str = "properties.certificate") -> dict[str, Any]:
    """Server-side certificate properties; 400 `InvalidCertificate` when the text does not parse."""
    try:
        cert = load_certificate(pem_or_der)
    except ValueError as exc:
        raise ArmError(400, "InvalidCertificate",
                       f"The certificate could not be parsed as an X.509 certificate (PEM or base64 DER): {exc}.",
                       target=target) from None
    previous = (existing or {}).get("properties") or {}
    digest = thumbprint(cert)
    if is_verified is None:
        is_verified = bool(previous.get("isVerified")) and previous.get("thumbprint") == digest
    now = _rfc1123(ctx)
    return {
        "subject": subject_text(cert),
        "expiry": format_datetime(cert.not_valid_after_utc, usegmt=True),
        "thumbprint": digest,
        "isVerified": is_verified,
        "created": previous.get("created") or now,
        "updated": now,
        "certificate": cert.public_bytes(Encoding.PEM).decode(),
    }


@register
class Certificates(ResourceType):
    namespace = "Microsoft.Devices"
    type_path = ("IotHubs", "certificates")
    api_versions = since(HUB_API_VERSIONS, "2017-07-01")  # the first version with certificates
    tracked = False
    etag_in_body = True
    lro = LroSpec(put=False, patch=False, delete=False)
    name_rule = NameRule(r"^[A-Za-z0-9._-]+$", 1, 64, "Use letters, digits, '.', '-' and '_'.")
    put_schema = CertificateBody
    envelope_fields = ()
    description = "A CA certificate an IoT hub trusts for X.509 device authentication."

    def prepare(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        if existing and (existing.get("properties") or {}).get("policyResourceId"):
            raise ArmError(409, "CertificateManagedByDeviceRegistry",
                           f"The certificate '{doc['name']}' was written by the Device Registry credential sync "
                           f"for policy '{existing['properties']['policyResourceId']}' and cannot be replaced; "
                           "synchronize the namespace credential instead.")
        body = doc["properties"]
        doc["properties"] = certificate_properties(ctx, body["certificate"], body.get("isVerified"), existing)

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        raise _no_patch("Certificates")

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        props = doc.get("properties", {})
        props.pop("provisioningState", None)
        if api_version and api_version not in DEVICE_REGISTRY_VERSIONS:
            props.pop("policyResourceId", None)  # the preview link field, shown only where the spec has it
        return doc


def certificate_docs(emu: Any, hub_doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every certificate stored on the hub, in creation order."""
    return [doc for _, doc in emu.repo.children(hub_doc["id"].lower(), CERTIFICATE_TYPE.lower())]


def synced_certificates(emu: Any, hub_doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The certificates the ADR sync wrote (those with `properties.policyResourceId`)."""
    return [d for d in certificate_docs(emu, hub_doc) if (d.get("properties") or {}).get("policyResourceId")]


def hub_trusted_certificates(emu: Any, hub_doc: dict[str, Any]) -> list[str]:
    """PEMs of every verified certificate on the hub: synced ones and verified user uploads."""
    return [d["properties"]["certificate"] for d in certificate_docs(emu, hub_doc)
            if (d.get("properties") or {}).get("isVerified") and d["properties"].get("certificate")]


def set_synced_certificates(ctx: RequestContext, hub_doc: dict[str, Any], entries: list[tuple[str, str, str]]) -> None:
    """Make the hub's synced certificates exactly `entries` = [(certificate name, PEM, policyResourceId)].

    Synced certificates not named in `entries` are deleted; new or changed ones are written verified.
    An entry whose name collides with a user-uploaded certificate takes it over. Runs inside the
    caller's transaction (every write goes through `emu.repo`).
    """
    from provider.arm.handlers import new_etag, system_data

    hub_rid = parse_resource_id(hub_doc["id"])
    current = {d["name"].lower(): d for d in certificate_docs(ctx.emu, hub_doc)}
    wanted = {name.lower() for name, _, _ in entries}
    for name, doc in current.items():
        if (doc.get("properties") or {}).get("policyResourceId") and name not in wanted:
            ctx.repo.delete(doc["id"])
    for name, pem, policy_id in entries:
        old = current.get(name.lower())
        props = certificate_properties(ctx, pem, True, old, target=name)
        old_props = (old or {}).get("properties") or {}
        if (old is not None and old_props.get("policyResourceId") == policy_id
                and old_props.get("thumbprint") == props["thumbprint"] and old_props.get("isVerified")):
            continue
        props["policyResourceId"] = policy_id
        props["provisioningState"] = "Succeeded"
        rid: ResourceId = hub_rid.child("certificates", name)
        ctx.repo.put(rid, {"id": rid.id, "name": name, "type": CERTIFICATE_TYPE, "properties": props,
                           "systemData": system_data(ctx, old), "etag": new_etag()})
