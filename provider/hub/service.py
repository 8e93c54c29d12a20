"""The IoT Hub service API over HTTPS and the emulator's hub inspection endpoints.

Service API (api-version 2021-04-12 or newer): `/devices[/{id}]`, `/twins/{id}` and
`/twins/{id}/methods`, authorised with a hub policy SAS token
(`SharedAccessSignature sr={hostName}&sig=...&se=...&skn={policy}`). A request is routed to the hub
whose host name is the `Host` header (port ignored), or else the host in the token's `sr`, so
clients that call `https://127.0.0.1:port` work. Errors use IoT Hub's body
(`{"Message": "ErrorCode:...;...", "ExceptionMessage": ...}`) and the `iothub-errorcode` header.

Emulator-only endpoints (no auth, like the rest of `/_emulator`):
* `GET|DELETE /_emulator/hubs/{hubName}/devices/{deviceId}/messages[?last=N]`: telemetry count and
  the last messages of a device (DELETE clears them);
* `GET /_emulator/hubs/{hubName}/connections`: live MQTT connections of a hub.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, request

from provider.adr import ids
from provider.data_plane_errors import add_error_format
from provider.hub import auth as hub_auth
from provider.hub import registry
from provider.hub.registry import HubError

if TYPE_CHECKING:
    from provider.state import Emulator

log = logging.getLogger("adr_emulator")

bp = Blueprint("iothub_service", __name__)
MIN_API_VERSION = "2021-04-12"
SERVICE_PREFIXES = ("/devices", "/twins")


def _emu() -> Any:
    return current_app.config["EMULATOR"]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _error(exc: HubError) -> Response:
    return _json(exc.body(), exc.status, {"iothub-errorcode": exc.code})


def _is_service_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in SERVICE_PREFIXES)


# ---- request plumbing -----------------------------------------------------------------------------------
def _hub_for_request(emu: Any) -> dict[str, Any]:
    hub = emu.hub.by_host(request.host) if request.host else None
    sr_host = hub_auth.sas_resource_host(request.headers.get("Authorization"))
    if hub is None and sr_host:
        hub = emu.hub.by_host(sr_host)
    if hub is None:
        if sr_host is None:  # nothing names a hub: an authentication problem, as IoT Hub reports it
            raise HubError(401, "IotHubUnauthorizedAccess",
                           "Unauthorized: send a SharedAccessSignature token for the hub (sr=<hub host name>).")
        raise HubError(404, "IotHubNotFound",
                       f"No IoT hub has the host name '{request.host}' or '{sr_host}' (the SAS token's sr).")
    return hub


def _check_api_version() -> None:
    version = request.args.get("api-version")
    if not version:
        raise HubError(400, "InvalidProtocolVersion", "The api-version query parameter is required.")
    if version[:10] < MIN_API_VERSION:
        raise HubError(400, "InvalidProtocolVersion",
                       f"api-version '{version}' is not supported; use {MIN_API_VERSION} or newer.")


def _authorized(need: str) -> tuple[Any, dict[str, Any]]:
    emu = _emu()
    _check_api_version()
    hub = _hub_for_request(emu)
    hub_auth.authorize_service(emu, hub, request.headers.get("Authorization"), need)
    return emu, hub


def _body() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise HubError(400, "ArgumentNull", "The request body is required.")
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        raise HubError(400, "ArgumentInvalid", "The request body is not valid JSON.") from None


def _if_match() -> str | None:
    value = request.headers.get("If-Match")
    return value.strip() if value else None


@bp.errorhandler(HubError)
def _hub_error(exc: HubError) -> Response:
    log.info("%s %s -> %s %s: %s", request.method, request.path, exc.status, exc.code, exc.message)
    return _error(exc)


# ---- devices ---------------------------------------------------------------------------------------------
@bp.route("/devices", methods=["GET"])
def list_devices() -> Response:
    emu, hub = _authorized("RegistryRead")
    try:
        top = max(1, min(int(request.args.get("top", "1000")), 1000))
    except ValueError:
        raise HubError(400, "ArgumentInvalid", "top must be an integer.") from None
    return _json(registry.list_devices(emu.store, hub, top))


@bp.route("/devices/<device_id>", methods=["GET"])
def get_device(device_id: str) -> Response:
    emu, hub = _authorized("RegistryRead")
    device = registry.get_device(emu.store, hub, device_id)
    if device is None:
        raise HubError(404, "DeviceNotFound", f"Device {device_id} not found.")
    return _json(device, headers={"ETag": f'"{device["etag"]}"'})


@bp.route("/devices/<device_id>", methods=["PUT"])
def put_device(device_id: str) -> Response:
    emu, hub = _authorized("RegistryWrite")
    body = _body()
    if_match = _if_match()
    if not if_match and registry.get_device(emu.store, hub, device_id) is not None:
        raise HubError(409, "DeviceAlreadyExists",
                       f"A device with ID '{device_id}' is already registered; send If-Match to replace it.")
    status, device = registry.put_device(emu.store, hub, device_id, body, if_match)
    _recheck(emu, hub, device_id)
    return _json(device, status, {"ETag": f'"{device["etag"]}"'})


@bp.route("/devices/<device_id>", methods=["DELETE"])
def delete_device(device_id: str) -> Response:
    emu, hub = _authorized("RegistryWrite")
    registry.delete_device(emu.store, hub, device_id, _if_match())
    emu.hub.drop_connections(hub["id"], device_id, "the device was deleted", wait=5.0)
    return Response(status=204)


def _recheck(emu: Any, hub: dict[str, Any], device_id: str) -> None:
    """A changed identity (disabled, new keys or thumbprints) applies to live connections at once."""
    server = emu.hub.mqtt_server
    if server is not None:
        server.recheck_devices(hub["id"], device_id, wait=5.0)


# ---- twins -------------------------------------------------------------------------------------------------
@bp.route("/twins/<device_id>", methods=["GET"])
def get_twin(device_id: str) -> Response:
    emu, hub = _authorized("TwinRead")
    twin = registry.twin_document(emu.store, hub, device_id)
    return _json(twin, headers={"ETag": f'"{twin["etag"]}"'})


@bp.route("/twins/<device_id>", methods=["PATCH"])
def patch_twin(device_id: str) -> Response:
    emu, hub = _authorized("TwinWrite")
    patch = _body()
    if_match = _if_match()
    if if_match and if_match != "*":
        current = registry.twin_document(emu.store, hub, device_id)
        if if_match.strip('"') != current["etag"].strip('"'):
            raise HubError(412, "PreconditionFailed", "The ETag does not match the twin's current ETag.")
    delta = registry.patch_twin(emu.store, hub, device_id, patch)
    desired = (patch.get("properties") or {}).get("desired") if isinstance(patch, dict) else None
    server = emu.hub.mqtt_server
    if desired is not None and server is not None:
        topic = f"$iothub/twin/PATCH/properties/desired/?$version={delta['$version']}"
        server.push(hub["id"], device_id, topic, json.dumps(delta).encode())
    twin = registry.twin_document(emu.store, hub, device_id)
    return _json(twin, headers={"ETag": f'"{twin["etag"]}"'})


@bp.route("/twins/<device_id>/methods", methods=["POST"])
def invoke_method(device_id: str) -> Response:
    """Direct method: publish `$iothub/methods/POST/{name}/?$rid=` and wait for the device's answer."""
    emu, hub = _authorized("ServiceConnect")
    body = _body()
    if not isinstance(body, dict) or not isinstance(body.get("methodName"), str) or not body["methodName"]:
        raise HubError(400, "ArgumentInvalid", "methodName is required.")
    if registry.get_device(emu.store, hub, device_id) is None:
        raise HubError(404, "DeviceNotFound", f"Device {device_id} not found.")
    try:
        timeout = max(5, min(int(body.get("responseTimeoutInSeconds") or 30), 300))
    except (TypeError, ValueError):
        raise HubError(400, "ArgumentInvalid", "responseTimeoutInSeconds must be an integer.") from None
    server = emu.hub.mqtt_server
    rid = uuid.uuid4().hex
    hub_id = hub["id"].lower()
    real_id = registry.get_device(emu.store, hub, device_id)["deviceId"]
    if server is None:
        raise HubError(404, "DeviceNotOnline", f"Device {device_id} is not online.")
    future = server.method_responses.expect(hub_id, real_id, rid)
    topic = f"$iothub/methods/POST/{body['methodName']}/?$rid={rid}"
    if not server.push(hub_id, real_id, topic, json.dumps(body.get("payload")).encode()):
        server.method_responses.forget(hub_id, real_id, rid)
        raise HubError(404, "DeviceNotOnline", f"Device {device_id} is not online (or not subscribed to methods).")
    try:
        status, payload = future.result(timeout)
    except Exception:
        server.method_responses.forget(hub_id, real_id, rid)
        raise HubError(504, "GatewayTimeout", f"Timed out waiting for the response from device {device_id}.") \
            from None
    try:
        result = json.loads(payload) if payload.strip() else None
    except ValueError:
        result = payload.decode("utf-8", errors="replace")
    return _json({"status": status, "payload": result})


