"""Bring-your-own-root activation: check the chain a user returns for the service's CSR.

Rules (adr-howto §4.9, ADR `ActivateBringYourOwnRootRequest`), each with its own error code:

* the PEM chain is ordered leaf->root; its first certificate is the signed CSR (same key, same
  subject); intermediates follow and the root is optional, but the certificate that signed the
  CSR must be present, or its signature (and the root's key type) could not be checked at all;
* the signed issuing-CA certificate is X.509 v3 with a critical BasicConstraints CA:TRUE, a
  KeyUsage with digitalSignature, keyCertSign and cRLSign, an SKI, an EKU (if any) including
  clientAuth, already valid and valid for at least 365 more days;
* every signature in the chain is ECDSA with SHA-256 or stronger (SHA-1 is rejected);
* external CAs have EC P-256/P-384/P-521 named-curve keys (RSA is rejected) and a path length
  that allows the issuing CA below them (1 for a root signing it directly).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from provider.pki.errors import PkiError

MIN_REMAINING_VALIDITY = timedelta(days=365)
_ROOT_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_ECDSA_STRONG = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    SignatureAlgorithmOID.ECDSA_WITH_SHA3_256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA3_384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA3_512,
}
_WEAK_HASHES = (hashes.SHA1, hashes.MD5, hashes.SHA224)
TARGET = "certificateChain"
_ROOT_KEY_RULE = "the external root must use an ECC P-256, P-384 or P-521 named-curve key (RSA is not supported)"


def parse_chain(chain_pem: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise PkiError(
            "InvalidCertificateChain", "the certificate chain is not a sequence of PEM certificates", TARGET
        ) from None
    return certs


def _describe(cert: x509.Certificate, index: int) -> str:
    return f"certificate #{index + 1} ({cert.subject.rfc4514_string() or 'empty subject'})"


def _check_ca_key(cert: x509.Certificate, index: int) -> None:
    """External CA keys must be ECC on P-256/P-384/P-521, encoded as a named curve."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise PkiError(
            "UnsupportedRootKeyType",
            f"{_describe(cert, index)} has a key that is not an ECC named curve; {_ROOT_KEY_RULE}",
            TARGET,
        ) from None
    if isinstance(key, rsa.RSAPublicKey):
        raise PkiError(
            "UnsupportedRootKeyType",
            f"{_describe(cert, index)} has an RSA-{key.key_size} key; {_ROOT_KEY_RULE}",
            TARGET,
        )
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _ROOT_CURVES:
        raise PkiError(
            "UnsupportedRootKeyType",
            f"{_describe(cert, index)} has an unsupported key type; {_ROOT_KEY_RULE}",
            TARGET,
        )


def _check_signature_algorithm(cert: x509.Certificate, index: int) -> None:
    oid = cert.signature_algorithm_oid
    if oid in _ECDSA_STRONG:
        return
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if isinstance(algorithm, _WEAK_HASHES):
        raise PkiError(
            "WeakSignatureAlgorithm",
            f"{_describe(cert, index)} is signed with {algorithm.name.upper()}; use ecdsa-with-SHA256 or stronger",
            TARGET,
        )
    name = getattr(oid, "_name", oid.dotted_string)
    code = "UnsupportedRootKeyType" if "RSA" in name.upper() else "UnsupportedSignatureAlgorithm"
    raise PkiError(code, f"{_describe(cert, index)} is signed with {name}; the root must sign with ECDSA", TARGET)


def _extension(cert: x509.Certificate, cls: type, index: int) -> x509.Extension | None:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension):
        raise PkiError(
            "InvalidCertificateChain", f"{_describe(cert, index)} has undecodable extensions", TARGET
        ) from None


