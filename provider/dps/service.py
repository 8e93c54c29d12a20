"""HTTP routes of the DPS data plane (device API and service API) and their wiring into the app.

Both APIs are served on the emulator's HTTP and HTTPS listeners; X.509 attestation needs HTTPS,
where the server puts the presented client chain in the environ (`SSL_CLIENT_CERT_CHAIN_DER`).

* Device API — `/{idScope}/registrations/...`: the id scope in the path selects the DPS.
* Service API — `/enrollments`, `/enrollmentGroups`, `/registrations`: the DPS is the one whose
  `serviceOperationsHostName` equals the Host header (port stripped); because users mostly call
  `127.0.0.1`, otherwise the host in the SAS token's `sr`. The token must be signed with one of
  the DPS's shared access policy keys (ARM listKeys; `provisioningserviceowner` holds all rights)
  and the policy needs the operation's right (EnrollmentRead/Write, RegistrationStatusRead/Write).

Device request bodies are limited to 64 KiB (a CSR is at most 8 KiB of DER). Every failure on
these paths, including Flask's own 404/405/413 and unexpected exceptions, is answered in DPS's
error format (`errors.DpsError`), never with a traceback. `register(app, emu)` also adds the TLS
trust source: every enrolled X.509 certificate (client certificates of individual enrollments,
signing certificates of groups, DPS CA certificates), so that device chains ending at them get
through the handshake; whether they are accepted is decided afterwards by `attestation`.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from provider.data_plane_errors import add_error_format
from provider.dps import errors, records
from provider.dps.errors import DpsError
from provider.dps.sas import SasError, parse_sas, verify_sas

if TYPE_CHECKING:
    from collections.abc import Callable

    from provider.dps import enrollments as enrollments_module
    from provider.dps import registration as registration_module
    from provider.state import Emulator


def _enrollments() -> enrollments_module:
    """The service-API logic (and `cryptography`'s X.509 stack with it) loads on first use, not at start-up."""
    from provider.dps import enrollments  # lazy: see the docstring

    return enrollments


def _registration() -> registration_module:
    from provider.dps import registration  # lazy, as `_enrollments`

    return registration


log = logging.getLogger("adr_emulator.dps")

bp = Blueprint("dps", __name__)
MAX_DEVICE_BODY = 64 * 1024
SERVICE_PATH = re.compile(r"^/(enrollments|enrollmentgroups|registrations)(/|$)", re.I)
DEVICE_PATH = re.compile(r"^/[^/]+/registrations(/|$)", re.I)
HTTP_CODES = {400: errors.INVALID_BODY, 401: errors.UNAUTHORIZED, 404: errors.NOT_FOUND,
              405: errors.METHOD_NOT_ALLOWED, 413: errors.BODY_TOO_LARGE}
READ, WRITE = "Read", "Write"


def _emu() -> Emulator:
    return current_app.config["EMULATOR"]


def is_dps_path(path: str) -> bool:
    return bool(SERVICE_PATH.match(path) or DEVICE_PATH.match(path))


# ---- responses ---------------------------------------------------------------------------------------------
def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    if status == 204 or body is None:
        resp = Response(status=status)
        resp.headers.pop("Content-Type", None)
    else:
        resp = Response(json.dumps(body), status=status, mimetype="application/json")
        resp.headers["Content-Type"] = "application/json; charset=utf-8"
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def error_response(exc: DpsError) -> Response:
    return _json(exc.status, exc.body(), exc.response_headers())


@bp.errorhandler(DpsError)
def _dps_error(exc: DpsError) -> Response:
    log.info("%s %s -> %s %s", request.method, request.path, exc.status, exc.error_code)
    return error_response(exc)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        return error_response(_http_error(status, exc.description or ""))
    log.exception("DPS: unhandled error on %s %s", request.method, request.path)
    return error_response(DpsError(errors.INTERNAL, f"The emulator failed to process the request "
                                                    f"({type(exc).__name__})."))


def _http_error(status: int, message: str) -> DpsError:
    code = HTTP_CODES.get(status, status * 1000)
    if status == 413:
        message = "The request body is too large."
    return DpsError(code, message or "The request failed.")


def _flask_error(status: int, _code: str, message: str) -> Response:
    """Flask-level 404/405/413 on DPS paths (no view ran)."""
    return error_response(_http_error(status, message))


# ---- request helpers -------------------------------------------------------------------------------------------
def _body(limit: int | None = None, required: bool = True) -> Any:
    """The JSON body. It is read in full (up to the app's MAX_CONTENT_LENGTH) before a size refusal,
    so that the client is not cut off while still sending and does see the 413."""
    raw = request.get_data(cache=True)
    if limit is not None and len(raw) > limit:
        raise DpsError(errors.BODY_TOO_LARGE, f"The request body exceeds the {limit} byte limit of this API.")
    if not raw.strip():
        if required:
            raise DpsError(errors.INVALID_BODY, "A JSON request body is required.")
        return None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise DpsError(errors.INVALID_BODY, "The request body is not valid JSON.") from None


def _api_version() -> str:
    return request.args.get("api-version") or ""


def _evidence() -> registration_module.DeviceEvidence:
    chain = request.environ.get("SSL_CLIENT_CERT_CHAIN_DER") or []
    return _registration().DeviceEvidence(sas_token=request.headers.get("Authorization") or None,
                                       client_chain_der=list(chain), transport="https")


def _answer(result: tuple[int, Any, dict[str, str]]) -> Response:
    status, body, headers = result
    return _json(status, body, headers)


# ---- device API ------------------------------------------------------------------------------------------------
@bp.route("/<id_scope>/registrations/<registration_id>/register", methods=["PUT"])
def device_register(id_scope: str, registration_id: str) -> Response:
    body = _body(MAX_DEVICE_BODY)
    status, result, headers = _registration().register(_emu(), id_scope, registration_id, body, _evidence(),
                                                    _api_version())
    headers = {**headers, "Location": request.base_url}
    return _json(status, result, headers)


@bp.route("/<id_scope>/registrations/<registration_id>/operations/<operation_id>", methods=["GET"])
def device_operation(id_scope: str, registration_id: str, operation_id: str) -> Response:
    return _answer(_registration().operation_status(_emu(), id_scope, registration_id, operation_id, _evidence(),
                                                 _api_version()))


@bp.route("/<id_scope>/registrations/<registration_id>", methods=["POST"])
def device_status_lookup(id_scope: str, registration_id: str) -> Response:
    body = _body(MAX_DEVICE_BODY, required=False)
    return _answer(_registration().status_lookup(_emu(), id_scope, registration_id, body, _evidence(), _api_version()))


# ---- service API: routing and authorisation ---------------------------------------------------------------------
def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.split(":", 1)[0]


def _service_dps(right: str) -> dict[str, Any]:
    """The DPS the request is for, after checking its SAS token and the policy's rights."""
    emu = _emu()
    version = _api_version()
    if not version:
        raise DpsError(errors.MISSING_API_VERSION, "The api-version query parameter is required.")
    if version not in _enrollments().SERVICE_API_VERSIONS and not emu.config.skip_api_version_check:
        raise DpsError(errors.INVALID_API_VERSION,
                       f"The api-version '{version[:40]}' is not supported by the service API; supported: "
                       f"{', '.join(_enrollments().SERVICE_API_VERSIONS)}.")
    token = request.headers.get("Authorization")
    dps = emu.dps.by_host(_host_name(request.host))
    if not token:
        raise DpsError(errors.UNAUTHORIZED, "Unauthorized: the service API needs an Authorization header with a "
                                            "SharedAccessSignature signed by a shared access policy of the DPS.")
    try:
        parsed = parse_sas(token)
    except SasError as exc:
        raise DpsError(errors.UNAUTHORIZED, f"Unauthorized: {exc.message}.") from None
    if dps is None:
        sr_host = _host_name(re.sub(r"^[a-z]+://", "", parsed.resource.lower()).split("/", 1)[0])
        dps = emu.dps.by_host(sr_host)
        if dps is None:
            raise DpsError(errors.DPS_NOT_FOUND,
                           f"No provisioning service has the host name '{sr_host[:100]}' (from the token's sr) or "
                           f"'{_host_name(request.host)[:100]}' (from the Host header).")
    policies = emu.dps.policy_keys(dps)
    keys = {name: [p.get("primaryKey"), p.get("secondaryKey")] for name, p in policies.items()}
    host = (dps.get("properties") or {}).get("serviceOperationsHostName") or ""
    try:
        name = verify_sas(parsed, keys, host, emu.now().timestamp())
    except SasError as exc:
        code = errors.TOKEN_EXPIRED if exc.expired else errors.UNAUTHORIZED
        raise DpsError(code, f"Unauthorized: {exc.message}.") from None
    _check_rights(policies.get(name or "", {}).get("rights"), right, name)
    return dps


def _check_rights(rights: Any, needed: str, policy: str | None) -> None:
    """`needed` is e.g. "EnrollmentRead"; a Write right implies the Read one, ServiceConfig implies all.

    (The default `provisioningserviceowner` policy has "ServiceConfig, DeviceConnect, EnrollmentWrite"
    and may do everything.)
    """
    if not rights:
        return
    granted = {r.strip().lower() for r in str(rights).split(",")}
    if "serviceconfig" in granted:
        return
    wanted = {needed.lower()}
    if needed.endswith(READ):
        wanted.add((needed[: -len(READ)] + WRITE).lower())
    if not granted & wanted:
        raise DpsError(errors.INSUFFICIENT_RIGHTS,
                       f"Unauthorized: the shared access policy '{policy}' lacks the {needed} permission.")


def _kind(collection: str) -> str:
    return records.INDIVIDUAL if collection == "enrollments" else records.GROUP


# ---- service API: enrollments and groups -------------------------------------------------------------------------
def _enrollment_routes(collection: str) -> None:
    kind = _kind(collection)
    endpoint = collection.lower()

    def one(enrollment_id: str) -> Response:
        emu, version = _emu(), _api_version()
        if request.method == "GET":
            dps = _service_dps("EnrollmentRead")
            return _answer(_enrollments().get(emu, dps, kind, enrollment_id, version))
        dps = _service_dps("EnrollmentWrite")
        if_match = request.headers.get("If-Match")
        if request.method == "PUT":
            return _answer(_enrollments().put(emu, dps, kind, enrollment_id, _body(), version, if_match))
        return _answer(_enrollments().delete(emu, dps, kind, enrollment_id, if_match))

    def mechanism(enrollment_id: str) -> Response:
        dps = _service_dps("EnrollmentRead")
        return _answer(_enrollments().attestation_mechanism(_emu(), dps, kind, enrollment_id))

    def query() -> Response:
        dps = _service_dps("EnrollmentRead")
        return _answer(_enrollments().query(_emu(), dps, kind, _body(), _api_version(),
                                         request.headers.get("x-ms-max-item-count"),
                                         request.headers.get("x-ms-continuation")))

    def bulk() -> Response:
        dps = _service_dps("EnrollmentWrite")
        return _answer(_enrollments().bulk(_emu(), dps, kind, _body(), _api_version()))

    bp.add_url_rule(f"/{collection}/query", f"{endpoint}_query", query, methods=["POST"])
    bp.add_url_rule(f"/{collection}", f"{endpoint}_bulk", bulk, methods=["POST"])
    bp.add_url_rule(f"/{collection}/<enrollment_id>", f"{endpoint}_one", one, methods=["GET", "PUT", "DELETE"])
    bp.add_url_rule(f"/{collection}/<enrollment_id>/attestationmechanism", f"{endpoint}_mechanism", mechanism,
                    methods=["POST"])


_enrollment_routes("enrollments")
_enrollment_routes("enrollmentGroups")


# ---- service API: registration states --------------------------------------------------------------------------
@bp.route("/registrations/<registration_id>", methods=["GET", "DELETE"])
def registration_state(registration_id: str) -> Response:
    emu = _emu()
    if request.method == "GET":
        return _answer(_enrollments().get_registration_state(emu, _service_dps("RegistrationStatusRead"),
                                                          registration_id))
    return _answer(_enrollments().delete_registration_state(emu, _service_dps("RegistrationStatusWrite"),
                                                         registration_id, request.headers.get("If-Match")))


@bp.route("/registrations/<group_id>/query", methods=["POST"])
def registration_state_query(group_id: str) -> Response:
    dps = _service_dps("RegistrationStatusRead")
    return _answer(_enrollments().query_registration_states(_emu(), dps, group_id,
                                                         request.headers.get("x-ms-max-item-count"),
                                                         request.headers.get("x-ms-continuation")))


# ---- wiring --------------------------------------------------------------------------------------------------------
def trust_source(emu: Emulator) -> Callable[[], list[str]]:
    """PEMs a device's TLS chain may end at: enrolled certificates (read only when the store changed,
    see `provider.tls.ServerTls`)."""

    def source() -> list[str]:
        from cryptography.hazmat.primitives.serialization import Encoding

        from provider.dps.attestation import load_certificate  # lazy: `cryptography` loads on first use

        pems = []
        for body in records.all_enrollment_bodies(emu.store):
            x509_section = (body.get("attestation") or {}).get("x509") or {}
            for section in ("clientCertificates", "signingCertificates"):
                for entry in (x509_section.get(section) or {}).values():
                    if (entry or {}).get("certificate"):
                        pems.append(entry["certificate"])
        for doc in emu.repo.of_type("microsoft.devices/provisioningservices/certificates"):
            text = (doc.get("properties") or {}).get("certificate")
            if text:
                try:
                    pems.append(load_certificate(text).public_bytes(Encoding.PEM).decode("ascii"))
                except ValueError:
                    continue
        return pems

    return source


def register(app: Flask, emu: Emulator) -> None:
    """Called by `provider.app.create_app`: routes, error format, TLS trust."""
    app.register_blueprint(bp)
    add_error_format(app, is_dps_path, _flask_error)
    emu.hooks.trust_sources.append(trust_source(emu))
