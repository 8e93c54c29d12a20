"""TPM attestation, service side: check an endorsement key and build the `authenticationKey` challenge.

The challenge hands the device an HMAC key that only its TPM can import: a credential made for the
EK (bound to the SRK's Name) carries the inner wrap key, and a duplication blob of the HMAC key for
the SRK is wrapped with it. Six TPM structures, marshalled one after the other, in the order Azure's
device SDKs parse them (see `../shared/research/dps-tpm.md`). The TPM structures and the
credential/duplication crypto are tpm2-pytss's (`utils.make_credential`, `utils.wrap`); this module
only chooses the keys and the order.

tpm2-pytss is the optional `tpm` extra (it builds against the tss2 libraries), so it is imported
here and nowhere else; without it a TPM enrollment is refused with a clear error.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from tpm2_pytss import utils
from tpm2_pytss.constants import TPM2_ALG, TPMA_OBJECT
from tpm2_pytss.types import (
    TPM2B_DATA,
    TPM2B_ENCRYPTED_SECRET,
    TPM2B_ID_OBJECT,
    TPM2B_PRIVATE,
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE,
    TPMT_KEYEDHASH_SCHEME,
    TPMT_SENSITIVE,
    TPMT_SYM_DEF_OBJECT,
    TPMU_SYM_KEY_BITS,
    TPMU_SYM_MODE,
)

HMAC_KEY_BYTES = 32
INNER_WRAP = TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.AES, keyBits=TPMU_SYM_KEY_BITS(sym=128),
                                 mode=TPMU_SYM_MODE(sym=TPM2_ALG.CFB))
# What makes a key an endorsement key: a restricted decryption key fixed to this TPM, created by it.
EK_REQUIRED_ATTRIBUTES = (TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.DECRYPT | TPMA_OBJECT.FIXEDTPM
                          | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN)
HMAC_KEY_ATTRIBUTES = TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.NODA


class TpmInputError(ValueError):
    """A public area that is not what the flow needs; the message says what is wrong."""


@dataclass(frozen=True)
class TpmChallenge:
    """The `authenticationKey` blob and the HMAC key inside it (which the service keeps, wrapped)."""

    blob: bytes
    hmac_key: bytes

    @property
    def blob_b64(self) -> str:
        return base64.b64encode(self.blob).decode()


def parse_public(b64: object, what: str) -> TPM2B_PUBLIC:
    """A base64 TPM2B_PUBLIC, whole and nothing after it."""
    if not isinstance(b64, str) or not b64:
        raise TpmInputError(f"{what} must be the base64 of a TPM2B_PUBLIC")
    try:
        raw = base64.b64decode(b64, validate=True)
        public, used = TPM2B_PUBLIC.unmarshal(raw)
    except Exception as exc:  # noqa: BLE001 - base64 and TSS unmarshal errors alike mean malformed input
        raise TpmInputError(f"{what} is not a valid TPM2B_PUBLIC ({type(exc).__name__})") from None
    if used != len(raw) or public.size == 0:
        raise TpmInputError(f"{what} is not a valid TPM2B_PUBLIC (length {len(raw)}, parsed {used})")
    return public


def check_key(public: TPM2B_PUBLIC, what: str) -> None:
    """The flow encrypts secrets to the EK and the SRK: each must be a restricted RSA decryption key
    that never leaves its TPM."""
    area = public.publicArea
    if area.type != TPM2_ALG.RSA:
        raise TpmInputError(f"{what} must be an RSA key (type {int(area.type):#06x})")
    missing = EK_REQUIRED_ATTRIBUTES & ~area.objectAttributes
    if missing or area.objectAttributes & TPMA_OBJECT.SIGN_ENCRYPT:
        raise TpmInputError(f"{what} is not a storage/endorsement key: its attributes are "
                            f"{str(area.objectAttributes) or 'none'}, it needs {str(EK_REQUIRED_ATTRIBUTES)}")


def registration_id_for(endorsement_key_b64: str) -> str:
    """The id a device SDK derives when given none: base32(SHA-256(TPM2B_PUBLIC)), lower case, unpadded."""
    digest = hashlib.sha256(base64.b64decode(endorsement_key_b64)).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")


def make_challenge(endorsement_key: TPM2B_PUBLIC, storage_root_key: TPM2B_PUBLIC,
                   hmac_key: bytes | None = None) -> TpmChallenge:
    """A new HMAC key, duplicated for the SRK and protected by a credential only the EK can activate."""
    check_key(endorsement_key, "endorsementKey")
    check_key(storage_root_key, "storageRootKey")
    key = hmac_key if hmac_key is not None else os.urandom(HMAC_KEY_BYTES)
    inner_key = os.urandom(16)  # AES-128: the device learns the size from what ActivateCredential returns
    credential, encrypted_seed = utils.make_credential(endorsement_key, inner_key, storage_root_key.get_name())
    scheme = TPMT_KEYEDHASH_SCHEME(scheme=TPM2_ALG.HMAC)
    scheme.details.hmac.hashAlg = TPM2_ALG.SHA256
    sensitive, public_area = TPMT_SENSITIVE.keyedhash_from_secret(
        key, nameAlg=TPM2_ALG.SHA256, objectAttributes=HMAC_KEY_ATTRIBUTES, scheme=scheme)
    public = TPM2B_PUBLIC(public_area)
    _, duplicate, outer_seed = utils.wrap(storage_root_key.publicArea, public, TPM2B_SENSITIVE(sensitive),
                                          inner_key, INNER_WRAP)
    parts = (credential, encrypted_seed, duplicate, outer_seed, public, TPM2B_DATA())
    return TpmChallenge(b"".join(part.marshal() for part in parts), key)


@dataclass(frozen=True)
class ChallengeParts:
    """The six structures of an `authenticationKey`, as a device parses them."""

    credential: TPM2B_ID_OBJECT
    encrypted_seed: TPM2B_ENCRYPTED_SECRET
    duplicate: TPM2B_PRIVATE
    outer_seed: TPM2B_ENCRYPTED_SECRET
    public: TPM2B_PUBLIC
    data: TPM2B_DATA


def parse_challenge(blob: bytes) -> ChallengeParts:
    """Split an `authenticationKey` the way the device SDKs do; trailing bytes are an error."""
    offset, parts = 0, []
    for kind in (TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET, TPM2B_PRIVATE, TPM2B_ENCRYPTED_SECRET,
                 TPM2B_PUBLIC, TPM2B_DATA):
        part, used = kind.unmarshal(blob[offset:])
        parts.append(part)
        offset += used
    if offset != len(blob):
        raise TpmInputError(f"authenticationKey has {len(blob) - offset} bytes after its six structures")
    return ChallengeParts(*parts)
