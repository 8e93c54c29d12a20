"""Device registration, independent of the transport (HTTPS routes and the MQTT listener share it).

    register(emu, id_scope, registration_id, body, evidence, api_version)              -> (status, body, headers)
    operation_status(emu, id_scope, registration_id, operation_id, evidence, api_version) -> (status, body, headers)
    status_lookup(emu, id_scope, registration_id, body, evidence, api_version)          -> (status, body, headers)

Failures raise `DpsError` (status, six-digit `error_code`, `body()`); the transport renders it.

Timing. A registration is carried out completely inside the `register` call, in ONE store
transaction: attestation is checked first, then hub allocation, the ADR device (created or
updated with its policy reference), certificate issuance from the CSR, the hub device identity,
the registration record and the finished operation. Any failure rolls all of it back and the
device gets the error directly (status >= 400) instead of a `failed` operation. The answer is
still DPS's `202 {"operationId", "status": "assigning"}` with `Retry-After: 1`, because
clients are written for that, but the operation is already final and durable: the first poll
answers `200` with the registration state, even after a restart of the emulator. One second is
the smallest whole-second `Retry-After` (0 makes some clients fall back to their own default
of 2-3 s); clients that know the emulator (the CLI, the bench) may poll at once. A poll never
answers `202`.

Certificates. With `csr` in the body and an enrollment linked to an ADR policy, the CSR goes to
`Pki.issue_leaf` with the device's current revocation id, and the operation result carries
`registrationState.issuedCertificateChain` (base64 DER: leaf, issuing CA, root). The hub device
is then created or updated with authentication type `certificateAuthority`. Without a CSR the
hub device authenticates as the device attested (`sas` with the device's key, `selfSigned` by
thumbprint for an individual X.509 enrollment, `certificateAuthority` for an X.509 group, `sas`
with the key in `tpm.authenticationKey` for TPM; see `tpm_attestation.py` for TPM's two rounds).
A `csr` for an enrollment without a policy is a 400 (it is never silently ignored).

The registration record keeps the last issuance in the emulator-specific field
`issuedCertificate` = `{serialNumber, sha1Thumbprint, notBeforeUtc, notAfterUtc,
issuedDateTimeUtc, policyResourceId}`, visible through the service API
(`GET /registrations/{id}`, and `registrationState` of the individual enrollment). A renewal
(another registration with a new CSR) replaces it.

Re-registration keeps the device id; the hub assignment follows `reprovisionPolicy` and the
substatus says what happened (`initialAssignment`, `deviceDataMigrated`, `deviceDataReset`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provider.adr import ids
from provider.arm.context import RequestContext
from provider.common import data_plane_etag
from provider.dps import allocation, attestation, errors, records, tpm_attestation
from provider.dps.enrollments import check_registration_id
from provider.dps.errors import DpsError, timestamp
from provider.hub import registry
from provider.pki.errors import PkiError

if TYPE_CHECKING:
    from provider.pki.records import IssuedChain
    from provider.state import Emulator

__all__ = ["DEVICE_API_VERSIONS", "DeviceEvidence", "DpsError", "operation_status", "register", "status_lookup"]

DEVICE_API_VERSIONS = ("2019-03-31", "2021-06-01", "2021-10-01", "2025-07-01-preview", "2026-04-01", "2026-11-01")
RETRY_AFTER_SECONDS = 1
DEVICE_RESULT_FIELDS = ("registrationId", "createdDateTimeUtc", "assignedHub", "deviceId", "status", "substatus",
                        "errorCode", "errorMessage", "lastUpdatedDateTimeUtc", "etag", "payload", "x509",
                        "symmetricKey", "tpm")
ADR_CONTEXT_API_VERSION = "2026-03-01-preview"

Answer = tuple[int, dict[str, Any], dict[str, str]]


@dataclass
class DeviceEvidence:
    """What the device presented: a SAS token and/or a TLS client chain."""

    sas_token: str | None  # HTTPS: Authorization header value; MQTT: CONNECT password
    client_chain_der: list[bytes] = field(default_factory=list)  # TLS client chain, leaf first ([] if none)
    transport: str = "https"  # "https" | "mqtt"


# ---- shared checks --------------------------------------------------------------------------------------
def check_api_version(emu: Emulator, api_version: str | None) -> str:
    if not api_version:
        raise DpsError(errors.MISSING_API_VERSION, "The api-version query parameter is required.")
    if api_version not in DEVICE_API_VERSIONS and not emu.config.skip_api_version_check:
        raise DpsError(errors.INVALID_API_VERSION,
                       f"The api-version '{api_version[:40]}' is not supported by the device API; supported: "
                       f"{', '.join(DEVICE_API_VERSIONS)}.")
    return api_version


def find_dps(emu: Emulator, id_scope: str) -> dict[str, Any]:
    dps = emu.dps.by_id_scope(id_scope) if id_scope else None
    if dps is None:
        raise DpsError(errors.DPS_NOT_FOUND, f"No provisioning service has the id scope '{id_scope[:64]}'.")
    return dps


def _check_body(registration_id: str, body: Any, *, lookup: bool) -> dict[str, Any]:
    check_registration_id(registration_id, "The registration id in the path")
    if body is None and lookup:
        body = {}
    if not isinstance(body, dict):
        raise DpsError(errors.INVALID_BODY, "The request body must be a DeviceRegistration JSON object.")
    given = body.get("registrationId")
    if given is None and not lookup:
        raise DpsError(errors.REGISTRATION_ID_MISMATCH,
                       "The body must carry registrationId, equal to the registration id in the path.")
    if given is not None and (not isinstance(given, str) or given.lower() != registration_id.lower()):
        raise DpsError(errors.REGISTRATION_ID_MISMATCH,
                       f"The registrationId in the body ({str(given)[:130]!r}) does not match the registration id "
                       f"in the path ({registration_id!r}).")
    if "csr" in body and body["csr"] is not None:
        if lookup:
            raise DpsError(errors.CSR_NOT_ALLOWED_IN_LOOKUP,
                           "A csr cannot be sent to the registration status lookup; send it to .../register.")
        if not isinstance(body["csr"], str):
            raise DpsError(errors.CSR_INVALID_ENCODING, "csr must be a string: base64 DER PKCS#10 without PEM armour.")
    if body.get("payload") is not None and not isinstance(body["payload"], dict):
        raise DpsError(errors.INVALID_BODY, "payload must be a JSON object.")
    tpm = body.get("tpm")
    if tpm is not None and (not isinstance(tpm, dict) or not isinstance(tpm.get("endorsementKey"), str)
                            or not isinstance(tpm.get("storageRootKey", ""), str)):
        raise DpsError(errors.INVALID_BODY, "tpm must be an object with endorsementKey (and storageRootKey): the "
                       "base64 TPM2B_PUBLIC of each.")
    return body


def authenticate(emu: Emulator, dps_doc: dict[str, Any], id_scope: str, registration_id: str,
                 evidence: DeviceEvidence, tpm: dict[str, Any] | None = None) -> attestation.Attested:
    """The enrollment the evidence proves membership of (SAS first, then a TPM's keys, then the TLS client
    chain). A TPM's keys without a SAS get the 401 challenge."""
    dps_key = dps_doc["id"].lower()
    if evidence.sas_token:
        individual = records.get_enrollment(emu.store, dps_key, records.INDIVIDUAL, registration_id)
        if tpm_attestation.uses_tpm(individual):
            return tpm_attestation.by_sas(id_scope, individual, registration_id, evidence.sas_token,
                                          emu.now().timestamp())
        return attestation.by_sas(emu.store, dps_key, id_scope, registration_id, evidence.sas_token,
                                  emu.now().timestamp(), individual)
    if tpm is not None:
        tpm_attestation.challenge(emu.store, dps_key, registration_id, tpm)
    if evidence.client_chain_der:
        return attestation.by_certificate(emu, dps_doc, registration_id, list(evidence.client_chain_der), emu.now())
    how = "a TLS client certificate (HTTPS port)" if evidence.transport == "https" else "a TLS client certificate"
    raise DpsError(errors.UNAUTHORIZED,
                   f"Unauthorized: send a SharedAccessSignature (symmetric key attestation) or present {how}.")


