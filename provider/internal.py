"""The emulator's own endpoints under `/_emulator/`: health, reset, and the development CA.

Kept small and stable: CI scripts poll `health` and tests call `reset` between cases.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from provider import __version__
from provider.common import utc_z

bp = Blueprint("internal", __name__, url_prefix="/_emulator")


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


@bp.route("/health", methods=["GET"])
def health() -> Response:
    emu = current_app.config["EMULATOR"]
    return _json({
        "status": "healthy",
        "version": __version__,
        "persistence": "memory" if emu.config.in_memory else str(emu.config.database_path),
        "lro": emu.config.lro,
        "keystore": emu.config.keystore,
        "endpoints": emu.listeners,
        "startedAt": utc_z(emu.started_at),
    })


@bp.route("/reset", methods=["POST"])
def reset() -> Response:
    """Wipe all state (resources, keys, operations); the process keeps running."""
    emu = current_app.config["EMULATOR"]
    emu.reset()
    return _json({"status": "reset"})


@bp.route("/ca.pem", methods=["GET"])
def dev_ca() -> Response:
    """The development CA that signs the emulator's TLS server certificate (trust it in clients)."""
    emu = current_app.config["EMULATOR"]
    pem = emu.dev_ca_pem
    if not pem:
        return _json({"error": {"code": "NotFound", "message": "HTTPS is not enabled."}}, 404)
    return Response(pem, mimetype="application/x-pem-file")


# ---- inspecting a namespace's PKI ------------------------------------------------------------------
@bp.route("/namespaces/<key>/ca", methods=["GET"])
@bp.route("/ca", methods=["GET"])
def namespace_ca(key: str | None = None) -> Response:
    """The namespace's root and issuing CAs in PEM (`?resourceId=` or the namespace uuid in the path)."""
    emu = current_app.config["EMULATOR"]
    key = key or request.args.get("resourceId", "")
    namespace = emu.adr.namespace_by_key(key)
    if namespace is None:
        return _json({"error": {"code": "NotFound", "message": f"No namespace with uuid or id '{key}'."}}, 404)
    view = emu.adr.pki_view(namespace)
    fmt = request.args.get("format", "json")
    if fmt == "pem":
        pems = [view["root"] or ""] + [p["issuingCa"] or "" for p in view["policies"].values()]
        return Response("".join(pems), mimetype="application/x-pem-file")
    return _json(view)


# ---- the emulator clock ----------------------------------------------------------------------------
_CLOCK_USAGE = "Send {\"offsetSeconds\": s} or {\"advanceSeconds\": s}."


@bp.route("/clock", methods=["GET", "POST"])
def clock() -> Response:
    """Read, set (`offsetSeconds`) or move (`advanceSeconds`) the clock that certificate and token
    validity is judged by; live device connections are re-checked against the new time."""
    emu = current_app.config["EMULATOR"]
    if request.method == "POST":
        body = request.get_json(silent=True)
        try:
            if not isinstance(body, dict):
                raise ValueError
            if "offsetSeconds" in body:
                emu.clock_offset_seconds = float(body["offsetSeconds"])
            elif "advanceSeconds" in body:
                emu.clock_offset_seconds += float(body["advanceSeconds"])
            else:
                raise ValueError
        except (TypeError, ValueError):
            return _json({"error": {"code": "ArgumentInvalid", "message": _CLOCK_USAGE}}, 400)
        emu.hub.recheck_connections(wait=10.0)
    return _json({"now": utc_z(emu.now()), "offsetSeconds": emu.clock_offset_seconds})
