"""Who is registering: match the device's evidence to an enrollment and check it.

Symmetric key: the SAS token (resource `{idScope}/registrations/{registrationId}`, `skn`
`registration` or none) must verify with the individual enrollment's primary or secondary key,
or with a key derived from an enrollment group's key (HMAC-SHA256 over the registration id).

X.509: the TLS client chain's leaf must have CN = registration id and be within its validity;
an individual enrollment must hold that very certificate (DER equality or SHA-1/SHA-256
thumbprint); a group must trust it, i.e. the chain verifies (`cryptography.x509.verification`)
to one of the group's signing certificates or referenced DPS CA certificates. The profile is
RFC 5280 rather than Web PKI strict, because device fleets use home-made CAs: KeyUsage and
key identifiers may be absent, but when KeyUsage is there a CA must have keyCertSign, and when
an EKU is there a leaf must have clientAuth.

An individual enrollment for the registration id takes precedence over groups, as in DPS.
TPM attestation is `tpm_attestation.py`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from provider.dps import errors, records
from provider.dps.errors import DpsError
from provider.dps.sas import SasError, SasToken, derive_device_key, parse_sas, verify_sas
from provider.store import Store as DataStore  # not cryptography's trust `Store`

if TYPE_CHECKING:
    from provider.state import Emulator

SLOTS = ("primary", "secondary")


@dataclass
class Attested:
    """The enrollment a device proved it belongs to, and how."""

    enrollment: dict[str, Any]
    kind: str  # records.INDIVIDUAL | records.GROUP
    mechanism: str  # "symmetricKey" | "x509" | "tpm"
    group_id: str | None = None
    device_key: str | None = None  # symmetric key the token verified with (becomes the hub SAS key)
    leaf: x509.Certificate | None = None
    signing_certificate: x509.Certificate | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---- certificates ------------------------------------------------------------------------------------
def load_certificate(text: str) -> x509.Certificate:
    """A certificate given as PEM or as base64 DER (as DPS enrollments carry them); ValueError if neither."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty certificate")
    data = text.strip().encode("ascii", "replace")
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    try:
        der = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the certificate is neither PEM nor base64 DER") from None
    return x509.load_der_x509_certificate(der)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_info(cert: x509.Certificate) -> dict[str, Any]:
    """DPS's `X509CertificateInfo`."""
    der = cert.public_bytes(Encoding.DER)
    serial = f"{cert.serial_number:X}"
    return {
        "subjectName": cert.subject.rfc4514_string(),
        "sha1Thumbprint": hashlib.sha1(der).hexdigest().upper(),  # noqa: S324 - DPS reports SHA-1 thumbprints
        "sha256Thumbprint": hashlib.sha256(der).hexdigest().upper(),
        "issuerName": cert.issuer.rfc4514_string(),
        "notBeforeUtc": _utc(cert.not_valid_before_utc),
        "notAfterUtc": _utc(cert.not_valid_after_utc),
        "serialNumber": serial if len(serial) % 2 == 0 else "0" + serial,
        "version": cert.version.value + 1,
    }


def _check_ca_key_usage(_policy: Any, _cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError("a CA certificate's KeyUsage lacks keyCertSign")


def _check_leaf_eku(_policy: Any, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE \
            not in eku:
        raise ValueError("the device certificate's extended key usage lacks clientAuth")


_CA_POLICY = (ExtensionPolicy.webpki_defaults_ca()
              .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _check_ca_key_usage)
              .may_be_present(x509.AuthorityKeyIdentifier, Criticality.AGNOSTIC, None)
              .may_be_present(x509.SubjectKeyIdentifier, Criticality.AGNOSTIC, None))
_EE_POLICY = (ExtensionPolicy.permit_all()
              .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _check_leaf_eku))


def chain_verifies(leaf: x509.Certificate, intermediates: list[x509.Certificate],
                   anchors: list[x509.Certificate], now: datetime) -> str | None:
    """None when the chain builds to one of `anchors` at `now`; otherwise the reason."""
    if not anchors:
        return "no CA certificate"
    verifier = (PolicyBuilder().store(Store(anchors)).time(now)
                .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY).build_client_verifier())
    try:
        verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        return str(exc)
    return None