def uses_tpm(emu: Emulator, dps_doc: dict[str, Any], registration_id: str) -> bool:
    """The registration is a TPM enrollment's, whose first round carries no credential."""
    return tpm_attestation.tpm_enrollment(emu.store, dps_doc["id"].lower(), registration_id) is not None


def _device_view(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in DEVICE_RESULT_FIELDS if k in record}


# ---- register ---------------------------------------------------------------------------------------------
def register(emu: Emulator, id_scope: str, registration_id: str, body: Any, evidence: DeviceEvidence,
             api_version: str) -> Answer:
    """Register (or re-register) a device; see the module docstring for the 202 / poll contract."""
    check_api_version(emu, api_version)
    dps = find_dps(emu, id_scope)
    body = _check_body(registration_id, body, lookup=False)
    attested = authenticate(emu, dps, id_scope, registration_id, evidence, body.get("tpm"))
    enrollment = attested.enrollment
    if enrollment.get("provisioningStatus") == "disabled":
        which = f"enrollment group '{attested.group_id}'" if attested.group_id else f"enrollment '{registration_id}'"
        raise DpsError(errors.ENROLLMENT_DISABLED, f"The {which} is disabled (provisioningStatus).")
    csr = body.get("csr")
    policy_id = enrollment.get("_policyId")
    if csr is not None and not policy_id:
        raise DpsError(errors.CSR_WITHOUT_POLICY,
                       "The request carries a csr but the enrollment is not linked to an Azure Device Registry "
                       "certificate policy (credentialPolicyName, or namespaceName/certificateAuthorityName/"
                       "certificatePolicyName); link one or register without a csr.")
    with emu.store.transaction(savepoints=False):  # any failure aborts the whole registration
        operation = _assign(emu, dps, registration_id, attested, csr, api_version)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return 202, {"operationId": operation, "status": "assigning"}, headers


