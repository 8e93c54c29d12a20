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
`HubBackend.set_synced_certificates` (`provider/hub/backend.py`). A certificate written by the
sync cannot be replaced by a user PUT (409 `CertificateManagedByDeviceRegistry`); the next sync
rewrites the set. Every change of a hub's certificates fires `hooks.on_hub_trust_changed`.
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
from provider.arm.errors import ArmError, method_not_allowed, resource_not_found
from provider.arm.resource_type import LroSpec, NameRule, ResourceType, register
from provider.arm.schemas import BaseSchema
from provider.hub.backend import DEFAULT_CONSUMER_GROUP, EVENTS_ENDPOINT, GA_SOURCE, PREVIEW_SOURCE, HubBackend
from provider.resources.iothubs import DEVICE_REGISTRY_VERSIONS, HUB_API_VERSIONS, READ_ONLY_LINK_VERSIONS


def _rfc1123(ctx: RequestContext) -> str:
    assert ctx.now is not None
    return format_datetime(ctx.now, usegmt=True)


def _no_patch(kind: str) -> ArmError:
    return method_not_allowed(f"{kind} cannot be updated with PATCH; PUT them again.",
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
            raise resource_not_found(f"The IoT hub '{ctx.rid.names[0]}' has no Event Hub endpoint '{endpoint}'; the "
                                     f"built-in endpoint is '{EVENTS_ENDPOINT}'.")
        created = ((existing or {}).get("properties") or {}).get("created") or _rfc1123(ctx)
        doc["properties"] = {"name": doc["name"], "created": created}

    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        raise _no_patch("Consumer groups")

    def before_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        if doc["name"].lower() == DEFAULT_CONSUMER_GROUP.lower():
            raise ArmError(400, "BadRequest", "The $Default consumer group cannot be deleted.")

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        doc.get("properties", {}).pop("provisioningState", None)
        return doc


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
        body = doc["properties"]
        synced_from = HubBackend.sync_source(doc)  # only the Device Registry sync sets one (not in the schema)
        previous_source = HubBackend.sync_source(existing) if existing else None
        if previous_source and not synced_from:
            raise ArmError(409, "CertificateManagedByDeviceRegistry",
                           f"The certificate '{doc['name']}' was written by the Device Registry sync for "
                           f"'{previous_source}' and cannot be replaced; change the namespace's certificate "
                           "authorities (or synchronize its credential) instead.")
        doc["properties"] = certificate_properties(ctx, body["certificate"], body.get("isVerified"), existing,
                                                   target=doc["name"] if synced_from else "properties.certificate")
        for field in (PREVIEW_SOURCE, GA_SOURCE):
            if body.get(field):
                doc["properties"][field] = body[field]

    def after_write(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        self._trust_changed(ctx, doc)

    def after_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        self._trust_changed(ctx, doc)

    @staticmethod
    def _trust_changed(ctx: RequestContext, doc: dict[str, Any]) -> None:
        hub = ctx.repo.get(doc["id"].lower().rsplit("/certificates/", 1)[0])
        if hub is not None:
            ctx.emu.hooks.hub_trust_changed(hub)
    def prepare_patch(self, ctx: RequestContext, doc: dict[str, Any], patch: dict[str, Any]) -> None:
        raise _no_patch("Certificates")

    def view(self, ctx: RequestContext | None, doc: dict[str, Any], api_version: str) -> dict[str, Any]:
        props = doc.get("properties", {})
        props.pop("provisioningState", None)
        if api_version and api_version not in DEVICE_REGISTRY_VERSIONS:
            props.pop(PREVIEW_SOURCE, None)  # each link field only where the spec has it
        if api_version and api_version not in READ_ONLY_LINK_VERSIONS:
            props.pop(GA_SOURCE, None)
        return doc