def common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if len(names) == 1 else None


def enrolled_certificates(attestation: dict[str, Any], section: str) -> list[x509.Certificate]:
    """The parsed certificates of `attestation.x509.{section}` (primary and secondary)."""
    certs = []
    for slot in SLOTS:
        text = (((attestation.get("x509") or {}).get(section) or {}).get(slot) or {}).get("certificate")
        if text:
            try:
                certs.append(load_certificate(text))
            except ValueError:
                continue
    return certs


def ca_reference_certificate(emu: Emulator, dps_doc: dict[str, Any], name: str) -> x509.Certificate | None:
    """A DPS CA certificate (`provisioningServices/certificates/{name}`) named by `caReferences`."""
    doc = emu.dps.certificate(dps_doc, name)
    text = ((doc or {}).get("properties") or {}).get("certificate")
    if not text:
        return None
    try:
        return load_certificate(text)
    except ValueError:
        return None


def group_anchors(emu: Emulator, dps_doc: dict[str, Any], group: dict[str, Any]) -> list[x509.Certificate]:
    anchors = enrolled_certificates(group["attestation"], "signingCertificates")
    references = (group["attestation"].get("x509") or {}).get("caReferences") or {}
    for slot in SLOTS:
        if references.get(slot):
            cert = ca_reference_certificate(emu, dps_doc, references[slot])
            if cert is not None:
                anchors.append(cert)
    return anchors


# ---- the two attestation paths ------------------------------------------------------------------------
def _require_kind(individual: dict[str, Any] | None, registration_id: str, kind: str,
                  credential: str) -> dict[str, Any] | None:
    """The individual enrollment for `registration_id` (if any), which must use `kind` attestation."""
    if individual is not None:
        used = individual["attestation"].get("type")
        if used != kind:
            raise DpsError(errors.UNAUTHORIZED, f"The enrollment for '{registration_id}' uses {used} attestation; "
                           f"{credential} cannot authenticate it.")
    return individual


def by_sas(store: DataStore, dps_key: str, id_scope: str, registration_id: str, token: str, now: float,
           individual: dict[str, Any] | None) -> Attested:
    """Symmetric-key attestation: the SAS token must verify with an enrollment's (derived) key.
    `individual` is the registration id's individual enrollment, which the caller has read."""
    try:
        parsed = parse_sas(token)
        if parsed.expiry <= now:
            raise SasError("the SAS token has expired", expired=True)
    except SasError as exc:
        raise sas_refusal(exc) from None
    resource = f"{id_scope}/registrations/{registration_id}"
    individual = _require_kind(individual, registration_id, "symmetricKey", "a SAS token")
    if individual is not None:
        attestation = individual["attestation"]
        keys = attestation.get("symmetricKey") or {}
        try:
            verify_sas(parsed, {"registration": [keys.get("primaryKey"), keys.get("secondaryKey")]}, resource, now)
        except SasError as exc:
            raise sas_refusal(exc) from None
        used = _matching_key(parsed, [keys.get("primaryKey"), keys.get("secondaryKey")], resource, now)
        return Attested(individual, records.INDIVIDUAL, "symmetricKey", device_key=used)
    last_error: SasError | None = None
    for _, group in records.list_enrollments(store, dps_key, records.GROUP):
        if group["attestation"].get("type") != "symmetricKey":
            continue
        keys = group["attestation"].get("symmetricKey") or {}
        derived = [derive_device_key(k, registration_id) for k in (keys.get("primaryKey"), keys.get("secondaryKey"))
                   if k]
        try:
            verify_sas(parsed, {"registration": derived}, resource, now)
        except SasError as exc:
            last_error = exc
            continue
        used = _matching_key(parsed, derived, resource, now)
        return Attested(group, records.GROUP, "symmetricKey", group_id=group["enrollmentGroupId"], device_key=used)
    if last_error is not None and "resource" in last_error.message:
        raise sas_refusal(last_error)
    raise DpsError(errors.NO_ENROLLMENT,
                   f"No enrollment authenticates registration '{registration_id}' with this SAS token: there is no "
                   "individual enrollment for it and no symmetric-key enrollment group's derived key verifies it.")