def _assign(emu: Emulator, dps: dict[str, Any], registration_id: str, attested: attestation.Attested,
            csr: str | None, api_version: str) -> str:
    """Everything a registration writes (inside the caller's transaction); returns the operation id."""
    store, dps_key = emu.store, dps["id"].lower()
    enrollment = attested.enrollment
    policy_id = enrollment.get("_policyId")
    previous = records.get_registration(store, dps_key, registration_id)
    linked = emu.dps.linked_hubs(dps)
    hub = allocation.allocate(dps, linked, enrollment, registration_id, (previous or {}).get("assignedHub"))
    host = allocation.hub_host(hub)
    device_id = _device_id(registration_id, attested, previous)
    adr_device = _adr_device(emu, dps, policy_id, device_id, api_version) if policy_id else None
    issued = _issue(emu, policy_id, csr, device_id, adr_device) if csr is not None else None
    substatus, migrated_twin = _reassign(emu, linked, previous, host, device_id, enrollment)
    if attested.mechanism == "tpm":
        attested.device_key, attested.extra["authenticationKey"] = tpm_attestation.device_credential(attested)
    auth_type, key, thumbprint = _hub_auth(attested, issued is not None)
    initial_twin = migrated_twin if migrated_twin is not None else enrollment.get("initialTwin")
    registry.upsert_provisioned_device(store, hub, device_id, auth_type, symmetric_key=key, thumbprint=thumbprint,
                                       initial_twin=initial_twin)
    now = timestamp(emu.now())
    record: dict[str, Any] = {
        "registrationId": registration_id,
        "createdDateTimeUtc": (previous or {}).get("createdDateTimeUtc", now),
        "assignedHub": (hub.get("properties") or {}).get("hostName") or host,
        "deviceId": device_id,
        "status": "assigned",
        "substatus": substatus,
        "lastUpdatedDateTimeUtc": now,
        "etag": data_plane_etag(),
        "_groupId": attested.group_id,
    }
    record.update(_attestation_result(attested))
    if issued is not None:
        record["issuedCertificate"] = _issuance_record(issued, policy_id or "", now)
    elif previous and previous.get("issuedCertificate"):
        record["issuedCertificate"] = previous["issuedCertificate"]
    records.put_registration(store, dps_key, registration_id, attested.group_id, record)
    state = _device_view(record)
    if issued is not None:
        state["issuedCertificateChain"] = issued.chain_b64()
    operation_id = f"5.{hashlib.sha256(dps_key.encode()).hexdigest()[:16]}.{uuid.uuid4()}"
    records.put_operation(store, dps_key, operation_id, registration_id,
                          {"operationId": operation_id, "status": "assigned", "registrationState": state})
    return operation_id


