"""Sign asn1crypto structures through a key store and check the result before anyone sees it.

Every certificate and CSR produced by the PKI passes through here: the DER of the to-be-signed
part goes to `KeyStore.sign`, the signed object is assembled by asn1crypto, re-parsed by
`cryptography` and its signature verified with the signer's public key. A misbehaving backend
(wrong key, corrupted signature) therefore fails loudly instead of handing out a broken chain.
"""

from __future__ import annotations

from asn1crypto import csr as asn1_csr
from asn1crypto import keys
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provider.keystore import CURVE_HASH, KeyStore, KeyStoreError
from provider.keystore.base import HASHES, curve_name
from provider.pki import asn1build
from provider.pki.errors import PkiError


def hash_for(public_key: ec.EllipticCurvePublicKey) -> str:
    """The hash that matches a signing key's curve (SHA-384 for the P-384 CAs)."""
    return CURVE_HASH[curve_name(public_key)]


def spki_of(public_key: ec.EllipticCurvePublicKey) -> keys.PublicKeyInfo:
    """asn1crypto SubjectPublicKeyInfo from a `cryptography` public key (canonical encoding)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return keys.PublicKeyInfo.load(der)


def csr_spki(request: x509.CertificateSigningRequest) -> keys.PublicKeyInfo:
    """The CSR's SubjectPublicKeyInfo as sent (copied verbatim into the certificate, as CAs do)."""
    return asn1_csr.CertificationRequestInfo.load(request.tbs_certrequest_bytes)["subject_pk_info"]


def _sign(keystore: KeyStore, key_id: str, data: bytes, hash_name: str) -> bytes:
    try:
        return keystore.sign(key_id, data, hash_name)
    except KeyStoreError as exc:
        raise PkiError("SigningKeyUnavailable", f"the CA signing key is unavailable: {exc}") from None


def sign_certificate(
    keystore: KeyStore,
    key_id: str,
    issuer_public_key: ec.EllipticCurvePublicKey,
    tbs_der: bytes,
    hash_name: str,
) -> x509.Certificate:
    """Sign a DER TBSCertificate with `key_id`, assemble the certificate, verify it with the issuer's key."""
    signature = _sign(keystore, key_id, tbs_der, hash_name)
    cert = x509.load_der_x509_certificate(asn1build.certificate(tbs_der, hash_name, signature))
    try:
        issuer_public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(HASHES[hash_name]()))
    except InvalidSignature:
        raise PkiError("SigningFailed", "the key store returned a signature that does not verify") from None
    return cert


def sign_csr(
    keystore: KeyStore, key_id: str, info: asn1_csr.CertificationRequestInfo, hash_name: str
) -> x509.CertificateSigningRequest:
    """Sign a CertificationRequestInfo with `key_id` and check the result is a valid CSR."""
    info_der = info.dump()
    signature = _sign(keystore, key_id, info_der, hash_name)
    request = x509.load_der_x509_csr(asn1build.certification_request(info_der, hash_name, signature))
    if not request.is_signature_valid:
        raise PkiError("SigningFailed", "the key store returned a CSR signature that does not verify")
    return request
