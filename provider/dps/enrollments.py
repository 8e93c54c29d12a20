"""The DPS service API: individual enrollments, enrollment groups and registration states.

Every function takes the DPS's ARM document and the request's api-version and returns
`(status, body, headers)` or raises `DpsError`; `service.py` does only the HTTP plumbing.

Choices where DPS documents nothing (all visible to clients):

* PUT without `If-Match` creates or replaces; with `If-Match` it needs the current etag (or `*`)
  of an existing record, else 412. A body `etag` is ignored (SDKs send the header).
* Symmetric keys omitted on create are generated (64 random bytes, base64); omitted on update,
  the stored ones are kept, because GET never returns keys (as in DPS: use
  `POST .../attestationmechanism`), so a GET-modify-PUT round trip must not rotate them. The PUT
  response does include the keys, so a caller learns generated ones.
* X.509 certificates are returned as `info` only (no PEM) except by attestationmechanism.
* ADR link: `credentialPolicyName` (2025-07-01-preview) names a policy of the DPS's linked
  namespace. 2026-11-01's `namespaceName` + `certificateAuthorityName` + `certificatePolicyName`
  must come all three or not at all; `namespaceName` must be the linked namespace and
  `certificatePolicyName` maps to the policy of that name in it (the emulated ADR keeps one
  issuing CA per policy, so the certificate-authority name is checked for form and returned as
  given but selects nothing; a link made through `credentialPolicyName` reads back in 2026-11-01
  as `certificateAuthorityName: "default"`, the name of the namespace's single credential). The
  link is stored as the policy's ARM id, so either api-version reads it back in its own shape;
  2021-10-01 neither shows it nor clears it. A field of the other version is a 400. An ADR-linked
  individual enrollment's `deviceId`, if set, must equal its registration id, because the issued
  certificate's CN is the registration id.
* Queries: only `SELECT *` (`*`, `SELECT * FROM enrollments`...) is supported; paging by
  `x-ms-max-item-count` (default 100, at most 1000) and an opaque `x-ms-continuation`.
* Bulk operations apply item by item (each in its own transaction), at most 10 items.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from typing import TYPE_CHECKING, Any

from provider.common import DEVICE_ID, REGISTRATION_ID, data_plane_etag, new_access_key
from provider.dps import errors, records
from provider.dps.attestation import ca_reference_certificate, certificate_info, load_certificate
from provider.dps.errors import DpsError, timestamp

if TYPE_CHECKING:
    from provider.state import Emulator

SERVICE_API_VERSIONS = ("2021-10-01", "2025-07-01-preview", "2026-11-01")
PREVIEW_LINK = "2025-07-01-preview"
GA_LINK = "2026-11-01"
GA_LINK_FIELDS = ("namespaceName", "certificateAuthorityName", "certificatePolicyName")
ATTESTATION_TYPES = ("none", "tpm", "x509", "symmetricKey")
ALLOCATION_POLICIES = ("hashed", "geoLatency", "static", "custom")
BULK_MODES = ("create", "update", "updateIfMatchETag", "delete")
MAX_BULK = 10
DEFAULT_PAGE, MAX_PAGE = 100, 1000
NAMESPACE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
ADR_NAME = re.compile(r"^[0-9a-zA-Z][a-zA-Z0-9-]*$")
QUERY_ALL = re.compile(r"^\s*(\*|select\s+\*\s+from\s+(enrollments|enrollmentgroups|devices|c)\s*)\s*$", re.I)

ID_FIELD = {records.INDIVIDUAL: "registrationId", records.GROUP: "enrollmentGroupId"}
NOUN = {records.INDIVIDUAL: "enrollment", records.GROUP: "enrollment group"}

Result = tuple[int, Any, dict[str, str]]


# ---- small helpers -------------------------------------------------------------------------------------
def etag_matches(if_match: str | None, current: str | None) -> bool:
    if if_match is None:
        return True
    wanted = if_match.strip()
    if wanted == "*":
        return current is not None
    return current is not None and wanted.strip('"') == current.strip('"')


def _bad(message: str, code: int = errors.INVALID_ENROLLMENT) -> DpsError:
    return DpsError(code, message)


def _object(value: Any, where: str, required: bool = False) -> dict[str, Any] | None:
    if value is None:
        if required:
            raise _bad(f"{where} is required.")
        return None
    if not isinstance(value, dict):
        raise _bad(f"{where} must be a JSON object.")
    return value


def _string(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{where} must be a string.")
    return value


def _bool(value: Any, where: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(f"{where} must be true or false.")
    return value


def check_registration_id(value: Any, where: str = "registrationId") -> str:
    if not isinstance(value, str) or not REGISTRATION_ID.match(value):
        raise DpsError(errors.INVALID_REGISTRATION_ID,
                       f"{where} must be 1-128 characters: letters, digits and - . _ :, starting and ending with a "
                       "letter or digit.")
    return value


def linked_hosts(emu: Emulator, dps_doc: dict[str, Any]) -> set[str]:
    return emu.dps.linked_hub_hosts(dps_doc)


# ---- attestation ----------------------------------------------------------------------------------------
def _symmetric(given: dict[str, Any] | None, old: dict[str, Any] | None) -> dict[str, str]:
    given, old = given or {}, old or {}
    out = {}
    for slot in ("primaryKey", "secondaryKey"):
        value = _string(given.get(slot), f"attestation.symmetricKey.{slot}") or old.get(slot) or new_access_key(64)
        try:
            size = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            size = 0
        if not 16 <= size <= 64:
            raise _bad(f"attestation.symmetricKey.{slot} must be the base64 encoding of 16 to 64 bytes.")
        out[slot] = value
    return out


def _certificates(given: dict[str, Any] | None, old: dict[str, Any] | None, where: str) -> dict[str, Any] | None:
    if given is None:
        return None
    _object(given, where)
    out: dict[str, Any] = {}
    for slot in ("primary", "secondary"):
        entry = _object(given.get(slot), f"{where}.{slot}")
        if entry is None:
            continue
        text = _string(entry.get("certificate"), f"{where}.{slot}.certificate")
        if not text:
            previous = ((old or {}).get(slot) or {})
            thumb = ((entry.get("info") or {}).get("sha256Thumbprint") or "").upper()
            if previous.get("certificate") and thumb and thumb == previous["info"]["sha256Thumbprint"]:
                out[slot] = previous  # a GET body sent back: keep the stored certificate
                continue
            raise _bad(f"{where}.{slot}.certificate is required (PEM or base64 DER).")
        try:
            cert = load_certificate(text)
        except ValueError:
            raise _bad(f"{where}.{slot}.certificate is not a PEM or base64 DER X.509 certificate.") from None
        from cryptography.hazmat.primitives.serialization import Encoding

        out[slot] = {"certificate": cert.public_bytes(Encoding.PEM).decode("ascii"), "info": certificate_info(cert)}
    if "primary" not in out:
        raise _bad(f"{where}.primary is required.")
    return out


def normalise_attestation(emu: Emulator, dps_doc: dict[str, Any], kind: str, value: Any,
                          old: dict[str, Any] | None) -> dict[str, Any]:
    attestation = _object(value, "attestation", required=True)
    assert attestation is not None
    kind_name = attestation.get("type")
    if kind_name not in ATTESTATION_TYPES:
        raise _bad(f"attestation.type must be one of {', '.join(ATTESTATION_TYPES)}.")
    old = old if (old or {}).get("type") == kind_name else None
    out: dict[str, Any] = {"type": kind_name}
    if kind_name == "symmetricKey":
        out["symmetricKey"] = _symmetric(_object(attestation.get("symmetricKey"), "attestation.symmetricKey"),
                                         (old or {}).get("symmetricKey"))
    elif kind_name == "tpm":
        tpm = _object(attestation.get("tpm"), "attestation.tpm", required=True) or {}
        if not _string(tpm.get("endorsementKey"), "attestation.tpm.endorsementKey"):
            raise _bad("attestation.tpm.endorsementKey is required.")
        if kind == records.GROUP:
            raise _bad("Enrollment groups do not support TPM attestation.")
        out["tpm"] = {k: tpm[k] for k in ("endorsementKey", "storageRootKey") if isinstance(tpm.get(k), str)}
    elif kind_name == "x509":
        given = _object(attestation.get("x509"), "attestation.x509", required=True) or {}
        old_x509 = (old or {}).get("x509") or {}
        x509_out: dict[str, Any] = {}
        if kind == records.INDIVIDUAL:
            if given.get("signingCertificates") or given.get("caReferences"):
                raise _bad("An individual enrollment takes attestation.x509.clientCertificates, not signing "
                           "certificates or CA references.")
            x509_out["clientCertificates"] = _certificates(
                given.get("clientCertificates") or {}, old_x509.get("clientCertificates"),
                "attestation.x509.clientCertificates")
        else:
            if given.get("clientCertificates"):
                raise _bad("An enrollment group takes attestation.x509.signingCertificates or caReferences, not "
                           "client certificates.")
            signing = _certificates(given.get("signingCertificates"), old_x509.get("signingCertificates"),
                                    "attestation.x509.signingCertificates")
            references = _object(given.get("caReferences"), "attestation.x509.caReferences")
            if signing is None and not references:
                raise _bad("An X.509 enrollment group needs attestation.x509.signingCertificates or caReferences.")
            if signing is not None:
                x509_out["signingCertificates"] = signing
            if references:
                x509_out["caReferences"] = _ca_references(emu, dps_doc, references)
        out["x509"] = x509_out
    return out


def _ca_references(emu: Emulator, dps_doc: dict[str, Any], references: dict[str, Any]) -> dict[str, str]:
    out = {}
    for slot in ("primary", "secondary"):
        name = _string(references.get(slot), f"attestation.x509.caReferences.{slot}")
        if not name:
            continue
        if ca_reference_certificate(emu, dps_doc, name) is None:
            raise _bad(f"attestation.x509.caReferences.{slot} names '{name}', which is not a CA certificate of "
                       "this provisioning service.")
        out[slot] = name
    if "primary" not in out:
        raise _bad("attestation.x509.caReferences.primary is required.")
    return out


# ---- the ADR link ----------------------------------------------------------------------------------------
def _linked_namespace(emu: Emulator, dps_doc: dict[str, Any]) -> dict[str, Any]:
    namespace_id = emu.dps.namespace_id(dps_doc)
    namespace = emu.adr.namespace(namespace_id) if namespace_id else None
    if namespace is None:
        raise DpsError(errors.NAMESPACE_NOT_LINKED,
                       "This provisioning service is not linked to an Azure Device Registry namespace "
                       "(properties.deviceRegistryNamespace.resourceId), so an enrollment cannot reference a "
                       "certificate policy.")
    return namespace


def _policy_id(emu: Emulator, namespace: dict[str, Any], policy_name: str) -> str:
    doc = emu.adr.policy(namespace["id"], policy_name)
    if doc is None:
        raise DpsError(errors.POLICY_NOT_FOUND,
                       f"The certificate policy '{policy_name}' does not exist in the namespace "
                       f"'{namespace['name']}' linked to this provisioning service.", info={"policy": policy_name})
    return doc["id"]


def resolve_link(emu: Emulator, dps_doc: dict[str, Any], api_version: str, body: dict[str, Any],
                 existing: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(policy ARM id or None, certificate authority name or None) for the stored record."""
    kept = ((existing or {}).get("_policyId"), (existing or {}).get("_caName"))
    present_ga = [f for f in GA_LINK_FIELDS if body.get(f) not in (None, "")]
    has_preview = body.get("credentialPolicyName") not in (None, "")
    if api_version == PREVIEW_LINK:
        if present_ga:
            raise DpsError(errors.FIELD_NOT_IN_API_VERSION,
                           f"{', '.join(present_ga)} belong to api-version {GA_LINK}; with {PREVIEW_LINK} "
                           "reference the policy with credentialPolicyName.")
        name = _string(body.get("credentialPolicyName"), "credentialPolicyName")
        if not name:
            return None, None
        return _policy_id(emu, _linked_namespace(emu, dps_doc), name), None
    if api_version == GA_LINK:
        if has_preview:
            raise DpsError(errors.FIELD_NOT_IN_API_VERSION,
                           f"credentialPolicyName belongs to api-version {PREVIEW_LINK}; with {GA_LINK} use "
                           "namespaceName, certificateAuthorityName and certificatePolicyName.")
        if not present_ga:
            return None, None
        if len(present_ga) != len(GA_LINK_FIELDS):
            missing = [f for f in GA_LINK_FIELDS if f not in present_ga]
            raise DpsError(errors.INCOMPLETE_POLICY_REFERENCE,
                           "namespaceName, certificateAuthorityName and certificatePolicyName must be given all "
                           f"three or none; missing: {', '.join(missing)}.")
        names = {f: _string(body[f], f) or "" for f in GA_LINK_FIELDS}
        if not (3 <= len(names["namespaceName"]) <= 64 and NAMESPACE_NAME.match(names["namespaceName"])):
            raise _bad("namespaceName must be 3-64 lower-case letters, digits or '-', not starting or ending with '-'.")
        for f in ("certificateAuthorityName", "certificatePolicyName"):
            if not (3 <= len(names[f]) <= 63 and ADR_NAME.match(names[f])):
                raise _bad(f"{f} must be 3-63 letters, digits or '-', starting with a letter or digit.")
        namespace = _linked_namespace(emu, dps_doc)
        if namespace["name"].lower() != names["namespaceName"].lower():
            raise DpsError(errors.POLICY_NOT_FOUND,
                           f"namespaceName '{names['namespaceName']}' is not the namespace linked to this "
                           f"provisioning service ('{namespace['name']}').")
        return _policy_id(emu, namespace, names["certificatePolicyName"]), names["certificateAuthorityName"]
    if present_ga or has_preview:
        fields = [*present_ga, *(["credentialPolicyName"] if has_preview else [])]
        raise DpsError(errors.FIELD_NOT_IN_API_VERSION,
                       f"{', '.join(fields)} are not part of api-version {api_version}; use {PREVIEW_LINK} or "
                       f"{GA_LINK} to link an enrollment to a certificate policy.")
    return kept


