"""The emulator's own endpoints under `/_emulator/`: health, reset, and the development CA.

Kept small and stable: CI scripts poll `health` and tests call `reset` between cases.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app

from provider import __version__

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
        "startedAt": emu.started_at.isoformat().replace("+00:00", "Z"),
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
    pem = emu.extensions.get("dev_ca_pem")
    if not pem:
        return _json({"error": {"code": "NotFound", "message": "HTTPS is not enabled."}}, 404)
    return Response(pem, mimetype="application/x-pem-file")
