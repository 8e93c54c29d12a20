"""Shared-access policies and connection strings as IoT Hub and DPS write them (pure functions).

Both the ARM resource types and the data planes read them, so they sit below both.
"""

from __future__ import annotations

from typing import Any

MASK = "****"


def policy_map(policies: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """`{keyName: {primaryKey, secondaryKey, rights}}`, keyed with the stored casing."""
    return {p["keyName"]: {"primaryKey": p.get("primaryKey"), "secondaryKey": p.get("secondaryKey"),
                           "rights": p.get("rights", "")} for p in policies or []}


def find_policy(policies: list[dict[str, Any]] | None, key_name: str) -> dict[str, Any] | None:
    for policy in policies or []:
        if policy["keyName"].lower() == key_name.lower():
            return policy
    return None


# ---- connection strings -------------------------------------------------------------------------
CANONICAL_PARTS = {"hostname": "HostName", "sharedaccesskeyname": "SharedAccessKeyName",
                   "sharedaccesskey": "SharedAccessKey", "deviceid": "DeviceId", "moduleid": "ModuleId",
                   "sharedaccesssignature": "SharedAccessSignature", "gatewayhostname": "GatewayHostName"}


def parse_connection_string(text: str) -> dict[str, str]:
    """`HostName=h;SharedAccessKeyName=n;SharedAccessKey=k` -> dict with canonical part names.

    Values may contain '=' (base64 padding), so each part splits at its first '='. ValueError when
    the text is not a connection string.
    """
    parts: dict[str, str] = {}
    for piece in text.strip().split(";"):
        if not piece.strip():
            continue
        if "=" not in piece:
            raise ValueError(f"'{piece}' is not a 'Name=value' pair")
        name, value = piece.split("=", 1)
        parts[CANONICAL_PARTS.get(name.strip().lower(), name.strip())] = value.strip()
    if not parts:
        raise ValueError("the connection string is empty")
    return parts


def connection_string(host: str, key_name: str, key: str) -> str:
    return f"HostName={host};SharedAccessKeyName={key_name};SharedAccessKey={key}"


def mask_connection_string(text: str) -> str:
    """The connection string with its key replaced by `****`, as DPS echoes linked hubs."""
    try:
        parts = parse_connection_string(text)
    except ValueError:
        return text
    if "SharedAccessKey" in parts:
        parts["SharedAccessKey"] = MASK
    return ";".join(f"{k}={v}" for k, v in parts.items())


def strip_port(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host
    return host.rsplit(":", 1)[0] if ":" in host else host
