"""TPM attestation, device side: what Azure's device SDKs do with a TPM, through tpm2-pytss.

Used by tests against a real `swtpm` and by the device CLI. The keys follow the SDKs' templates
(`../shared/research/dps-tpm.md`): the EK at 0x81010001 and the SRK at 0x81000001, reused when
already persisted; the imported HMAC key signs the registration SAS. A device key for the certificate (`--tpm-key`) is
a P-384 signing key created under the SRK: its private part leaves the TPM only wrapped by the SRK,
as a `TSS2 PRIVATE KEY` PEM that tpm2-openssl and tpm2-tss-engine load.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from tpm2_pytss import ESAPI
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CAP, TPM2_ECC, TPM2_HR, TPM2_SE, TPMA_OBJECT
from tpm2_pytss.cryptography import tpm_ecc_private_key
from tpm2_pytss.tsskey import TSSPrivKey
from tpm2_pytss.types import (
    TPM2B_DIGEST,
    TPM2B_MAX_BUFFER,
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE_CREATE,
    TPMT_PUBLIC,
    TPMT_SYM_DEF,
)

from provider.dps.tpm import EK_REQUIRED_ATTRIBUTES, INNER_WRAP, parse_challenge, registration_id_for

EK_HANDLE = 0x81010001
SRK_HANDLE = 0x81000001
# PolicySecret(TPM_RH_ENDORSEMENT): the EK's auth policy in the TCG EK credential profile.
EK_POLICY = bytes.fromhex("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa")
# what the service checks (a restricted decryption key fixed to this TPM), plus each key's authorisation
EK_ATTRIBUTES = EK_REQUIRED_ATTRIBUTES | TPMA_OBJECT.ADMINWITHPOLICY
SRK_ATTRIBUTES = EK_REQUIRED_ATTRIBUTES | TPMA_OBJECT.NODA | TPMA_OBJECT.USERWITHAUTH


def _rsa_storage_template(attributes: TPMA_OBJECT, policy: bytes = b"") -> TPM2B_PUBLIC:
    area = TPMT_PUBLIC.parse(alg="rsa2048:aes128cfb", nameAlg=TPM2_ALG.SHA256, objectAttributes=attributes)
    area.authPolicy = TPM2B_DIGEST(policy)
    return TPM2B_PUBLIC(area)


@dataclass
class TpmDeviceKey:
    """A key in the TPM: `private_key` signs through it (a `cryptography` key), `pem` reloads it later."""

    private_key: ec.EllipticCurvePrivateKey
    pem: bytes  # TSS2 PRIVATE KEY: the TPM2B_PUBLIC and the SRK-wrapped TPM2B_PRIVATE, never the key itself


@dataclass
class DeviceTpm:
    """An open TPM with the device's EK and SRK loaded."""

    esapi: ESAPI
    ek: ESYS_TR
    srk: ESYS_TR
    ek_public: TPM2B_PUBLIC
    srk_public: TPM2B_PUBLIC

    @property
    def endorsement_key_b64(self) -> str:
        return base64.b64encode(self.ek_public.marshal()).decode()

    @property
    def derived_registration_id(self) -> str:
        """The registration id a device SDK uses when given none."""
        return registration_id_for(self.endorsement_key_b64)

    @property
    def storage_root_key_b64(self) -> str:
        return base64.b64encode(self.srk_public.marshal()).decode()

    def import_challenge(self, authentication_key_b64: str) -> ESYS_TR:
        """ActivateCredential with the EK for the inner key, Import and Load the HMAC key under the SRK."""
        parts = parse_challenge(base64.b64decode(authentication_key_b64))
        session = self.esapi.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                                                TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
        try:
            self.esapi.policy_secret(ESYS_TR.ENDORSEMENT, session, b"", b"", b"", 0)
            inner_key = self.esapi.activate_credential(self.srk, self.ek, parts.credential, parts.encrypted_seed,
                                                       session1=ESYS_TR.PASSWORD, session2=session)
        finally:
            self.esapi.flush_context(session)
        private = self.esapi.import_(self.srk, bytes(inner_key), parts.public, parts.duplicate,
                                     parts.outer_seed, INNER_WRAP)
        return self.esapi.load(self.srk, private, parts.public)

    @contextmanager
    def new_device_key(self) -> Iterator[TpmDeviceKey]:
        """A new P-384 signing key under the SRK, loaded while the block runs (a CSR whose key never leaves
        this TPM), then flushed: a TPM without a resource manager has only a few object slots."""
        blob = TSSPrivKey.create_ecc(self.esapi, curveID=TPM2_ECC.NIST_P384, parent=SRK_HANDLE)
        handle = blob.load(self.esapi)
        try:
            yield TpmDeviceKey(tpm_ecc_private_key(self.esapi, handle), blob.to_pem())
        finally:
            self.esapi.flush_context(handle)

    def hmac(self, key: ESYS_TR, data: bytes) -> bytes:
        return bytes(self.esapi.hmac(key, TPM2B_MAX_BUFFER(data), TPM2_ALG.SHA256))

    def close(self) -> None:
        self.esapi.close()


def _persisted(esapi: ESAPI, handle: int) -> bool:
    _, data = esapi.get_capability(TPM2_CAP.HANDLES, TPM2_HR.PERSISTENT, 64)
    return handle in list(data.data.handles)


def _primary(esapi: ESAPI, hierarchy: ESYS_TR, template: TPM2B_PUBLIC, persistent: int,
             owner: ESYS_TR) -> ESYS_TR:
    if _persisted(esapi, persistent):
        return esapi.tr_from_tpmpublic(persistent)
    handle, _, _, _, _ = esapi.create_primary(TPM2B_SENSITIVE_CREATE(), template, hierarchy)
    kept = esapi.evict_control(owner, handle, persistent)
    esapi.flush_context(handle)
    return kept


def open_device_tpm(tcti: str) -> DeviceTpm:
    """Open the TPM at `tcti` (e.g. `swtpm:host=127.0.0.1,port=2321`), creating the EK/SRK when absent."""
    esapi = ESAPI(tcti)
    ek = _primary(esapi, ESYS_TR.ENDORSEMENT, _rsa_storage_template(EK_ATTRIBUTES, EK_POLICY), EK_HANDLE,
                  ESYS_TR.OWNER)
    srk = _primary(esapi, ESYS_TR.OWNER, _rsa_storage_template(SRK_ATTRIBUTES), SRK_HANDLE, ESYS_TR.OWNER)
    ek_public, _, _ = esapi.read_public(ek)
    srk_public, _, _ = esapi.read_public(srk)
    return DeviceTpm(esapi, ek, srk, ek_public, srk_public)
