"""The attestation of an enrollment (symmetric key, X.509, TPM) as the service API stores it."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import Encoding

from provider.common import new_access_key
from provider.dps import records, tpm_attestation
from provider.dps.attestation import ca_reference_certificate, certificate_info, load_certificate
from provider.dps.body import bad, read_object, read_string

if TYPE_CHECKING:
    from provider.state import Emulator

ATTESTATION_TYPES = ("none", "tpm", "x509", "symmetricKey")


def _symmetric(given: dict[str, Any] | None, old: dict[str, Any] | None) -> dict[str, str]:
    given, old = given or {}, old or {}
    out = {}
    for slot in ("primaryKey", "secondaryKey"):
        value = read_string(given.get(slot), f"attestation.symmetricKey.{slot}") or old.get(slot) or new_access_key(64)
        try:
            size = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            size = 0
        if not 16 <= size <= 64:
            raise bad(f"attestation.symmetricKey.{slot} must be the base64 encoding of 16 to 64 bytes.")
        out[slot] = value
    return out


def _certificates(given: dict[str, Any] | None, old: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    if given is None:
        return None
    read_object(given, where)
    out: dict[str, Any] = {}
    for slot in ("primary", "secondary"):
        entry = read_object(given.get(slot), f"{where}.{slot}")
        if entry is None:
            continue
        text = read_string(entry.get("certificate"), f"{where}.{slot}.certificate")
        if not text:
            previous = ((old or {}).get(slot) or {})
            thumb = ((entry.get("info") or {}).get("sha256Thumbprint") or "").upper()
            if previous.get("certificate") and thumb and thumb == previous["info"]["sha256Thumbprint"]:
                out[slot] = previous  # a GET body sent back: keep the stored certificate
                continue
            raise bad(f"{where}.{slot}.certificate is required (PEM or base64 DER).")
        try:
            cert = load_certificate(text)
        except ValueError:
            raise bad(f"{where}.{slot}.certificate is not a PEM or base64 DER X.509 certificate.") from None
        out[slot] = {"certificate": cert.public_bytes(Encoding.PEM).decode("ascii"), "info": certificate_info(cert)}
    if "primary" not in out:
        raise bad(f"{where}.primary is required.")
    return out


def normalise_attestation(emu: Emulator, dps_doc: dict[str, Any], kind: str, value: Any,
                          old: dict[str, Any] | None) -> dict[str, Any]:
    attestation = read_object(value, "attestation", required=True)
    assert attestation is not None
    kind_name = attestation.get("type")
    if kind_name not in ATTESTATION_TYPES:
        raise bad(f"attestation.type must be one of {', '.join(ATTESTATION_TYPES)}.")
    old = old if (old or {}).get("type") == kind_name else None
    out: dict[str, Any] = {"type": kind_name}
    if kind_name == "symmetricKey":
        out["symmetricKey"] = _symmetric(read_object(attestation.get("symmetricKey"), "attestation.symmetricKey"),
                                         (old or {}).get("symmetricKey"))
    elif kind_name == "tpm":
        tpm = read_object(attestation.get("tpm"), "attestation.tpm", required=True) or {}
        if not read_string(tpm.get("endorsementKey"), "attestation.tpm.endorsementKey"):
            raise bad("attestation.tpm.endorsementKey is required.")
        if kind == records.GROUP:
            raise bad("Enrollment groups do not support TPM attestation.")
        out["tpm"] = {k: tpm[k] for k in ("endorsementKey", "storageRootKey") if isinstance(tpm.get(k), str)}
        problem = tpm_attestation.enrollment_key_problem(out["tpm"])
        if problem:
            raise bad(f"{problem}.")
    elif kind_name == "x509":
        given = read_object(attestation.get("x509"), "attestation.x509", required=True) or {}
        old_x509 = (old or {}).get("x509") or {}
        x509_out: dict[str, Any] = {}
        if kind == records.INDIVIDUAL:
            if given.get("signingCertificates") or given.get("caReferences"):
                raise bad("An individual enrollment takes attestation.x509.clientCertificates, not signing "
                           "certificates or CA references.")
            x509_out["clientCertificates"] = _certificates(
                given.get("clientCertificates") or {}, old_x509.get("clientCertificates"),
                "attestation.x509.clientCertificates")
        else:
            if given.get("clientCertificates"):
                raise bad("An enrollment group takes attestation.x509.signingCertificates or caReferences, not "
                           "client certificates.")
            signing = _certificates(given.get("signingCertificates"), old_x509.get("signingCertificates"),
                                    "attestation.x509.signingCertificates")
            references = read_object(given.get("caReferences"), "attestation.x509.caReferences")
            if signing is None and not references:
                raise bad("An X.509 enrollment group needs attestation.x509.signingCertificates or caReferences.")
            if signing is not None:
                x509_out["signingCertificates"] = signing
            if references:
                x509_out["caReferences"] = _ca_references(emu, dps_doc, references)
        out["x509"] = x509_out
    return out


def _ca_references(emu: Emulator, dps_doc: dict[str, Any], references: dict[str, Any]) -> dict[str, str]:
    out = {}
    for slot in ("primary", "secondary"):
        name = read_string(references.get(slot), f"attestation.x509.caReferences.{slot}")
        if not name:
            continue
        if ca_reference_certificate(emu, dps_doc, name) is None:
            raise bad(f"attestation.x509.caReferences.{slot} names '{name}', which is not a CA certificate of "
                       "this provisioning service.")
        out[slot] = name
    if "primary" not in out:
        raise bad("attestation.x509.caReferences.primary is required.")
    return out