# ---- emulator-only inspection ----------------------------------------------------------------------------
def _hub_by_name(emu: Any, hub_name: str) -> dict[str, Any]:
    hub = emu.hub.by_name(hub_name)
    if hub is None:
        raise HubError(404, "IotHubNotFound", f"No IoT hub named '{hub_name}'.")
    return hub


@bp.route("/_emulator/hubs/<hub_name>/devices/<device_id>/messages", methods=["GET", "DELETE"])
def device_messages(hub_name: str, device_id: str) -> Response:
    emu = _emu()
    hub = _hub_by_name(emu, hub_name)
    telemetry = emu.hub.telemetry
    if request.method == "DELETE":
        telemetry.clear(hub["name"], device_id)
        return Response(status=204)
    try:
        last = int(request.args.get("last", "100"))
    except ValueError:
        last = 100
    return _json({"hub": hub["name"], **telemetry.view(hub["name"], device_id, last)})


@bp.route("/_emulator/hubs/<hub_name>/connections", methods=["GET"])
def hub_connections(hub_name: str) -> Response:
    emu = _emu()
    hub = _hub_by_name(emu, hub_name)
    server = emu.hub.mqtt_server
    return _json({"hub": hub["name"], "connections": server.connections(hub["id"]) if server else []})


# ---- wiring --------------------------------------------------------------------------------------------------
def _on_device_revoked(emu: Emulator, adr_doc: dict[str, Any]) -> None:
    """ADR revoked or disabled a device: once that commits, re-check its connections on linked hubs."""
    def recheck() -> None:
        for hub in emu.hub.linked_to(ids.namespace_of(adr_doc["id"])):
            emu.hub.recheck_connections(hub["id"], adr_doc["name"])

    emu.store.after_commit(recheck)


def _on_hub_trust_changed(emu: Emulator, hub_doc: dict[str, Any]) -> None:
    """The hub's CAs changed: re-check its live X.509 connections once that commits (the listener's
    fingerprint sweep would catch it within a second anyway)."""
    emu.store.after_commit(lambda: emu.hub.recheck_connections(hub_doc["id"]))


def register(app: Flask, emu: Emulator) -> None:
    """Called by `create_app`: routes, error format, TLS trust and change hooks."""
    app.register_blueprint(bp)

    def flask_error(status: int, code: str, message: str) -> Response:
        return _error(HubError(status, code, message))

    add_error_format(app, _is_service_path, flask_error)
    emu.hooks.trust_sources.append(emu.hub.all_trusted_certificates)
    emu.hooks.on_device_revoked.append(lambda doc: _on_device_revoked(emu, doc))
    emu.hooks.on_hub_trust_changed.append(lambda hub: _on_hub_trust_changed(emu, hub))
