"""The IoT Hub identity registry: device identities and their twins, per hub.

Stored in `hub_devices` (one row per device, keyed by the hub's lower-cased ARM id and the
lower-cased device id). Both the hub's service API and DPS write here; DPS-created devices use
authentication type `certificateAuthority` (X.509 CA-signed) or `sas`. Every function runs inside
the caller's transaction when there is one. Errors use IoT Hub's error shape (`HubError`).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from provider.common import DEVICE_ID, new_access_key, utc_z
from provider.store import Database, Store, dumps, register_schema

AUTH_TYPES = ("sas", "selfSigned", "certificateAuthority", "none")
EPOCH = "0001-01-01T00:00:00Z"


@register_schema
def _schema(db: Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS hub_devices (
            hub TEXT NOT NULL,            -- lower-cased hub ARM id
            device_key TEXT NOT NULL,     -- lower-cased device id
            seq INTEGER NOT NULL,
            body TEXT NOT NULL,           -- device identity (IoT Hub REST shape)
            twin TEXT NOT NULL,           -- {"tags", "desired", "reported", "desiredVersion", "reportedVersion"}
            PRIMARY KEY (hub, device_key)
        )"""
    )


class HubError(Exception):
    """An IoT Hub data-plane error: HTTP status plus IoT Hub's `ErrorCode:...` message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self, tracking_id: str | None = None) -> dict[str, Any]:
        tracking = tracking_id or uuid.uuid4().hex
        now = datetime.now(UTC).strftime("%m/%d/%Y %H:%M:%S")
        return {"Message": f"ErrorCode:{self.code};{self.message}",
                "ExceptionMessage": f"Tracking ID:{tracking}-G:0-TimeStamp:{now}"}


def _now() -> str:
    return utc_z(datetime.now(UTC))


def _etag() -> str:
    return base64.b64encode(os.urandom(6)).decode()


def hub_key(hub_doc: dict[str, Any]) -> str:
    return hub_doc["id"].lower()


def get_device(store: Store, hub_doc: dict[str, Any], device_id: str) -> dict[str, Any] | None:
    row = store.query_one("SELECT body FROM hub_devices WHERE hub = ? AND device_key = ?",
                          (hub_key(hub_doc), device_id.lower()))
    return json.loads(row["body"]) if row else None


def list_devices(store: Store, hub_doc: dict[str, Any], top: int = 1000) -> list[dict[str, Any]]:
    rows = store.query("SELECT body FROM hub_devices WHERE hub = ? ORDER BY seq LIMIT ?", (hub_key(hub_doc), top))
    return [json.loads(r["body"]) for r in rows]


def _normalise_auth(auth: dict[str, Any] | None, previous: dict[str, Any] | None) -> dict[str, Any]:
    auth = copy.deepcopy(auth or {})
    kind = auth.get("type") or "sas"
    if kind not in AUTH_TYPES:
        raise HubError(400, "ArgumentInvalid", f"authentication.type '{kind}' is not one of {', '.join(AUTH_TYPES)}.")
    out: dict[str, Any] = {"type": kind,
                           "symmetricKey": {"primaryKey": None, "secondaryKey": None},
                           "x509Thumbprint": {"primaryThumbprint": None, "secondaryThumbprint": None}}
    if kind == "sas":
        given = auth.get("symmetricKey") or {}
        old = (previous or {}).get("symmetricKey") or {}
        for slot in ("primaryKey", "secondaryKey"):
            value = given.get(slot) or old.get(slot) or new_access_key()
            try:
                if len(base64.b64decode(value, validate=True)) < 16:
                    raise ValueError
            except ValueError:
                raise HubError(400, "ArgumentInvalid",
                               f"authentication.symmetricKey.{slot} must be base64 of 16 to 64 bytes.") from None
            out["symmetricKey"][slot] = value
    elif kind == "selfSigned":
        thumbs = auth.get("x509Thumbprint") or {}
        primary = (thumbs.get("primaryThumbprint") or "").replace(":", "").upper()
        if not re.fullmatch(r"[0-9A-F]{40}|[0-9A-F]{64}", primary):
            raise HubError(400, "ArgumentInvalid",
                           "authentication.x509Thumbprint.primaryThumbprint must be a SHA-1 or SHA-256 hex thumbprint.")
        secondary = (thumbs.get("secondaryThumbprint") or "").replace(":", "").upper() or None
        out["x509Thumbprint"] = {"primaryThumbprint": primary, "secondaryThumbprint": secondary}
    return out


def put_device(store: Store, hub_doc: dict[str, Any], device_id: str, body: dict[str, Any],
               if_match: str | None = None) -> tuple[int, dict[str, Any]]:
    """Create or replace a device identity (service API `PUT /devices/{id}`)."""
    if not DEVICE_ID.match(device_id):
        raise HubError(400, "ArgumentInvalid", f"The device id '{device_id}' is not valid.")
    if not isinstance(body, dict):
        raise HubError(400, "ArgumentInvalid", "The request body must be a JSON object.")
    if body.get("deviceId") and body["deviceId"] != device_id:
        raise HubError(400, "ArgumentInvalid", "The deviceId in the body does not match the one in the path.")
    status_value = body.get("status", "enabled")
    if status_value not in ("enabled", "disabled"):
        raise HubError(400, "ArgumentInvalid", "status must be 'enabled' or 'disabled'.")
    with store.transaction():
        existing = get_device(store, hub_doc, device_id)
        if if_match and if_match.strip() != "*":
            if existing is None:
                raise HubError(404, "DeviceNotFound", f"Device {device_id} not found.")
            if if_match.strip().strip('"') != existing["etag"].strip('"'):
                raise HubError(412, "PreconditionFailed", "The ETag does not match the device's current ETag.")
        now = _now()
        device = {
            "deviceId": device_id,
            "generationId": (existing or {}).get("generationId") or str(int.from_bytes(os.urandom(7), "big")),
            "etag": _etag(),
            "connectionState": (existing or {}).get("connectionState", "Disconnected"),
            "status": status_value,
            "statusReason": body.get("statusReason"),
            "connectionStateUpdatedTime": (existing or {}).get("connectionStateUpdatedTime", EPOCH),
            "statusUpdatedTime": now if existing is None or status_value != existing.get("status")
            else existing["statusUpdatedTime"],
            "lastActivityTime": (existing or {}).get("lastActivityTime", EPOCH),
            "cloudToDeviceMessageCount": (existing or {}).get("cloudToDeviceMessageCount", 0),
            "authentication": _normalise_auth(body.get("authentication"), (existing or {}).get("authentication")),
            "capabilities": body.get("capabilities") or {"iotEdge": False},
        }
        _write(store, hub_doc, device, None if existing else _empty_twin())
    return 200, device  # IoT Hub answers 200 for create and replace alike


def _empty_twin() -> dict[str, Any]:
    return {"tags": {}, "desired": {}, "reported": {}, "desiredVersion": 1, "reportedVersion": 1,
            "desiredMetadata": {}, "reportedMetadata": {}}


def _write(store: Store, hub_doc: dict[str, Any], device: dict[str, Any], twin: dict[str, Any] | None) -> None:
    with store.transaction() as db:
        key = (hub_key(hub_doc), device["deviceId"].lower())
        if twin is None:
            db.execute("UPDATE hub_devices SET body = ? WHERE hub = ? AND device_key = ?", (dumps(device), *key))
        else:
            seq = store.next_value("hub_device_seq")
            db.execute("INSERT OR REPLACE INTO hub_devices(hub, device_key, seq, body, twin) VALUES (?, ?, ?, ?, ?)",
                       (*key, seq, dumps(device), dumps(twin)))


def update_device_fields(store: Store, hub_doc: dict[str, Any], device_id: str, **fields: Any) -> dict[str, Any]:
    """Change server-side fields (connection state, activity time) without a new etag."""
    with store.transaction():
        device = get_device(store, hub_doc, device_id)
        if device is None:
            raise HubError(404, "DeviceNotFound", f"Device {device_id} not found.")
        device.update(fields)
        _write(store, hub_doc, device, None)
        return device


def delete_device(store: Store, hub_doc: dict[str, Any], device_id: str, if_match: str | None = None) -> None:
    with store.transaction() as db:
        existing = get_device(store, hub_doc, device_id)
        if existing is None:
            raise HubError(404, "DeviceNotFound", f"Device {device_id} not found.")
        if if_match and if_match.strip() != "*" and if_match.strip().strip('"') != existing["etag"].strip('"'):
            raise HubError(412, "PreconditionFailed", "The ETag does not match the device's current ETag.")
        db.execute("DELETE FROM hub_devices WHERE hub = ? AND device_key = ?", (hub_key(hub_doc), device_id.lower()))


def delete_hub(store: Store, hub_id: str) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM hub_devices WHERE hub = ?", (hub_id.lower(),))


def upsert_provisioned_device(store: Store, hub_doc: dict[str, Any], device_id: str, auth_type: str,
                              *, symmetric_key: str | None = None, thumbprint: str | None = None,
                              initial_twin: dict[str, Any] | None = None) -> dict[str, Any]:
    """What DPS does on assignment: create the device, or keep it (same id) and update its auth."""
    with store.transaction():
        existing = get_device(store, hub_doc, device_id)
        auth: dict[str, Any] = {"type": auth_type}
        if auth_type == "sas":
            auth["symmetricKey"] = {"primaryKey": symmetric_key, "secondaryKey": symmetric_key}
        elif auth_type == "selfSigned":
            auth["x509Thumbprint"] = {"primaryThumbprint": thumbprint, "secondaryThumbprint": thumbprint}
        body = {"deviceId": device_id, "status": (existing or {}).get("status", "enabled"), "authentication": auth}
        _, device = put_device(store, hub_doc, device_id, body)
        if initial_twin and existing is None:
            twin = get_twin_state(store, hub_doc, device_id)
            twin["tags"] = initial_twin.get("tags") or {}
            desired = ((initial_twin.get("properties") or {}).get("desired")) or {}
            twin["desired"] = {k: v for k, v in desired.items() if not k.startswith("$")}
            _save_twin(store, hub_doc, device_id, twin)
        return device


# ---- twins -----------------------------------------------------------------------------------------
def get_twin_state(store: Store, hub_doc: dict[str, Any], device_id: str) -> dict[str, Any]:
    row = store.query_one("SELECT twin FROM hub_devices WHERE hub = ? AND device_key = ?",
                          (hub_key(hub_doc), device_id.lower()))
    if row is None:
        raise HubError(404, "DeviceNotFound", f"Device {device_id} not found.")
    return json.loads(row["twin"])


def _save_twin(store: Store, hub_doc: dict[str, Any], device_id: str, twin: dict[str, Any]) -> None:
    with store.transaction() as db:
        db.execute("UPDATE hub_devices SET twin = ? WHERE hub = ? AND device_key = ?",
                   (dumps(twin), hub_key(hub_doc), device_id.lower()))


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Twin patch semantics: objects merge, null removes."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def twin_document(store: Store, hub_doc: dict[str, Any], device_id: str) -> dict[str, Any]:
    """The twin as the service API returns it."""
    device = get_device(store, hub_doc, device_id)
    if device is None:
        raise HubError(404, "DeviceNotFound", f"Device {device_id} not found.")
    twin = get_twin_state(store, hub_doc, device_id)
    return {
        "deviceId": device["deviceId"], "etag": device["etag"], "deviceEtag": device["etag"],
        "status": device["status"], "statusUpdateTime": device["statusUpdatedTime"],
        "connectionState": device["connectionState"], "lastActivityTime": device["lastActivityTime"],
        "cloudToDeviceMessageCount": device["cloudToDeviceMessageCount"],
        "authenticationType": device["authentication"]["type"],
        "x509Thumbprint": device["authentication"]["x509Thumbprint"],
        "version": twin["desiredVersion"] + twin["reportedVersion"],
        "tags": twin["tags"],
        "properties": {
            "desired": {**twin["desired"], "$metadata": {"$lastUpdated": twin["desiredMetadata"].get("at", EPOCH)},
                        "$version": twin["desiredVersion"]},
            "reported": {**twin["reported"], "$metadata": {"$lastUpdated": twin["reportedMetadata"].get("at", EPOCH)},
                         "$version": twin["reportedVersion"]},
        },
        "capabilities": device["capabilities"],
    }


def patch_twin(store: Store, hub_doc: dict[str, Any], device_id: str, patch: dict[str, Any]) -> dict[str, Any]:
    """Service-side twin update: tags and desired properties. Returns the desired delta applied."""
    if not isinstance(patch, dict):
        raise HubError(400, "ArgumentInvalid", "The twin patch must be a JSON object.")
    with store.transaction():
        twin = get_twin_state(store, hub_doc, device_id)
        if isinstance(patch.get("tags"), dict):
            twin["tags"] = _merge(twin["tags"], patch["tags"])
        desired = (patch.get("properties") or {}).get("desired")
        if desired is not None:
            if not isinstance(desired, dict):
                raise HubError(400, "ArgumentInvalid", "properties.desired must be a JSON object.")
            twin["desired"] = _merge(twin["desired"], desired)
            twin["desiredVersion"] += 1
            twin["desiredMetadata"] = {"at": _now()}
        _save_twin(store, hub_doc, device_id, twin)
        return {**(desired or {}), "$version": twin["desiredVersion"]}


def patch_reported(store: Store, hub_doc: dict[str, Any], device_id: str, patch: dict[str, Any]) -> int:
    """Device-side update of reported properties; returns the new reported version."""
    if not isinstance(patch, dict):
        raise HubError(400, "ArgumentInvalid", "The reported-properties patch must be a JSON object.")
    with store.transaction():
        twin = get_twin_state(store, hub_doc, device_id)
        twin["reported"] = _merge(twin["reported"], patch)
        twin["reportedVersion"] += 1
        twin["reportedMetadata"] = {"at": _now()}
        _save_twin(store, hub_doc, device_id, twin)
        return twin["reportedVersion"]


def device_twin_for_device(store: Store, hub_doc: dict[str, Any], device_id: str) -> dict[str, Any]:
    """The twin as a device receives it over MQTT (`$iothub/twin/GET`): desired and reported only."""
    twin = get_twin_state(store, hub_doc, device_id)
    return {"desired": {**twin["desired"], "$version": twin["desiredVersion"]},
            "reported": {**twin["reported"], "$version": twin["reportedVersion"]}}