# ---- create / update ----------------------------------------------------------------------------------------
def normalise(emu: Emulator, dps_doc: dict[str, Any], kind: str, path_id: str, body: Any, api_version: str,
              existing: dict[str, Any] | None) -> dict[str, Any]:
    """Validate a PUT body and build the record to store (keys, certificates, link, timestamps)."""
    if not isinstance(body, dict):
        raise DpsError(errors.INVALID_BODY, f"The {NOUN[kind]} must be a JSON object.")
    id_field = ID_FIELD[kind]
    given_id = body.get(id_field)
    if not isinstance(given_id, str) or not given_id:
        raise _bad(f"{id_field} is required.")
    if given_id.lower() != path_id.lower():
        raise DpsError(errors.ID_MISMATCH, f"The {id_field} in the body ('{given_id}') does not match the one in the "
                                           f"path ('{path_id}').")
    check_registration_id(given_id, id_field)
    record: dict[str, Any] = {id_field: given_id}
    if kind == records.INDIVIDUAL:
        device_id = _string(body.get("deviceId"), "deviceId")
        if device_id:
            if not DEVICE_ID.match(device_id):
                raise _bad("deviceId is not a valid IoT Hub device id.")
            record["deviceId"] = device_id
        info = _object(body.get("optionalDeviceInformation"), "optionalDeviceInformation")
        if info is not None:
            record["optionalDeviceInformation"] = info
    record["attestation"] = normalise_attestation(emu, dps_doc, kind, body.get("attestation"),
                                                  (existing or {}).get("attestation"))
    capabilities = _object(body.get("capabilities"), "capabilities") or {}
    record["capabilities"] = {"iotEdge": _bool(capabilities.get("iotEdge"), "capabilities.iotEdge", False)}
    hosts = None
    static = _string(body.get("iotHubHostName"), "iotHubHostName")
    hubs = body.get("iotHubs")
    if hubs is not None and (not isinstance(hubs, list) or not all(isinstance(h, str) for h in hubs)):
        raise _bad("iotHubs must be a list of IoT hub host names.")
    if static or hubs:
        hosts = linked_hosts(emu, dps_doc)
        for host in [*(hubs or []), *([static] if static else [])]:
            if host.lower() not in hosts:
                raise DpsError(errors.HUB_NOT_LINKED, f"IoT hub '{host}' is not linked to this provisioning service.",
                               info={"hub": host})
    if static:
        record["iotHubHostName"] = static
    if hubs is not None:
        record["iotHubs"] = list(hubs)
    policy = body.get("allocationPolicy")
    if policy is not None:
        if policy not in ALLOCATION_POLICIES:
            raise _bad(f"allocationPolicy must be one of {', '.join(ALLOCATION_POLICIES)}.")
        record["allocationPolicy"] = policy
    custom = _object(body.get("customAllocationDefinition"), "customAllocationDefinition")
    if custom is not None:
        if not all(isinstance(custom.get(k), str) and custom[k] for k in ("webhookUrl", "apiVersion")):
            raise _bad("customAllocationDefinition needs webhookUrl and apiVersion.")
        record["customAllocationDefinition"] = {"webhookUrl": custom["webhookUrl"], "apiVersion": custom["apiVersion"]}
    twin = _object(body.get("initialTwin"), "initialTwin")
    if twin is not None:
        _object(twin.get("tags"), "initialTwin.tags")
        _object((_object(twin.get("properties"), "initialTwin.properties") or {}).get("desired"),
                "initialTwin.properties.desired")
        record["initialTwin"] = twin
    status = body.get("provisioningStatus", "enabled")
    if status not in ("enabled", "disabled"):
        raise _bad("provisioningStatus must be 'enabled' or 'disabled'.")
    record["provisioningStatus"] = status
    reprovision = _object(body.get("reprovisionPolicy"), "reprovisionPolicy") or {}
    record["reprovisionPolicy"] = {
        "updateHubAssignment": _bool(reprovision.get("updateHubAssignment"), "reprovisionPolicy.updateHubAssignment",
                                     True),
        "migrateDeviceData": _bool(reprovision.get("migrateDeviceData"), "reprovisionPolicy.migrateDeviceData", True),
    }
    policy_id, ca_name = resolve_link(emu, dps_doc, api_version, body, existing)
    if policy_id and kind == records.INDIVIDUAL and record.get("deviceId") and \
            record["deviceId"] != record["registrationId"]:
        raise DpsError(errors.DEVICE_ID_NOT_REGISTRATION_ID,
                       "An enrollment linked to a certificate policy must use its registration id as device id "
                       "(the issued certificate's CN is the registration id); omit deviceId or make them equal.")
    record["_policyId"] = policy_id
    record["_caName"] = ca_name
    now = timestamp(emu.now())
    record["createdDateTimeUtc"] = (existing or {}).get("createdDateTimeUtc", now)
    record["lastUpdatedDateTimeUtc"] = now
    record["etag"] = data_plane_etag()
    return record


