"""Flask application factory: blueprints, request ids, ARM auth and error envelopes."""

from __future__ import annotations

import json
import logging
import uuid

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from provider import internal
from provider.arm import auth, frontdoor, routes
from provider.arm.errors import ArmError
from provider.arm.paths import tolerant_paths
from provider.config import Config
from provider.data_plane_errors import error_format_for
from provider.dps import service as dps_service
from provider.hub import service as hub_service
from provider.keystore.base import KeyStoreError
from provider.state import Emulator

log = logging.getLogger("adr_emulator")

# Paths that belong to ARM's front door (auth applies, ARM error envelope).
ARM_PREFIXES = ("/subscriptions", "/providers", "/tenants")


def is_arm_path(path: str) -> bool:
    lowered = path.lower()
    return any(lowered == p or lowered.startswith(p + "/") for p in ARM_PREFIXES)


def _arm_error_response(exc: ArmError) -> Response:
    resp = Response(json.dumps(exc.body()), status=exc.status, mimetype="application/json")
    resp.headers["x-ms-failure-cause"] = "gateway" if exc.status in (401, 404) else "service"
    for name, value in exc.headers.items():
        resp.headers[name] = value
    return resp


def create_app(config: Config | None = None, emulator: Emulator | None = None) -> Flask:
    """Build the WSGI app; every blueprint shares one `Emulator` (store, registry, signing core)."""
    emu = emulator or Emulator(config or Config())
    app = Flask("adr_emulator")
    app.config["EMULATOR"] = emu
    app.config["MAX_CONTENT_LENGTH"] = emu.config.max_body_bytes
    app.url_map.strict_slashes = False
    app.wsgi_app = tolerant_paths(app.wsgi_app)  # type: ignore[method-assign]

    for blueprint in (internal.bp, auth.bp, frontdoor.bp, routes.bp):
        app.register_blueprint(blueprint)
    for data_plane in (dps_service, hub_service):  # each adds its routes, error format and hooks
        data_plane.register(app, emu)

    @app.before_request
    def _before() -> Response | None:
        request.environ["adr.request_id"] = str(uuid.uuid4())
        if emu.config.require_auth and is_arm_path(request.path):
            auth.require_bearer(request.headers.get("Authorization"))
        return None

    @app.after_request
    def _after(resp: Response) -> Response:
        request_id = request.environ.get("adr.request_id") or str(uuid.uuid4())
        resp.headers["x-ms-request-id"] = request_id
        resp.headers["x-ms-correlation-request-id"] = request.headers.get("x-ms-correlation-request-id", request_id)
        client_id = request.headers.get("x-ms-client-request-id")
        if client_id:
            resp.headers["x-ms-client-request-id"] = client_id
        if is_arm_path(request.path):
            resp.headers["x-ms-routing-request-id"] = f"{emu.config.location.upper()}:{request_id}"
        log.debug("%s %s -> %s", request.method, request.full_path, resp.status_code)
        return resp

    @app.errorhandler(ArmError)
    def _arm_error(exc: ArmError) -> Response:
        log.info("%s %s -> %s %s: %s", request.method, request.path, exc.status, exc.code, exc.message)
        return _arm_error_response(exc)

    @app.errorhandler(KeyStoreError)
    def _keystore_error(exc: KeyStoreError) -> Response:
        log.error("key store failure on %s %s: %s", request.method, request.path, exc)
        return _arm_error_response(ArmError(503, "KeyStoreUnavailable", f"The key store failed: {exc}"))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        codes = {404: "NotFound", 405: "MethodNotAllowed", 413: "RequestEntityTooLarge", 400: "BadRequest"}
        message = {404: f"The path '{request.path}' is not served by this emulator.",
                   405: f"The requested resource does not support http method '{request.method}'.",
                   413: f"The request body exceeds the {emu.config.max_body_bytes} byte limit."}.get(status,
                                                                                                    exc.description)
        handler = error_format_for(app, request.path)
        if handler is not None:
            return handler(status, codes.get(status, "Error"), message or "")
        return _arm_error_response(ArmError(status, codes.get(status, "Error"), message or ""))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _arm_error_response(ArmError(500, "InternalServerError",
                                            f"The emulator failed to process the request ({type(exc).__name__})."))

    return app
