"""What IoT Hub does when a device connects with an issued certificate (adr-howto §3).

The chain must build to one of the trusted certificates (the hub trusts the synced issuing CAs)
under the RFC 5280 / Web PKI profile of `cryptography.x509.verification` with the clientAuth EKU,
the leaf CN must be the device id, and the leaf's embedded revocation identifier must equal the
device's current one: the hub does not read CRLs, revoking a device rotates that identifier.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from provider.pki.asn1build import REVOCATION_ID_OID, parse_revocation_id
from provider.pki.errors import PkiError

_REVOCATION_OID = ObjectIdentifier(REVOCATION_ID_OID)
# device certificates carry no SubjectAlternativeName (the identity is the CN), so it is optional
_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
)
_CA_POLICY = ExtensionPolicy.webpki_defaults_ca()


def revocation_id_of(cert: x509.Certificate) -> str | None:
    try:
        ext = cert.extensions.get_extension_for_oid(_REVOCATION_OID)
    except x509.ExtensionNotFound:
        return None
    try:
        return parse_revocation_id(ext.value.value)
    except ValueError:
        return None


def _load(ders: list[bytes], what: str) -> list[x509.Certificate]:
    try:
        return [x509.load_der_x509_certificate(der) for der in ders]
    except ValueError:
        raise PkiError("InvalidCertificate", f"a {what} certificate is not valid DER") from None


def verify_device_chain(
    chain_der: list[bytes],
    trusted_der: list[bytes],
    *,
    device_id: str,
    current_revocation_id: str | None,
    at: datetime,
) -> x509.Certificate:
    """Raise PkiError unless the chain authenticates `device_id` at time `at`; return the leaf."""
    if not chain_der:
        raise PkiError("InvalidCertificate", "no client certificate was presented")
    chain = _load(chain_der, "presented")
    trusted = _load(trusted_der, "trusted")
    if not trusted:
        raise PkiError("UntrustedCertificateChain", "no trusted CA certificates are configured")
    leaf = chain[0]
    if at < leaf.not_valid_before_utc:
        raise PkiError(
            "CertificateNotYetValid",
            f"the device certificate is valid from {leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}",
        )
    if at > leaf.not_valid_after_utc:
        raise PkiError(
            "CertificateExpired", f"the device certificate expired at {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}"
        )
    verifier = (
        PolicyBuilder()
        .store(Store(trusted))
        .time(at)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, chain[1:])
    except VerificationError as exc:
        raise PkiError("UntrustedCertificateChain", f"the certificate chain is not trusted: {exc}") from None
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise PkiError("UntrustedCertificateChain", "the device certificate is not issued for clientAuth")
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1 or names[0].value != device_id:
        raise PkiError("DeviceIdMismatch", f"the certificate subject is not CN={device_id}")
    if current_revocation_id is not None and revocation_id_of(leaf) != current_revocation_id:
        raise PkiError("CertificateRevoked", "the device's certificates were revoked (revocation identifier changed)")
    return leaf
