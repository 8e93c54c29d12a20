"""TPM attestation crypto against a real swtpm: the service's `authenticationKey` challenge can be
activated and imported only by the TPM whose EK and SRK it was made for, and the imported key signs
what the service expects. Plus the blob layout, read by hand as the device SDKs' parsers describe it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

import pytest

from tests.support.swtpm import device_in_swtpm, require_tpm_stack, running_swtpm

require_tpm_stack()

from tpm2_pytss import TSS2_Exception  # noqa: E402 - after the probe, so a machine without it skips
from tpm2_pytss.constants import TPM2_ALG, TPMA_OBJECT  # noqa: E402
from tpm2_pytss.types import TPM2B_PUBLIC, TPMT_PUBLIC  # noqa: E402

from provider.dps import tpm  # noqa: E402
from provider.tpm_device import DeviceTpm, open_device_tpm  # noqa: E402


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> DeviceTpm:
    with device_in_swtpm(tmp_path_factory.mktemp("swtpm")) as opened:
        yield opened


def _challenge_for(device: DeviceTpm) -> tpm.TpmChallenge:
    return tpm.make_challenge(tpm.parse_public(device.endorsement_key_b64, "endorsementKey"),
                              tpm.parse_public(device.storage_root_key_b64, "storageRootKey"))


def test_the_tpm_imports_the_challenge_and_signs_with_the_issued_key(device):
    assert len(base64.b64decode(device.endorsement_key_b64)) == 316  # RSA-2048 EK, as the SDKs send it
    challenge = _challenge_for(device)
    key = device.import_challenge(challenge.blob_b64)
    to_sign = b"0ne00000001/registrations/tpm-device\n1999999999"
    assert device.hmac(key, to_sign) == hmac.new(challenge.hmac_key, to_sign, hashlib.sha256).digest()
    device.esapi.flush_context(key)


def test_a_challenge_for_another_tpm_cannot_be_activated(device, tmp_path):
    with running_swtpm(tmp_path / "other") as tcti:
        other = open_device_tpm(tcti)
        try:
            assert other.endorsement_key_b64 != device.endorsement_key_b64
            challenge = _challenge_for(other)
        finally:
            other.close()
    with pytest.raises(TSS2_Exception):
        device.import_challenge(challenge.blob_b64)


def test_the_keys_persist_across_a_tpm_restart(tmp_path):
    with running_swtpm(tmp_path / "tpm") as tcti:
        first = open_device_tpm(tcti)
        ek, srk = first.endorsement_key_b64, first.storage_root_key_b64
        first.close()
    with running_swtpm(tmp_path / "tpm") as tcti:
        again = open_device_tpm(tcti)
        assert (again.endorsement_key_b64, again.storage_root_key_b64) == (ek, srk)
        again.close()


def _sized(blob: bytes, offset: int) -> tuple[bytes, int]:
    (size,) = struct.unpack_from(">H", blob, offset)
    return blob[offset + 2:offset + 2 + size], offset + 2 + size


def test_the_blob_layout_is_six_sized_structures(device):
    """The SDK parsers read, big-endian and back to back: TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET,
    TPM2B_PRIVATE, TPM2B_ENCRYPTED_SECRET, TPM2B_PUBLIC, TPM2B_DATA; each a 2-byte size then its bytes."""
    blob = _challenge_for(device).blob
    offset, parts = 0, []
    for _ in range(6):
        part, offset = _sized(blob, offset)
        parts.append(part)
    assert offset == len(blob)
    credential, ek_seed, duplicate, srk_seed, public, data = parts
    assert len(ek_seed) == 256 and len(srk_seed) == 256  # RSA-2048 OAEP to the EK and to the SRK
    # the credential: integrity HMAC (a sized SHA-256 digest) then the encrypted inner key
    integrity, rest = _sized(credential, 0)
    assert len(integrity) == 32 and len(credential) - rest == 2 + 16  # sized AES-128 key
    assert len(duplicate) > 32 and data == b""
    # the HMAC key's public area: KEYEDHASH, nameAlg SHA-256, sign|userWithAuth, scheme HMAC-SHA256
    kind, name_alg, attributes = struct.unpack_from(">HHI", public, 0)
    assert (kind, name_alg) == (int(TPM2_ALG.KEYEDHASH), int(TPM2_ALG.SHA256))
    assert attributes & int(TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.USERWITHAUTH) == int(
        TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.USERWITHAUTH)
    policy, offset = _sized(public, 8)
    scheme, scheme_hash = struct.unpack_from(">HH", public, offset)
    assert policy == b"" and (scheme, scheme_hash) == (int(TPM2_ALG.HMAC), int(TPM2_ALG.SHA256))
    unique, end = _sized(public, offset + 4)
    assert len(unique) == 32 and end == len(public)
    assert tpm.parse_challenge(blob).public.marshal()[2:] == public


def _b64(public: TPMT_PUBLIC) -> str:
    return base64.b64encode(TPM2B_PUBLIC(public).marshal()).decode()


@pytest.mark.parametrize("value, message", [
    (None, "must be the base64"),
    ("", "must be the base64"),
    ("not base64!", "not a valid TPM2B_PUBLIC"),
    (base64.b64encode(b"\x01\x3a\x00\x01").decode(), "not a valid TPM2B_PUBLIC"),   # truncated
])
def test_malformed_public_areas_are_refused(value, message):
    with pytest.raises(tpm.TpmInputError, match=message):
        tpm.parse_public(value, "endorsementKey")


def test_trailing_bytes_are_refused(device):
    raw = base64.b64decode(device.endorsement_key_b64) + b"\x00"
    with pytest.raises(tpm.TpmInputError, match="parsed 316"):
        tpm.parse_public(base64.b64encode(raw).decode(), "endorsementKey")
    with pytest.raises(tpm.TpmInputError, match="after its six structures"):
        tpm.parse_challenge(_challenge_for(device).blob + b"\x00")


def test_a_key_that_is_not_an_endorsement_key_is_refused(device):
    srk = tpm.parse_public(device.storage_root_key_b64, "storageRootKey")
    signing = TPMT_PUBLIC.parse(alg="rsa2048", objectAttributes=TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.FIXEDTPM
                                | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN | TPMA_OBJECT.USERWITHAUTH)
    ecc = TPMT_PUBLIC.parse(alg="ecc256:aes128cfb", objectAttributes=TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.DECRYPT
                            | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN)
    for public, message in ((signing, "is not a storage/endorsement key"), (ecc, "must be an RSA key")):
        with pytest.raises(tpm.TpmInputError, match=message):
            tpm.make_challenge(tpm.parse_public(_b64(public), "endorsementKey"), srk)


def test_the_registration_id_an_sdk_derives_from_the_ek(device):
    expected = base64.b32encode(hashlib.sha256(base64.b64decode(device.endorsement_key_b64)).digest())
    derived = tpm.registration_id_for(device.endorsement_key_b64)
    assert derived == expected.decode().lower().rstrip("=") and len(derived) == 52
