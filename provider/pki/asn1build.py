"""ASN.1 construction of X.509 structures with asn1crypto (RFC 5280 certificates, RFC 2986 CSRs).

The PKI signs through a key store that only returns signatures, so it cannot use
`cryptography.x509.CertificateBuilder` (which wants a private key object). These helpers build the
to-be-signed structures as asn1crypto objects and assemble the signed result; DER bytes are only
ever produced by an ASN.1 encoder (asn1crypto's, or `cryptography`'s for a Name), never by
concatenation.

Speed: asn1crypto never clears its "mutated" flag, so every access to a structure built from
freshly constructed children re-encodes the whole subtree (and assigning into an EXPLICIT-tagged
field copies it, which encodes it again). The extension list is therefore *frozen* (encoded once
and re-loaded, see `_frozen`), constants are kept as DER and re-loaded lazily, and the signed
certificate embeds the TBS re-loaded from the exact bytes that were signed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar

from asn1crypto import algos, core, csr, keys, x509
from cryptography import x509 as cx509
from cryptography.x509.oid import NameOID

#: Private arc of this emulator: an X.667 UUID OID (2.25.<uuid as integer>), which needs no
#: registration and cannot collide with anyone's enterprise number.
EMULATOR_ARC = "2.25.41344945581999916035104397488495960152"
#: Non-critical leaf extension carrying the per-device revocation identifier (a UTF8String).
REVOCATION_ID_OID = EMULATOR_ARC + ".1"

_SIGNATURE_ALGORITHMS = {"sha256": "sha256_ecdsa", "sha384": "sha384_ecdsa", "sha512": "sha512_ecdsa"}
_SIGNATURE_ALGORITHM_DER = {
    name: algos.SignedDigestAlgorithm({"algorithm": oid}).dump() for name, oid in _SIGNATURE_ALGORITHMS.items()
}

V = TypeVar("V", bound=core.Asn1Value)


def _frozen(value: V) -> V:
    """Encode once and re-load, so enclosing structures reuse the bytes instead of re-encoding."""
    return type(value).load(value.dump())


def signature_algorithm(hash_name: str) -> algos.SignedDigestAlgorithm:
    """ecdsa-with-SHAxxx with absent parameters (RFC 5758 §3.2)."""
    return algos.SignedDigestAlgorithm.load(_SIGNATURE_ALGORITHM_DER[hash_name])


def common_name(value: str) -> x509.Name:
    """A Name with a single CN (UTF8String), encoded by `cryptography` (8x faster than Name.build)."""
    encoded = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, value)]).public_bytes()
    return x509.Name.load(encoded)


def time_value(moment: datetime) -> x509.Time:
    """UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5)."""
    if moment.year < 2050:
        return x509.Time({"utc_time": moment})
    return x509.Time({"general_time": moment})


def validity(not_before: datetime, not_after: datetime) -> x509.Validity:
    return x509.Validity({"not_before": time_value(not_before), "not_after": time_value(not_after)})


def key_identifier(spki: keys.PublicKeyInfo) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value."""
    bits = spki["public_key"].contents[1:]  # the BIT STRING value without its unused-bits octet
    return hashlib.sha1(bits).digest()  # noqa: S324 - RFC 5280 prescribes SHA-1 here


def extension(name: str, value: core.Asn1Value | bytes, critical: bool) -> x509.Extension:
    return x509.Extension({"extn_id": name, "critical": critical, "extn_value": value})


def basic_constraints(ca: bool, path_len: int | None = None) -> x509.Extension:
    value: dict = {"ca": ca}
    if ca and path_len is not None:
        value["path_len_constraint"] = path_len
    return extension("basic_constraints", x509.BasicConstraints(value), critical=True)


def key_usage(usages: Iterable[str]) -> x509.Extension:
    """Critical KeyUsage, e.g. {"digital_signature", "key_cert_sign", "crl_sign"}."""
    return extension("key_usage", x509.KeyUsage(set(usages)), critical=True)


def extended_key_usage(purposes: Iterable[str]) -> x509.Extension:
    return extension("extended_key_usage", x509.ExtKeyUsageSyntax(list(purposes)), critical=False)


def subject_key_identifier(identifier: bytes) -> x509.Extension:
    return extension("key_identifier", core.OctetString(identifier), critical=False)


def authority_key_identifier(identifier: bytes) -> x509.Extension:
    return extension("authority_key_identifier", x509.AuthorityKeyIdentifier({"key_identifier": identifier}), False)


def revocation_id_extension(revocation_id: str) -> x509.Extension:
    """The emulator's private, non-critical revocation-identifier extension."""
    return extension(REVOCATION_ID_OID, core.UTF8String(revocation_id).dump(), critical=False)


def parse_revocation_id(extn_value: bytes) -> str:
    """Decode the revocation-identifier extension's value (a DER UTF8String)."""
    return core.UTF8String.load(extn_value).native


def extensions_value(items: list[x509.Extension]) -> x509.Extensions:
    return _frozen(x509.Extensions(items))


def tbs_certificate(
    *,
    serial: int,
    hash_name: str,
    issuer: x509.Name,
    subject: x509.Name,
    not_before: datetime,
    not_after: datetime,
    public_key: keys.PublicKeyInfo,
    extensions: list[x509.Extension],
) -> x509.TbsCertificate:
    return x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": signature_algorithm(hash_name),
            "issuer": issuer,
            "validity": validity(not_before, not_after),
            "subject": subject,
            "subject_public_key_info": public_key,
            "extensions": extensions_value(extensions),
        }
    )


def certificate(tbs_der: bytes, hash_name: str, signature: bytes) -> bytes:
    """The signed Certificate's DER; the TBS is embedded exactly as the bytes that were signed."""
    return x509.Certificate(
        {
            "tbs_certificate": x509.TbsCertificate.load(tbs_der),
            "signature_algorithm": signature_algorithm(hash_name),
            "signature_value": signature,
        }
    ).dump()


def certification_request_info(
    subject: x509.Name, public_key: keys.PublicKeyInfo, requested: list[x509.Extension]
) -> csr.CertificationRequestInfo:
    attributes = []
    if requested:
        attributes.append({"type": "extension_request", "values": [requested]})
    return csr.CertificationRequestInfo(
        {"version": "v1", "subject": subject, "subject_pk_info": public_key, "attributes": attributes}
    )


def certification_request(info_der: bytes, hash_name: str, signature: bytes) -> bytes:
    return csr.CertificationRequest(
        {
            "certification_request_info": csr.CertificationRequestInfo.load(info_der),
            "signature_algorithm": signature_algorithm(hash_name),
            "signature": signature,
        }
    ).dump()