def _matching_key(parsed: SasToken, keys: list[str | None], resource: str, now: float) -> str | None:
    for key in keys:
        if not key:
            continue
        try:
            verify_sas(parsed, {"registration": [key]}, resource, now)
            return key
        except SasError:
            continue
    return None


def sas_refusal(exc: SasError) -> DpsError:
    """A SAS that does not verify, as DPS answers it (expired tokens have their own code)."""
    code = errors.TOKEN_EXPIRED if exc.expired else errors.UNAUTHORIZED
    return DpsError(code, f"Unauthorized: {exc.message}.")


def by_certificate(emu: Emulator, dps_doc: dict[str, Any], registration_id: str, chain_der: list[bytes],
                   now: datetime) -> Attested:
    """X.509 attestation by the TLS client chain (leaf first)."""
    try:
        chain = [x509.load_der_x509_certificate(der) for der in chain_der]
    except ValueError:
        raise DpsError(errors.CERTIFICATE_INVALID, "The client certificate chain cannot be decoded.") from None
    leaf, intermediates = chain[0], chain[1:]
    cn = common_name(leaf)
    if cn != registration_id:
        raise DpsError(errors.CERTIFICATE_INVALID,
                       f"The client certificate's subject CN ({cn!r}) must equal the registration id "
                       f"({registration_id!r}).")
    if now < leaf.not_valid_before_utc or now > leaf.not_valid_after_utc:
        raise DpsError(errors.CERTIFICATE_INVALID,
                       f"The client certificate is not valid now: it is valid from {_utc(leaf.not_valid_before_utc)} "
                       f"to {_utc(leaf.not_valid_after_utc)}.")
    store = emu.store
    dps_key = dps_doc["id"].lower()
    individual = _require_kind(records.get_enrollment(store, dps_key, records.INDIVIDUAL, registration_id),
                               registration_id, "x509", "a client certificate")
    if individual is not None:
        attestation = individual["attestation"]
        if _matches_enrolled(leaf, attestation):
            return Attested(individual, records.INDIVIDUAL, "x509", leaf=leaf)
        raise DpsError(errors.CERTIFICATE_INVALID,
                       f"The client certificate is not the one enrolled for '{registration_id}' "
                       "(neither certificate nor thumbprint matches).")
    reasons = []
    for _, group in records.list_enrollments(store, dps_key, records.GROUP):
        if group["attestation"].get("type") != "x509":
            continue
        anchors = group_anchors(emu, dps_doc, group)
        for anchor in anchors:
            reason = chain_verifies(leaf, intermediates, [anchor], now)
            if reason is None:
                return Attested(group, records.GROUP, "x509", group_id=group["enrollmentGroupId"], leaf=leaf,
                                signing_certificate=anchor)
            reasons.append(f"{group['enrollmentGroupId']}: {reason}")
    detail = f" ({'; '.join(reasons)[:400]})" if reasons else ""
    raise DpsError(errors.CA_NOT_FOUND,
                   f"CA certificate not found: no individual enrollment for '{registration_id}' and no X.509 "
                   f"enrollment group whose signing certificate the presented chain verifies to{detail}.")


def _matches_enrolled(leaf: x509.Certificate, attestation: dict[str, Any]) -> bool:
    der = leaf.public_bytes(Encoding.DER)
    info = certificate_info(leaf)
    for slot in SLOTS:
        enrolled = ((attestation.get("x509") or {}).get("clientCertificates") or {}).get(slot) or {}
        text = enrolled.get("certificate")
        if text:
            try:
                if load_certificate(text).public_bytes(Encoding.DER) == der:
                    return True
            except ValueError:
                pass
        stored = enrolled.get("info") or {}
        if stored.get("sha256Thumbprint", "").upper() == info["sha256Thumbprint"] or \
                stored.get("sha1Thumbprint", "").upper() == info["sha1Thumbprint"]:
            return True
    return False