def _device_id(registration_id: str, attested: attestation.Attested, previous: dict[str, Any] | None) -> str:
    """Re-registration keeps the device id; an ADR-linked device's id is its registration id (the CN)."""
    if attested.enrollment.get("_policyId"):
        return registration_id
    if previous and previous.get("deviceId"):
        return previous["deviceId"]
    if attested.kind == records.INDIVIDUAL and attested.enrollment.get("deviceId"):
        return attested.enrollment["deviceId"]
    return registration_id


def _adr_device(emu: Emulator, dps: dict[str, Any], policy_id: str, device_id: str, api_version: str) -> dict[str, Any]:
    """Create or update the ADR device (policy reference); refuse a disabled one."""
    namespace_id = ids.namespace_of(policy_id)
    existing = emu.adr.device(namespace_id, device_id)
    if existing is not None and not (existing.get("properties") or {}).get("enabled", True):
        raise DpsError(errors.ADR_DEVICE_DISABLED,
                       f"The Azure Device Registry device '{device_id}' is disabled (revoked with disable, or "
                       "disabled by an operator); enable it before registering again.")
    if emu.adr.policy_by_id(policy_id) is None:
        raise DpsError(errors.POLICY_NOT_FOUND,
                       f"The enrollment's certificate policy '{policy_id.rsplit('/', 1)[-1]}' no longer exists.")
    namespace = emu.adr.namespace(namespace_id) or {}
    ctx = RequestContext(emu, None, ADR_CONTEXT_API_VERSION, "", caller=f"dps:{dps.get('name', '')}",
                         caller_type="Application")
    return emu.adr.provision_device(ctx, namespace_id, device_id, policy_id,
                                    namespace.get("location") or dps.get("location") or emu.config.location)


def _issue(emu: Emulator, policy_id: str | None, csr: str, device_id: str,
           adr_device: dict[str, Any] | None) -> IssuedChain:
    assert policy_id and adr_device is not None
    days = emu.adr.leaf_validity_days(emu.adr.policy_by_id(policy_id) or {})
    try:
        return emu.pki.issue_leaf(emu.adr.signing_owner(policy_id), csr, device_id, days, adr_device["_revocationId"])
    except PkiError as exc:
        raise errors.from_pki_error(exc) from None


def _issuance_record(issued: IssuedChain, policy_id: str, now: str) -> dict[str, Any]:
    leaf_der = issued.leaf_der
    serial = f"{issued.serial:X}"
    return {
        "serialNumber": serial if len(serial) % 2 == 0 else "0" + serial,
        "sha1Thumbprint": hashlib.sha1(leaf_der).hexdigest().upper(),  # noqa: S324 - DPS/IoT Hub thumbprint
        "notBeforeUtc": issued.not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notAfterUtc": issued.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "issuedDateTimeUtc": now,
        "policyResourceId": policy_id,
    }


