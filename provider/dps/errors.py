"""DPS's error format: `ProvisioningServiceErrorDetails` plus the `x-ms-error-code` header.

Body: `{"errorCode": <6 digits>, "trackingId", "message", "timestampUtc"[, "info"]}`. The six-digit
code is the HTTP status followed by three digits (dps-api.md §1.5). Real DPS documents only a few
of them (401000, 401002, 400004), so the sub-codes below are the emulator's own catalogue: each
failure a client can fix has its own code and message, and `info` carries the machine-readable
reason (for CSR problems the PKI's code, e.g. `CsrSubjectMismatch`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

# ---- 400: the request is wrong -----------------------------------------------------------------------
BAD_REQUEST = 400000
INVALID_BODY = 400001  # not JSON, not an object, a field of the wrong type
REGISTRATION_ID_MISMATCH = 400002  # path {registrationId} != body registrationId
INVALID_REGISTRATION_ID = 400003
INVALID_API_VERSION = 400004  # also seen in real DPS for bad arguments
MISSING_API_VERSION = 400005
INVALID_ENROLLMENT = 400006  # enrollment / group body fails validation
ID_MISMATCH = 400007  # service API: path id != body id
INVALID_QUERY = 400008
BULK_TOO_LARGE = 400009
CSR_NOT_ALLOWED_IN_LOOKUP = 400010  # `csr` sent to the status-lookup POST
CSR_WITHOUT_POLICY = 400011  # `csr` sent but the enrollment links no ADR policy
POLICY_NOT_FOUND = 400012  # enrollment links a policy that is not in the DPS's namespace
NAMESPACE_NOT_LINKED = 400013  # ADR link requested but the DPS has no namespace
INCOMPLETE_POLICY_REFERENCE = 400014  # 2026-11-01: namespace/CA/policy names not all given
FIELD_NOT_IN_API_VERSION = 400015
TPM_NOT_EMULATED = 400020
ATTESTATION_NOT_SUPPORTED = 400021  # "none", or TPM enrollment used without TPM
CUSTOM_ALLOCATION_NOT_EMULATED = 400022
TPM_INVALID = 400023  # a malformed EK/SRK public area, or one that is not a storage/endorsement key
HUB_NOT_LINKED = 400030  # the enrollment names a hub that is not linked to the DPS
NO_LINKED_HUB = 400031
# CSR problems: one code per PKI rule (provider.pki.csr), in the order they are checked
CSR_INVALID_ENCODING = 400041
CSR_INVALID = 400042
CSR_SIGNATURE_INVALID = 400043
CSR_SUBJECT_MISMATCH = 400044
CSR_UNSUPPORTED_KEY = 400045
CSR_REQUESTS_CA = 400046
CSR_TOO_LARGE = 400047
ISSUANCE_FAILED = 400048  # the policy cannot issue now (issuer revoked, pending BYOR activation, expired)
DEVICE_ID_NOT_REGISTRATION_ID = 400049

PKI_CODES = {
    "InvalidCsrEncoding": CSR_INVALID_ENCODING,
    "InvalidCsr": CSR_INVALID,
    "CsrSignatureInvalid": CSR_SIGNATURE_INVALID,
    "CsrSubjectMismatch": CSR_SUBJECT_MISMATCH,
    "UnsupportedKeyType": CSR_UNSUPPORTED_KEY,
    "CaRequestNotAllowed": CSR_REQUESTS_CA,
    "CsrTooLarge": CSR_TOO_LARGE,
}

# ---- 401: who are you? -------------------------------------------------------------------------------
UNAUTHORIZED = 401000
TOKEN_EXPIRED = 401001
CA_NOT_FOUND = 401002  # X.509: no enrollment trusts the presented certificate (real DPS's code)
NO_ENROLLMENT = 401003  # no enrollment for this registration id
CERTIFICATE_INVALID = 401004  # X.509: expired, CN mismatch, chain does not verify
INSUFFICIENT_RIGHTS = 401005  # service API: the policy lacks the permission
TPM_CHALLENGE = 401006  # TPM round 1: the answer carries the authenticationKey challenge

# ---- 403: known, but not allowed -----------------------------------------------------------------------
ENROLLMENT_DISABLED = 403001
ADR_DEVICE_DISABLED = 403002

# ---- others -----------------------------------------------------------------------------------------
NOT_FOUND = 404000
DPS_NOT_FOUND = 404001
ENROLLMENT_NOT_FOUND = 404002
REGISTRATION_NOT_FOUND = 404003
OPERATION_NOT_FOUND = 404004
METHOD_NOT_ALLOWED = 405000
CONFLICT = 409000
ENROLLMENT_EXISTS = 409001
PRECONDITION_FAILED = 412000
BODY_TOO_LARGE = 413000
INTERNAL = 500000


def timestamp(moment: datetime | None = None) -> str:
    """DPS's UTC timestamp form: ISO 8601 with 7 fractional digits and `Z`."""
    value = (moment or datetime.now(UTC)).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


class DpsError(Exception):
    """A refused DPS request. `error_code` is six digits and starts with the HTTP `status`."""

    def __init__(self, error_code: int, message: str, info: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.answer = body  # a refusal with its own body (the TPM challenge), not the error envelope
        self.error_code = error_code
        self.status = error_code // 1000
        self.message = message
        self.info = info or {}
        self.headers = headers or {}
        self.tracking_id = str(uuid.uuid4())

    def body(self) -> dict[str, Any]:
        if self.answer is not None:
            return {**self.answer, "message": self.message}
        body: dict[str, Any] = {"errorCode": self.error_code, "trackingId": self.tracking_id,
                                "message": self.message, "timestampUtc": timestamp()}
        if self.info:
            body["info"] = dict(self.info)
        return body

    def response_headers(self) -> dict[str, str]:
        return {"x-ms-error-code": str(self.error_code), **self.headers}

    def __repr__(self) -> str:
        return f"DpsError({self.error_code}, {self.message!r})"


def from_pki_error(exc: Exception) -> DpsError:
    """Map a `provider.pki.PkiError` to its DPS error, keeping the PKI's code in `info.reason`."""
    code = getattr(exc, "code", "PkiError")
    message = getattr(exc, "message", str(exc))
    error_code = PKI_CODES.get(code, ISSUANCE_FAILED)
    prefix = "The CSR was refused" if error_code != ISSUANCE_FAILED else "The certificate could not be issued"
    return DpsError(error_code, f"{prefix} ({code}): {message}", info={"reason": code})
