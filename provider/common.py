"""Small facts the whole emulator shares, written once: time formats, etags, access keys, id rules.

A leaf module (imports nothing of the project), so any layer may use it.
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from datetime import UTC, datetime

# IoT Hub device ids (also what DPS accepts as an enrollment's deviceId)
DEVICE_ID = re.compile(r"^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$")
# DPS registration ids
REGISTRATION_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-._:]{0,126}[A-Za-z0-9])?$")


def utc_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix, as ARM and IoT Hub write timestamps."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utc_z_from_epoch(seconds: float) -> str:
    return utc_z(datetime.fromtimestamp(seconds, UTC))


def arm_etag() -> str:
    """An ARM etag: a quoted opaque string."""
    return f'"{uuid.uuid4().hex}"'


def data_plane_etag() -> str:
    """DPS and IoT Hub registry etags: base64 of a quoted GUID."""
    return base64.b64encode(f'"{uuid.uuid4()}"'.encode()).decode("ascii")


def new_access_key(size: int = 32) -> str:
    """A shared access key: base64 of `size` random bytes (hub and DPS policies use 32, DPS
    enrollments 64)."""
    return base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def is_valid_access_key(value: str) -> bool:
    """A usable SAS key is base64 of 16 to 64 bytes."""
    try:
        size = len(base64.b64decode(value, validate=True))
    except (ValueError, TypeError):
        return False
    return 16 <= size <= 64


def cloud_metadata(base: str, tenant: str) -> dict:
    """The emulator as a cloud, as `GET /metadata/endpoints` answers (what `az cloud register` reads)."""
    return {
        "name": "AdrEmulator", "portal": base, "resourceManager": f"{base}/", "gallery": base,
        "graph": base, "graphAudience": base, "microsoftGraphResourceId": f"{base}/", "media": base,
        "batch": base, "sqlManagement": base, "activeDirectoryDataLake": base,
        "authentication": {"loginEndpoint": base, "audiences": [f"{base}/", "https://management.azure.com/"],
                           "tenant": tenant, "identityProvider": "AAD"},
        "suffixes": {"acrLoginServer": "azurecr.localhost", "keyVaultDns": "vault.localhost",
                     "storage": "core.localhost", "sqlServerHostname": "database.localhost",
                     "azureFrontDoorEndpointSuffix": "azurefd.localhost"},
    }


def template_environment(base: str) -> dict:
    """The same cloud as a template's `environment()` returns it. ARM really spells this one
    differently from the metadata endpoint: suffixes with a leading dot, `keyvaultDns` in lower
    case, `vmImageAliasDoc`, and the tenant `common` (as on the public cloud)."""
    metadata = cloud_metadata(base, "common")
    suffixes = metadata["suffixes"]
    return {
        **{k: v for k, v in metadata.items() if k not in ("suffixes", "microsoftGraphResourceId")},
        "vmImageAliasDoc": f"{base}/aliases.json",
        "authentication": {**metadata["authentication"], "loginEndpoint": f"{base}/"},
        "suffixes": {"acrLoginServer": "." + suffixes["acrLoginServer"], "keyvaultDns": "." + suffixes["keyVaultDns"],
                     "sqlServerHostname": "." + suffixes["sqlServerHostname"], "storage": suffixes["storage"],
                     "azureFrontDoorEndpointSuffix": suffixes["azureFrontDoorEndpointSuffix"]},
    }


def der_to_pem(der: bytes, label: str = "CERTIFICATE") -> str:
    """PEM armour (RFC 7468) around a DER object."""
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"