def _reassign(emu: Emulator, linked: list[tuple[dict, dict]], previous: dict[str, Any] | None, host: str,
              device_id: str, enrollment: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(substatus, twin to seed the new hub's device with) — and remove the device from a previous hub."""
    old_host = str((previous or {}).get("assignedHub") or "").lower()
    if not old_host or old_host == host:
        return "initialAssignment", None
    old_hub = next((hub for hub, _ in linked if allocation.hub_host(hub) == old_host), None)
    migrate = (enrollment.get("reprovisionPolicy") or {}).get("migrateDeviceData", True)
    twin = None
    if old_hub is not None and registry.get_device(emu.store, old_hub, previous["deviceId"]) is not None:
        if migrate:
            state = registry.get_twin_state(emu.store, old_hub, previous["deviceId"])
            twin = {"tags": state.get("tags") or {}, "properties": {"desired": state.get("desired") or {}}}
        registry.delete_device(emu.store, old_hub, previous["deviceId"])
    return ("deviceDataMigrated" if migrate else "deviceDataReset"), twin


def _hub_auth(attested: attestation.Attested, issued: bool) -> tuple[str, str | None, str | None]:
    if issued:
        return "certificateAuthority", None, None
    if attested.mechanism in ("symmetricKey", "tpm"):
        return "sas", attested.device_key, None
    if attested.kind == records.INDIVIDUAL and attested.leaf is not None:
        return "selfSigned", None, attestation.certificate_info(attested.leaf)["sha1Thumbprint"]
    return "certificateAuthority", None, None


def _attestation_result(attested: attestation.Attested) -> dict[str, Any]:
    if attested.mechanism == "tpm":
        return {"tpm": {"authenticationKey": attested.extra["authenticationKey"]}}
    if attested.mechanism == "symmetricKey":
        return {"symmetricKey": {"enrollmentGroupId": attested.group_id} if attested.group_id else {}}
    result: dict[str, Any] = {}
    if attested.leaf is not None:
        result["certificateInfo"] = attestation.certificate_info(attested.leaf)
    if attested.group_id:
        result["enrollmentGroupId"] = attested.group_id
    if attested.signing_certificate is not None:
        result["signingCertificateInfo"] = attestation.certificate_info(attested.signing_certificate)
    return {"x509": result}


# ---- poll and status lookup ------------------------------------------------------------------------------------
def operation_status(emu: Emulator, id_scope: str, registration_id: str, operation_id: str,
                     evidence: DeviceEvidence, api_version: str) -> Answer:
    """The finished operation (always 200: operations complete inside `register`)."""
    check_api_version(emu, api_version)
    dps = find_dps(emu, id_scope)
    check_registration_id(registration_id, "The registration id in the path")
    authenticate(emu, dps, id_scope, registration_id, evidence)
    found = records.get_operation(emu.store, dps["id"].lower(), operation_id or "")
    if found is None or found[0] != registration_id.lower():
        raise DpsError(errors.OPERATION_NOT_FOUND,
                       f"No registration operation '{str(operation_id)[:80]}' for '{registration_id}'.")
    return 200, found[1], {}


def status_lookup(emu: Emulator, id_scope: str, registration_id: str, body: Any, evidence: DeviceEvidence,
                  api_version: str) -> Answer:
    """`POST /{idScope}/registrations/{id}`: the current registration state (never the chain; no csr)."""
    check_api_version(emu, api_version)
    dps = find_dps(emu, id_scope)
    _check_body(registration_id, body, lookup=True)
    authenticate(emu, dps, id_scope, registration_id, evidence)
    record = records.get_registration(emu.store, dps["id"].lower(), registration_id)
    if record is None:
        raise DpsError(errors.REGISTRATION_NOT_FOUND, f"'{registration_id}' has not registered yet.")
    return 200, _device_view(record), {}
