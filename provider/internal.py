"""The emulator's own endpoints under `/_emulator/`: health, reset, and the development CA.

Kept small and stable: CI scripts poll `health` and tests call `reset` between cases.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app

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
    pem = emu.extensions.get("dev_ca_pem")
    if not pem:
        return _json({"error": {"code": "NotFound", "message": "HTTPS is not enabled."}}, 404)
    return Response(pem, mimetype="application/x-pem-file")


# ---- inspecting a namespace's PKI ------------------------------------------------------------------
def _find_namespace(emu, key: str):
    """A namespace by its `properties.uuid`, or by its ARM id (`?resourceId=`)."""
    for doc in emu.repo.of_type("microsoft.deviceregistry/namespaces"):
        if doc["properties"].get("uuid", "").lower() == key.lower() or doc["id"].lower() == key.lower():
            return doc
    return None


def _pki_view(emu, namespace: dict) -> dict:
    credential_owner = f"{namespace['id']}/credentials/default".lower()
    root = emu.pki.active_ca(credential_owner)
    policies = {}
    for _, policy in emu.repo.children(credential_owner, "microsoft.deviceregistry/namespaces/credentials/policies"):
        owner = policy["id"].lower()
        history = emu.pki.ca_history(owner)
        active = emu.pki.active_ca(owner)
        chain_root = emu.pki.root_for(owner)
        policies[policy["name"]] = {
            "id": policy["id"],
            "issuingCa": active.certificate_pem if active else None,
            "root": chain_root.certificate_pem if chain_root else None,
            "thumbprint": active.thumbprint if active else None,
            "history": [{"thumbprint": r.thumbprint, "status": r.status, "subject": r.subject} for r in history],
            "issuedCertificates": emu.pki.issued_certificates(policy_owner=owner),
        }
    return {"namespace": namespace["id"], "uuid": namespace["properties"].get("uuid"),
            "root": root.certificate_pem if root else None,
            "rootThumbprint": root.thumbprint if root else None, "policies": policies}


@bp.route("/namespaces/<key>/ca", methods=["GET"])
@bp.route("/ca", methods=["GET"])
def namespace_ca(key: str | None = None) -> Response:
    """The namespace's root and issuing CAs in PEM (`?resourceId=` or the namespace uuid in the path)."""
    from flask import request

    emu = current_app.config["EMULATOR"]
    key = key or request.args.get("resourceId", "")
    namespace = _find_namespace(emu, key)
    if namespace is None:
        return _json({"error": {"code": "NotFound", "message": f"No namespace with uuid or id '{key}'."}}, 404)
    view = _pki_view(emu, namespace)
    fmt = request.args.get("format", "json")
    if fmt == "pem":
        pems = [view["root"] or ""] + [p["issuingCa"] or "" for p in view["policies"].values()]
        return Response("".join(pems), mimetype="application/x-pem-file")
    return _json(view)
