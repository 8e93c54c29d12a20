"""Device CSR intake: decode what DPS or a device sends and apply the issuance rules in order.

Each rule has its own error code so a client can tell exactly what to fix:

1. decodable — `CsrTooLarge` (over 8 KiB of DER), `InvalidCsrEncoding` (not PEM, DER or base64),
   `InvalidCsr` (truncated or malformed DER);
2. `CsrSignatureInvalid` — the proof of possession fails;
3. `CsrSubjectMismatch` — the subject CN is not the device (registration) id;
4. `UnsupportedKeyType` — not an allowed key (EC P-384 by default; RSA under 2048 bits never);
5. `CaRequestNotAllowed` — the CSR asks for BasicConstraints CA=true.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from provider.pki.errors import PkiError

MAX_CSR_DER = 8 * 1024
#: Largest accepted encoded input: base64 of MAX_CSR_DER plus PEM armour and line breaks.
MAX_CSR_INPUT = MAX_CSR_DER * 4 // 3 + 1024

EC_KEYS = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
RSA_KEYS = {"RSA-2048": 2048, "RSA-3072": 3072, "RSA-4096": 4096}
SUPPORTED_KEY_TYPES = frozenset({*EC_KEYS.values(), *RSA_KEYS})

_PEM = re.compile(rb"-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----(.*?)-----END (?:NEW )?CERTIFICATE REQUEST-----", re.S)
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s]+")


def check_allowed_keys(allowed: tuple[str, ...]) -> frozenset[str]:
    """Validate a policy's allowed CSR key list (RSA below 2048 bits is never allowed)."""
    unknown = [name for name in allowed if name not in SUPPORTED_KEY_TYPES]
    if unknown:
        raise ValueError(f"unsupported CSR key types {unknown}; choose from {sorted(SUPPORTED_KEY_TYPES)}")
    return frozenset(allowed)


def decode_csr(data: bytes | str) -> bytes:
    """PEM, DER or base64 DER (DPS's form, without armour) -> DER."""
    if len(data) > MAX_CSR_INPUT:
        raise PkiError("CsrTooLarge", f"the CSR is larger than {MAX_CSR_DER} bytes", "csr")
    if isinstance(data, str):
        try:
            raw = data.encode("ascii")
        except UnicodeEncodeError:
            raise PkiError("InvalidCsrEncoding", "the CSR is neither PEM nor base64-encoded DER", "csr") from None
    else:
        raw = data
    pem = _PEM.search(raw)
    if pem is not None:
        text = pem.group(1)
    elif _BASE64_TEXT.fullmatch(raw):
        text = raw
    elif raw[:1] == b"\x30":
        der = raw
        text = None
    else:
        raise PkiError("InvalidCsrEncoding", "the CSR is neither PEM, DER nor base64-encoded DER", "csr")
    if text is not None:
        try:
            der = base64.b64decode(b"".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise PkiError("InvalidCsrEncoding", "the CSR is not valid base64", "csr") from None
    if len(der) > MAX_CSR_DER:
        raise PkiError("CsrTooLarge", f"the CSR is larger than {MAX_CSR_DER} bytes", "csr")
    return der


@dataclass(frozen=True)
class ValidCsr:
    request: x509.CertificateSigningRequest
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    key_type: str  # "P-384", "RSA-2048", ...


def key_type_of(public_key: object) -> str | None:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return EC_KEYS.get(public_key.curve.name)
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    return None


def validate_csr(data: bytes | str, device_id: str, allowed_keys: frozenset[str]) -> ValidCsr:
    """Apply the rules of the module docstring in order; the first broken one raises."""
    der = decode_csr(data)
    try:
        request = x509.load_der_x509_csr(der)
        subject = request.subject
    except ValueError:
        raise PkiError(
            "InvalidCsr", "the CSR is not a well-formed PKCS#10 request (truncated or corrupt DER)", "csr"
        ) from None
    try:
        public_key = request.public_key()
        signature_ok = request.is_signature_valid
    except UnsupportedAlgorithm:
        raise PkiError("UnsupportedKeyType", "the CSR's key or signature algorithm is not supported", "csr") from None
    except ValueError:
        raise PkiError("InvalidCsr", "the CSR's public key cannot be decoded", "csr") from None
    if not signature_ok:
        raise PkiError("CsrSignatureInvalid", "the CSR's signature does not verify with its own public key", "csr")
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = names[0].value if len(names) == 1 else None
    if common_name != device_id:
        found = "no single CN" if common_name is None else f"CN={common_name!r}"
        raise PkiError(
            "CsrSubjectMismatch",
            f"the CSR subject must be CN={device_id!r} (the registration id); found {found}",
            "csr",
        )
    key_type = key_type_of(public_key)
    if key_type is None or key_type not in allowed_keys:
        if key_type is not None:
            described = key_type
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            described = f"EC {public_key.curve.name}"
        else:
            described = type(public_key).__name__.removeprefix("_")
        raise PkiError(
            "UnsupportedKeyType",
            f"the CSR key {described} is not allowed; allowed: {', '.join(sorted(allowed_keys))}",
            "csr",
        )
    try:
        constraints = request.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    except (ValueError, x509.DuplicateExtension):
        raise PkiError("InvalidCsr", "the CSR's requested extensions cannot be decoded", "csr") from None
    if constraints is not None and constraints.ca:
        raise PkiError("CaRequestNotAllowed", "the CSR requests a CA certificate (BasicConstraints CA=true)", "csr")
    return ValidCsr(request, public_key, key_type)  # type: ignore[arg-type]
