"""TPM attestation, the registration flow: challenge, then a SAS signed by the key the TPM imported.

Round 1: the device sends its EK and SRK (no Authorization). When the EK is the one enrolled, the
service answers 401 `{"authenticationKey": ...}`: an HMAC key only that TPM can import. The key is
kept with the enrollment (a new challenge replaces it, so an older challenge's key stops working).
Round 2: the device signs the SAS with the imported key and registers again; polls and status
lookups use the same SAS. The assigned result carries a second blob in the same layout whose key
becomes the hub device's symmetric key.

The crypto is `provider.dps.tpm` (tpm2-pytss, the optional `tpm` extra). This is the one place that
tolerates its absence: without it a TPM registration is answered with a clear DPS error.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, NoReturn

from provider.dps import errors, records
from provider.dps.attestation import Attested, sas_refusal
from provider.dps.errors import DpsError
from provider.dps.sas import SasError, parse_sas, verify_sas
from provider.store import Store

try:
    from provider.dps import tpm as tpm_crypto
except ImportError:  # the optional `tpm` extra (tpm2-pytss) is not installed
    tpm_crypto = None

CHALLENGE_FIELD = "_tpmChallenge"  # on the stored enrollment; `_` fields never leave the service


def _crypto() -> Any:
    if tpm_crypto is None:
        raise DpsError(errors.TPM_NOT_EMULATED,
                       "TPM attestation needs the emulator's `tpm` extra: apt-get install -y libtss2-dev, then "
                       "pip install 'adr-emulator[tpm]'.")
    return tpm_crypto


def enrollment_key_problem(keys: dict[str, str]) -> str | None:
    """Why an enrollment's EK or SRK cannot be used (None when both can). Without the extra the keys are
    checked at the challenge instead."""
    if tpm_crypto is None:
        return None
    try:
        for name, value in keys.items():
            tpm_crypto.check_key(tpm_crypto.parse_public(value, f"attestation.tpm.{name}"), f"attestation.tpm.{name}")
    except tpm_crypto.TpmInputError as exc:
        return str(exc)
    return None


def uses_tpm(enrollment: dict[str, Any] | None) -> bool:
    return enrollment is not None and enrollment["attestation"].get("type") == "tpm"


def tpm_enrollment(store: Store, dps_key: str, registration_id: str) -> dict[str, Any] | None:
    """The individual enrollment for `registration_id` when it uses TPM attestation."""
    individual = records.get_enrollment(store, dps_key, records.INDIVIDUAL, registration_id)
    return individual if uses_tpm(individual) else None


def _decoded(value: Any) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except (binascii.Error, ValueError):
        return None


def _publics(crypto: Any, ek_b64: str, srk_b64: str) -> tuple[Any, Any]:
    try:
        return crypto.parse_public(ek_b64, "tpm.endorsementKey"), crypto.parse_public(srk_b64, "tpm.storageRootKey")
    except crypto.TpmInputError as exc:
        raise DpsError(errors.TPM_INVALID, str(exc)) from None


def challenge(store: Store, dps_key: str, registration_id: str, tpm: dict[str, Any]) -> NoReturn:
    """Round 1: check the EK against the enrollment, keep a new key, answer 401 with its challenge."""
    enrollment = tpm_enrollment(store, dps_key, registration_id)
    if enrollment is None:
        raise DpsError(errors.NO_ENROLLMENT, f"No TPM enrollment for registration '{registration_id}'.")
    crypto = _crypto()
    enrolled = enrollment["attestation"]["tpm"]
    sent_ek = _decoded(tpm.get("endorsementKey"))
    if sent_ek is None or sent_ek != _decoded(enrolled.get("endorsementKey")):
        raise DpsError(errors.UNAUTHORIZED,
                       f"Unauthorized: the endorsement key sent is not the one enrolled for '{registration_id}'.")
    srk_b64 = tpm.get("storageRootKey") or enrolled.get("storageRootKey")
    if not isinstance(srk_b64, str):
        raise DpsError(errors.TPM_INVALID, "tpm.storageRootKey is required: the challenge is made for the SRK.")
    ek, srk = _publics(crypto, tpm["endorsementKey"], srk_b64)
    made = _make(crypto, ek, srk)
    with store.transaction():
        enrollment[CHALLENGE_FIELD] = {"key": base64.b64encode(made.hmac_key).decode(), "storageRootKey": srk_b64}
        records.put_enrollment(store, dps_key, records.INDIVIDUAL, registration_id, enrollment)
    raise DpsError(errors.TPM_CHALLENGE, "Unauthorized: activate this authenticationKey with the TPM, sign a "
                   "SharedAccessSignature with the key it holds and register again.",
                   body={"authenticationKey": made.blob_b64})


def _make(crypto: Any, ek: Any, srk: Any) -> Any:
    try:
        return crypto.make_challenge(ek, srk)
    except crypto.TpmInputError as exc:
        raise DpsError(errors.TPM_INVALID, str(exc)) from None


def by_sas(id_scope: str, enrollment: dict[str, Any], registration_id: str, token: str, now: float) -> Attested:
    """Round 2 (and polls): the SAS must verify with the key of the latest challenge."""
    kept = enrollment.get(CHALLENGE_FIELD)
    if not kept:
        raise DpsError(errors.UNAUTHORIZED, f"Unauthorized: '{registration_id}' uses TPM attestation; send its "
                       "endorsementKey and storageRootKey first to get an authenticationKey challenge.")
    try:
        verify_sas(parse_sas(token), {"registration": [kept["key"]]}, f"{id_scope}/registrations/{registration_id}",
                   now)
    except SasError as exc:
        refusal = sas_refusal(exc)
        raise DpsError(refusal.error_code, f"{refusal.message} TPM: the SAS must be signed by the key of the "
                       "latest authenticationKey challenge.") from None
    return Attested(enrollment, records.INDIVIDUAL, "tpm", extra={"storageRootKey": kept["storageRootKey"]})


def device_credential(attested: Attested) -> tuple[str, str]:
    """(hub SAS key, its authenticationKey blob) for the assigned result: made once, at assignment."""
    crypto = _crypto()
    enrolled = attested.enrollment["attestation"]["tpm"]
    ek, srk = _publics(crypto, enrolled["endorsementKey"], attested.extra["storageRootKey"])
    made = _make(crypto, ek, srk)
    return base64.b64encode(made.hmac_key).decode(), made.blob_b64
