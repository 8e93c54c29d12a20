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

import copy
import re
from typing import TYPE_CHECKING, Any

from provider.common import DEVICE_ID, REGISTRATION_ID, data_plane_etag
from provider.dps import errors, records
from provider.dps.adr_link import link_fields, resolve_link
from provider.dps.body import bad, read_bool, read_object, read_string
from provider.dps.enrollment_attestation import normalise_attestation
from provider.dps.errors import DpsError, timestamp
from provider.dps.paging import page_arguments, page_headers

if TYPE_CHECKING:
    from provider.state import Emulator

SERVICE_API_VERSIONS = ("2021-10-01", "2025-07-01-preview", "2026-11-01")
ALLOCATION_POLICIES = ("hashed", "geoLatency", "static", "custom")
BULK_MODES = ("create", "update", "updateIfMatchETag", "delete")
MAX_BULK = 10
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


def check_registration_id(value: Any, where: str = "registrationId") -> str:
    if not isinstance(value, str) or not REGISTRATION_ID.match(value):
        raise DpsError(errors.INVALID_REGISTRATION_ID,
                       f"{where} must be 1-128 characters: letters, digits and - . _ :, starting and ending with a "
                       "letter or digit.")
    return value


def linked_hosts(emu: Emulator, dps_doc: dict[str, Any]) -> set[str]:
    return emu.dps.linked_hub_hosts(dps_doc)


# ---- create / update ----------------------------------------------------------------------------------------
def normalise(emu: Emulator, dps_doc: dict[str, Any], kind: str, path_id: str, body: Any, api_version: str,
              existing: dict[str, Any] | None) -> dict[str, Any]:
    """Validate a PUT body and build the record to store (keys, certificates, link, timestamps)."""
    if not isinstance(body, dict):
        raise DpsError(errors.INVALID_BODY, f"The {NOUN[kind]} must be a JSON object.")
    record = _identity(kind, path_id, body)
    record["attestation"] = normalise_attestation(emu, dps_doc, kind, body.get("attestation"),
                                                  (existing or {}).get("attestation"))
    capabilities = read_object(body.get("capabilities"), "capabilities") or {}
    record["capabilities"] = {"iotEdge": read_bool(capabilities.get("iotEdge"), "capabilities.iotEdge", False)}
    record.update(_hub_assignment(emu, dps_doc, body))
    twin = read_object(body.get("initialTwin"), "initialTwin")
    if twin is not None:
        read_object(twin.get("tags"), "initialTwin.tags")
        read_object((read_object(twin.get("properties"), "initialTwin.properties") or {}).get("desired"),
                    "initialTwin.properties.desired")
        record["initialTwin"] = twin
    status = body.get("provisioningStatus", "enabled")
    if status not in ("enabled", "disabled"):
        raise bad("provisioningStatus must be 'enabled' or 'disabled'.")
    record["provisioningStatus"] = status
    reprovision = read_object(body.get("reprovisionPolicy"), "reprovisionPolicy") or {}
    record["reprovisionPolicy"] = {
        name: read_bool(reprovision.get(name), f"reprovisionPolicy.{name}", True)
        for name in ("updateHubAssignment", "migrateDeviceData")
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


def _identity(kind: str, path_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The enrollment's id (equal to the path's), and an individual enrollment's device fields."""
    id_field = ID_FIELD[kind]
    given_id = body.get(id_field)
    if not isinstance(given_id, str) or not given_id:
        raise bad(f"{id_field} is required.")
    if given_id.lower() != path_id.lower():
        raise DpsError(errors.ID_MISMATCH, f"The {id_field} in the body ('{given_id}') does not match the one in the "
                                           f"path ('{path_id}').")
    check_registration_id(given_id, id_field)
    record: dict[str, Any] = {id_field: given_id}
    if kind == records.INDIVIDUAL:
        device_id = read_string(body.get("deviceId"), "deviceId")
        if device_id:
            if not DEVICE_ID.match(device_id):
                raise bad("deviceId is not a valid IoT Hub device id.")
            record["deviceId"] = device_id
        info = read_object(body.get("optionalDeviceInformation"), "optionalDeviceInformation")
        if info is not None:
            record["optionalDeviceInformation"] = info
    return record


def _hub_assignment(emu: Emulator, dps_doc: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """`iotHubHostName` / `iotHubs` (each a linked hub), `allocationPolicy`, `customAllocationDefinition`."""
    out: dict[str, Any] = {}
    static = read_string(body.get("iotHubHostName"), "iotHubHostName")
    hubs = body.get("iotHubs")
    if hubs is not None and (not isinstance(hubs, list) or not all(isinstance(h, str) for h in hubs)):
        raise bad("iotHubs must be a list of IoT hub host names.")
    if static or hubs:
        hosts = linked_hosts(emu, dps_doc)
        for host in [*(hubs or []), *([static] if static else [])]:
            if host.lower() not in hosts:
                raise DpsError(errors.HUB_NOT_LINKED, f"IoT hub '{host}' is not linked to this provisioning service.",
                               info={"hub": host})
    if static:
        out["iotHubHostName"] = static
    if hubs is not None:
        out["iotHubs"] = list(hubs)
    policy = body.get("allocationPolicy")
    if policy is not None:
        if policy not in ALLOCATION_POLICIES:
            raise bad(f"allocationPolicy must be one of {', '.join(ALLOCATION_POLICIES)}.")
        out["allocationPolicy"] = policy
    custom = read_object(body.get("customAllocationDefinition"), "customAllocationDefinition")
    if custom is not None:
        if not all(isinstance(custom.get(k), str) and custom[k] for k in ("webhookUrl", "apiVersion")):
            raise bad("customAllocationDefinition needs webhookUrl and apiVersion.")
        out["customAllocationDefinition"] = {"webhookUrl": custom["webhookUrl"], "apiVersion": custom["apiVersion"]}
    return out


# ---- rendering ---------------------------------------------------------------------------------------------
def render(record: dict[str, Any], api_version: str, *, with_secrets: bool = False,
           registration_state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record as the service API returns it at `api_version`."""
    out = {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_")}
    out["attestation"] = render_attestation(record["attestation"], with_secrets)
    out.update(link_fields(record, api_version))
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
    return 200, items, page_headers(item_type, size, rows, more)


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
                raise bad(f"{list_field}[{index}].{id_field} is required.")
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
        raise bad("etag must be a string.")
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
    return 200, items, page_headers("DeviceRegistration", size, rows, more)