# ---- rendering ---------------------------------------------------------------------------------------------
def _policy_names(policy_id: str) -> tuple[str, str]:
    """(namespace name, policy name) of a policy ARM id."""
    parts = policy_id.split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index("namespaces") + 1], parts[-1]


def render(record: dict[str, Any], api_version: str, *, with_secrets: bool = False,
           registration_state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record as the service API returns it at `api_version`."""
    out = {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}
    out["attestation"] = render_attestation(record["attestation"], with_secrets)
    policy_id = record.get("_policyId")
    if policy_id and api_version == PREVIEW_LINK:
        out["credentialPolicyName"] = _policy_names(policy_id)[1]
    elif policy_id and api_version == GA_LINK:
        namespace, policy = _policy_names(policy_id)
        out.update(namespaceName=namespace, certificateAuthorityName=record.get("_caName") or "default",
                   certificatePolicyName=policy)
    if registration_state is not None:
        out["registrationState"] = service_registration_state(registration_state)
    return out


def render_attestation(attestation: dict[str, Any], with_secrets: bool) -> dict[str, Any]:
    out = copy.deepcopy(attestation)
    if not with_secrets:
        if "symmetricKey" in out:
            out["symmetricKey"] = {}
        for section in ("clientCertificates", "signingCertificates"):
            for entry in ((out.get("x509") or {}).get(section) or {}).values():
                entry.pop("certificate", None)
    return out


REGISTRATION_STATE_FIELDS = ("registrationId", "createdDateTimeUtc", "assignedHub", "deviceId", "status",
                             "substatus", "errorCode", "errorMessage", "lastUpdatedDateTimeUtc", "etag", "payload",
                             "issuedCertificate")


def service_registration_state(record: dict[str, Any]) -> dict[str, Any]:
    """`DeviceRegistrationState` (service view) plus the emulator's `issuedCertificate` record."""
    return {k: copy.deepcopy(record[k]) for k in REGISTRATION_STATE_FIELDS if k in record}


# ---- service API operations ---------------------------------------------------------------------------------
def _not_found(kind: str, enrollment_id: str) -> DpsError:
    return DpsError(errors.ENROLLMENT_NOT_FOUND, f"The {NOUN[kind]} '{enrollment_id}' does not exist.")


def get(emu: Emulator, dps_doc: dict[str, Any], kind: str, enrollment_id: str, api_version: str) -> Result:
    dps_key = dps_doc["id"].lower()
    record = records.get_enrollment(emu.store, dps_key, kind, enrollment_id)
    if record is None:
        raise _not_found(kind, enrollment_id)
    state = records.get_registration(emu.store, dps_key, enrollment_id) if kind == records.INDIVIDUAL else None
    if state is not None and state.get("_groupId"):
        state = None
    return 200, render(record, api_version, registration_state=state), {}


def put(emu: Emulator, dps_doc: dict[str, Any], kind: str, enrollment_id: str, body: Any, api_version: str,
        if_match: str | None) -> Result:
    dps_key = dps_doc["id"].lower()
    with emu.store.transaction():
        existing = records.get_enrollment(emu.store, dps_key, kind, enrollment_id)
        if if_match is not None and not etag_matches(if_match, (existing or {}).get("etag")):
            raise _precondition(kind, enrollment_id, existing)
        record = normalise(emu, dps_doc, kind, enrollment_id, body, api_version, existing)
        records.put_enrollment(emu.store, dps_key, kind, enrollment_id, record)
    return 200, render(record, api_version, with_secrets=True), {}


def _precondition(kind: str, enrollment_id: str, existing: dict[str, Any] | None) -> DpsError:
    if existing is None:
        return DpsError(errors.PRECONDITION_FAILED,
                        f"If-Match was given but the {NOUN[kind]} '{enrollment_id}' does not exist.")
    return DpsError(errors.PRECONDITION_FAILED,
                    f"The etag in If-Match does not match the current etag of the {NOUN[kind]} '{enrollment_id}'.")


def delete(emu: Emulator, dps_doc: dict[str, Any], kind: str, enrollment_id: str, if_match: str | None) -> Result:
    dps_key = dps_doc["id"].lower()
    with emu.store.transaction():
        existing = records.get_enrollment(emu.store, dps_key, kind, enrollment_id)
        if existing is None:
            raise _not_found(kind, enrollment_id)
        if not etag_matches(if_match, existing.get("etag")):
            raise _precondition(kind, enrollment_id, existing)
        records.delete_enrollment(emu.store, dps_key, kind, enrollment_id)
    return 204, None, {}


def attestation_mechanism(emu: Emulator, dps_doc: dict[str, Any], kind: str, enrollment_id: str) -> Result:
    record = records.get_enrollment(emu.store, dps_doc["id"].lower(), kind, enrollment_id)
    if record is None:
        raise _not_found(kind, enrollment_id)
    return 200, render_attestation(record["attestation"], with_secrets=True), {}


def page_arguments(max_items: str | None, continuation: str | None) -> tuple[int, int]:
    """(page size, last seq seen) from the paging headers; 400 on malformed values."""
    size = DEFAULT_PAGE
    if max_items not in (None, ""):
        try:
            size = int(max_items)
        except ValueError:
            size = 0
        if size < 1:
            raise DpsError(errors.INVALID_QUERY, "x-ms-max-item-count must be a positive integer.")
        size = min(size, MAX_PAGE)
    after = 0
    if continuation:
        try:
            after = int(json.loads(base64.urlsafe_b64decode(continuation.encode("ascii")))["after"])
        except (ValueError, KeyError, TypeError, UnicodeEncodeError, binascii.Error):
            raise DpsError(errors.INVALID_QUERY, "x-ms-continuation is not a token this service issued.") from None
    return size, after


def _continuation(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": seq}).encode()).decode("ascii")


def _page_headers(item_type: str, size: int, rows: list[tuple[int, Any]], more: bool) -> dict[str, str]:
    headers = {"x-ms-item-type": item_type, "x-ms-max-item-count": str(size)}
    if more and rows:
        headers["x-ms-continuation"] = _continuation(rows[-1][0])
    return headers


def query(emu: Emulator, dps_doc: dict[str, Any], kind: str, body: Any, api_version: str, max_items: str | None,
          continuation: str | None) -> Result:
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
        raise DpsError(errors.INVALID_QUERY, 'The body must be a query specification such as {"query": "*"}.')
    if not QUERY_ALL.match(body["query"]):
        raise DpsError(errors.INVALID_QUERY,
                       "The emulator supports only queries for every record ('*' or 'SELECT * FROM enrollments').")
    size, after = page_arguments(max_items, continuation)
    rows = records.list_enrollments(emu.store, dps_doc["id"].lower(), kind, after, size + 1)
    more, rows = len(rows) > size, rows[:size]
    items = [render(record, api_version) for _, record in rows]
    item_type = "Enrollment" if kind == records.INDIVIDUAL else "EnrollmentGroup"
    return 200, items, _page_headers(item_type, size, rows, more)


def bulk(emu: Emulator, dps_doc: dict[str, Any], kind: str, body: Any, api_version: str) -> Result:
    """`BulkEnrollment(Group)Operation`: up to 10 items, each applied on its own."""
    list_field = "enrollments" if kind == records.INDIVIDUAL else "enrollmentGroups"
    id_field = ID_FIELD[kind]
    error_field = "registrationId" if kind == records.INDIVIDUAL else "enrollmentGroupId"
    if not isinstance(body, dict):
        raise DpsError(errors.INVALID_BODY, "The bulk operation must be a JSON object.")
    mode = body.get("mode")
    if mode not in BULK_MODES:
        raise DpsError(errors.INVALID_BODY, f"mode must be one of {', '.join(BULK_MODES)}.")
    items = body.get(list_field)
    if not isinstance(items, list) or not items:
        raise DpsError(errors.INVALID_BODY, f"{list_field} must be a non-empty list.")
    if len(items) > MAX_BULK:
        raise DpsError(errors.BULK_TOO_LARGE, f"A bulk operation takes at most {MAX_BULK} items; got {len(items)}.")
    failures = []
    for index, item in enumerate(items):
        item_id = item.get(id_field) if isinstance(item, dict) else None
        try:
            if not isinstance(item_id, str) or not item_id:
                raise _bad(f"{list_field}[{index}].{id_field} is required.")
            _bulk_item(emu, dps_doc, kind, mode, item_id, item, api_version)
        except DpsError as exc:
            failures.append({error_field: item_id if isinstance(item_id, str) and item_id else f"#{index}",
                             "errorCode": exc.error_code, "errorStatus": exc.message})
    result: dict[str, Any] = {"isSuccessful": not failures, "errors": failures}
    return 200, result, {}


def _bulk_item(emu: Emulator, dps_doc: dict[str, Any], kind: str, mode: str, item_id: str, item: dict[str, Any],
               api_version: str) -> None:
    dps_key = dps_doc["id"].lower()
    if item.get("etag") is not None and not isinstance(item["etag"], str):
        raise _bad("etag must be a string.")
    with emu.store.transaction():
        existing = records.get_enrollment(emu.store, dps_key, kind, item_id)
        if mode == "delete":
            if existing is None:
                raise _not_found(kind, item_id)
            if item.get("etag") and not etag_matches(item["etag"], existing.get("etag")):
                raise _precondition(kind, item_id, existing)
            records.delete_enrollment(emu.store, dps_key, kind, item_id)
            return
        if mode == "create" and existing is not None:
            raise DpsError(errors.ENROLLMENT_EXISTS, f"The {NOUN[kind]} '{item_id}' already exists.")
        if mode == "updateIfMatchETag" and not etag_matches(item.get("etag") or "", (existing or {}).get("etag")):
            raise _precondition(kind, item_id, existing)
        record = normalise(emu, dps_doc, kind, item_id, item, api_version, existing)
        records.put_enrollment(emu.store, dps_key, kind, item_id, record)


# ---- registration states (service side) -------------------------------------------------------------------
def get_registration_state(emu: Emulator, dps_doc: dict[str, Any], registration_id: str) -> Result:
    record = records.get_registration(emu.store, dps_doc["id"].lower(), registration_id)
    if record is None:
        raise DpsError(errors.REGISTRATION_NOT_FOUND, f"No registration record for '{registration_id}'.")
    return 200, service_registration_state(record), {}


def delete_registration_state(emu: Emulator, dps_doc: dict[str, Any], registration_id: str,
                              if_match: str | None) -> Result:
    dps_key = dps_doc["id"].lower()
    with emu.store.transaction():
        record = records.get_registration(emu.store, dps_key, registration_id)
        if record is None:
            raise DpsError(errors.REGISTRATION_NOT_FOUND, f"No registration record for '{registration_id}'.")
        if not etag_matches(if_match, record.get("etag")):
            raise DpsError(errors.PRECONDITION_FAILED,
                           f"The etag in If-Match does not match the registration record of '{registration_id}'.")
        records.delete_registration(emu.store, dps_key, registration_id)
    return 204, None, {}


def query_registration_states(emu: Emulator, dps_doc: dict[str, Any], group_id: str, max_items: str | None,
                              continuation: str | None) -> Result:
    dps_key = dps_doc["id"].lower()
    if records.get_enrollment(emu.store, dps_key, records.GROUP, group_id) is None:
        raise _not_found(records.GROUP, group_id)
    size, after = page_arguments(max_items, continuation)
    rows = records.list_group_registrations(emu.store, dps_key, group_id, after, size + 1)
    more, rows = len(rows) > size, rows[:size]
    items = [service_registration_state(record) for _, record in rows]
    return 200, items, _page_headers("DeviceRegistration", size, rows, more)