def validate_chain(
    certs: list[x509.Certificate], *, csr: x509.CertificateSigningRequest, now: datetime
) -> list[x509.Certificate]:
    """Check a BYOR chain against the service's CSR; return it (leaf->root) or raise PkiError."""
    if not certs:
        raise PkiError("InvalidCertificateChain", "the certificate chain is empty", TARGET)
    signed = certs[0]
    wanted_key = csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        got_key = signed.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, UnsupportedAlgorithm):
        got_key = b""
    if got_key != wanted_key:
        raise PkiError(
            "CertificateKeyMismatch",
            "the first certificate of the chain must be the signed CSR: its public key differs from the CSR's",
            TARGET,
        )
    if signed.subject != csr.subject:
        raise PkiError(
            "CertificateSubjectMismatch",
            f"the signed certificate's subject {signed.subject.rfc4514_string()!r} "
            f"must equal the CSR subject {csr.subject.rfc4514_string()!r}",
            TARGET,
        )
    if len(certs) < 2:
        raise PkiError(
            "InvalidCertificateChain",
            "the chain must include the CA certificate that signed the request (the root or an intermediate)",
            TARGET,
        )
    if signed.version is not x509.Version.v3:
        raise PkiError("InvalidCertificateVersion", "the signed certificate must be X.509 v3", TARGET)

    # the external CAs: key type, signature algorithms, linkage, CA-ness and path length
    for index, cert in enumerate(certs[1:], start=1):
        _check_ca_key(cert, index)
    for index, cert in enumerate(certs):
        _check_signature_algorithm(cert, index)
    for index, cert in enumerate(certs):
        issuer = certs[index + 1] if index + 1 < len(certs) else (cert if cert.issuer == cert.subject else None)
        if issuer is None:
            continue  # the root was left out: allowed, the chain ends at an intermediate
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            raise PkiError(
                "InvalidCertificateChain",
                f"{_describe(cert, index)} is not signed by the next certificate in the chain (order is leaf to root)",
                TARGET,
            ) from None
    for index, cert in enumerate(certs[1:], start=1):
        ext = _extension(cert, x509.BasicConstraints, index)
        if ext is None or not ext.value.ca:
            raise PkiError("InvalidCertificateChain", f"{_describe(cert, index)} is not a CA certificate", TARGET)
        if ext.value.path_length is not None and ext.value.path_length < index:
            raise PkiError(
                "InvalidPathLength",
                f"{_describe(cert, index)} has path length {ext.value.path_length}; "
                f"it must allow {index} CA certificate(s) below it (the root signing the issuing CA needs 1)",
                TARGET,
            )
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise PkiError("InvalidCertificateChain", f"{_describe(cert, index)} is not valid now", TARGET)

    # the signed issuing-CA certificate itself
    constraints = _extension(signed, x509.BasicConstraints, 0)
    if constraints is None or not constraints.critical or not constraints.value.ca:
        raise PkiError(
            "InvalidBasicConstraints", "the signed certificate needs a critical BasicConstraints with CA:TRUE", TARGET
        )
    usage = _extension(signed, x509.KeyUsage, 0)
    if usage is None or not (usage.value.digital_signature and usage.value.key_cert_sign and usage.value.crl_sign):
        raise PkiError(
            "InvalidKeyUsage",
            "the signed certificate's KeyUsage must include digitalSignature, keyCertSign and cRLSign",
            TARGET,
        )
    eku = _extension(signed, x509.ExtendedKeyUsage, 0)
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku.value:
        raise PkiError(
            "InvalidExtendedKeyUsage", "the signed certificate's ExtendedKeyUsage must include clientAuth", TARGET
        )
    if _extension(signed, x509.SubjectKeyIdentifier, 0) is None:
        raise PkiError("MissingSubjectKeyIdentifier", "the signed certificate needs a SubjectKeyIdentifier", TARGET)
    if signed.not_valid_before_utc > now:
        raise PkiError("CertificateNotYetValid", "the signed certificate is not valid yet", TARGET)
    if signed.not_valid_after_utc - now < MIN_REMAINING_VALIDITY:
        raise PkiError(
            "InsufficientValidity",
            "the signed certificate must be valid for at least 365 more days "
            f"(it expires {signed.not_valid_after_utc:%Y-%m-%d})",
            TARGET,
        )
    return certs
