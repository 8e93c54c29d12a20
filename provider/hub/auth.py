"""IoT Hub authentication decisions: devices (X.509 or SAS) and back-end services (policy SAS).

The TLS layer only proves that the client holds the key of *some* certificate the process trusts
(every hub's CAs, DPS enrollments). Whether that certificate authenticates *this* device on *this*
hub is decided here, from the presented chain, so that the same function serves the first CONNECT
and every later re-check (disable, ADR revocation, issuer rotation, clock change). A refusal is an
`AuthRefused` with a human-readable reason: the listener logs it and answers CONNACK 5.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provider.dps.sas import SasError, parse_sas, verify_sas
from provider.hub import registry
from provider.hub.registry import HubError

if TYPE_CHECKING:  # `cryptography` loads with the first device connection, not at start-up
    from cryptography import x509

    from provider.state import Emulator

# which policy rights satisfy a service API need (RegistryWrite includes reading the registry)
RIGHTS_SATISFYING = {
    "RegistryRead": ("RegistryRead", "RegistryWrite"),
    "RegistryWrite": ("RegistryWrite",),
    "ServiceConnect": ("ServiceConnect",),
    "TwinRead": ("RegistryRead", "RegistryWrite", "ServiceConnect"),
    "TwinWrite": ("RegistryWrite", "ServiceConnect"),
}


class AuthRefused(Exception):
    """The connection is not authorised; `reason` is safe to log (no secrets)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DeviceAuth:
    """What a successful device authentication established, kept for re-checks and expiry."""

    hub_id: str  # lower-cased ARM id
    hub_name: str
    device_id: str  # as registered
    method: str  # "x509" | "sas"
    not_after: datetime | None  # certificate expiry or SAS token expiry
    adr_issued: bool  # the leaf carries an ADR revocation identifier
    trust_fingerprint: str | None  # of the hub's trusted set at the time (X.509 only)


# ---- helpers ------------------------------------------------------------------------------------------
def pem_to_der(pem: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)


def trusted_ders(emu: Emulator, hub_doc: dict[str, Any]) -> list[bytes]:
    out = []
    for pem in emu.hub.trusted_certificates(hub_doc):
        try:
            out.append(pem_to_der(pem))
        except ValueError:
            continue
    return out


def trust_fingerprint(emu: Emulator, hub_doc: dict[str, Any]) -> str:
    """Identifies the hub's trusted set; a change means live X.509 connections must be re-checked."""
    return hashlib.sha256("".join(sorted(emu.hub.trusted_certificates(hub_doc))).encode()).hexdigest()


def _thumbprints(der: bytes) -> set[str]:
    return {hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()}  # noqa: S324


def _adr_device(emu: Emulator, hub_doc: dict[str, Any], device_id: str) -> dict[str, Any] | None:
    namespace_id = emu.hub.linked_namespace_id(hub_doc)
    if not namespace_id:
        return None
    return emu.adr.device(namespace_id, device_id)


def adr_device_for(emu: Emulator, hub_doc: dict[str, Any], device_id: str) -> dict[str, Any] | None:
    """The ADR device behind a hub device (same name, in the hub's linked namespace), if any."""
    return _adr_device(emu, hub_doc, device_id)


# ---- devices ------------------------------------------------------------------------------------------
def authenticate_device(emu: Emulator, hub_doc: dict[str, Any], device_id: str, *, sas_token: str | None,
                        chain_der: list[bytes]) -> DeviceAuth:
    """Decide whether this evidence authenticates `device_id` on this hub now; AuthRefused if not."""
    device = registry.get_device(emu.store, hub_doc, device_id)
    if device is None:
        raise AuthRefused(f"device '{device_id}' is not registered on hub '{hub_doc['name']}'")
    if device["deviceId"] != device_id:
        raise AuthRefused(f"device id '{device_id}' differs in case from the registered '{device['deviceId']}'")
    if device.get("status") != "enabled":
        raise AuthRefused(f"device '{device_id}' is disabled")
    auth_type = (device.get("authentication") or {}).get("type")
    if sas_token:
        return _authenticate_sas(emu, hub_doc, device, sas_token)
    if not chain_der:
        raise AuthRefused("no client certificate was presented and no SAS token was given")
    if auth_type == "certificateAuthority":
        return _authenticate_ca(emu, hub_doc, device, chain_der)
    if auth_type == "selfSigned":
        return _authenticate_self_signed(emu, hub_doc, device, chain_der)
    raise AuthRefused(f"device '{device_id}' has authentication type '{auth_type}', which does not accept X.509")


def _authenticate_sas(emu: Emulator, hub_doc: dict[str, Any], device: dict[str, Any], token: str) -> DeviceAuth:
    auth = device.get("authentication") or {}
    if auth.get("type") != "sas":
        raise AuthRefused(f"device '{device['deviceId']}' does not use SAS authentication ({auth.get('type')})")
    keys = auth.get("symmetricKey") or {}
    resource = f"{emu.hub_host_name(hub_doc['name'])}/devices/{device['deviceId']}"
    try:
        parsed = parse_sas(token)
        verify_sas(parsed, {None: [k for k in (keys.get("primaryKey"), keys.get("secondaryKey")) if k]}, resource,
                   now=emu.now().timestamp())
    except SasError as exc:
        raise AuthRefused(f"SAS token refused: {exc.message}") from None
    if parsed.resource.strip("/").lower() != resource.lower():
        raise AuthRefused(f"the SAS token is for '{parsed.resource[:200]}', not '{resource}'")
    return DeviceAuth(hub_doc["id"].lower(), hub_doc["name"], device["deviceId"], "sas",
                      datetime.fromtimestamp(parsed.expiry, UTC), False, None)


def _leaf(chain_der: list[bytes]) -> x509.Certificate:
    try:
        from cryptography import x509

        return x509.load_der_x509_certificate(chain_der[0])
    except ValueError:
        raise AuthRefused("the client certificate is not valid DER") from None


def _authenticate_ca(emu: Emulator, hub_doc: dict[str, Any], device: dict[str, Any],
                     chain_der: list[bytes]) -> DeviceAuth:
    from provider.pki import Pki, PkiError  # lazy: the signing core (and `cryptography`) loads with the first device

    device_id = device["deviceId"]
    revocation_id = Pki.revocation_id_of(chain_der[0])
    current = None
    if revocation_id is not None:  # issued by an ADR policy: the ADR device must exist and be enabled
        adr = _adr_device(emu, hub_doc, device_id)
        if adr is None:
            raise AuthRefused(f"the certificate was issued by ADR but the hub's namespace has no device '{device_id}'")
        if not (adr.get("properties") or {}).get("enabled", True):
            raise AuthRefused(f"the ADR device '{device_id}' is disabled")
        current = adr.get("_revocationId")
    fingerprint = trust_fingerprint(emu, hub_doc)
    try:
        emu.pki.verify_device_chain(chain_der, trusted_ders(emu, hub_doc), device_id=device_id,
                                    current_revocation_id=current, at=emu.now())
    except PkiError as exc:
        raise AuthRefused(f"{exc.code}: {exc.message}") from None
    leaf = _leaf(chain_der)
    return DeviceAuth(hub_doc["id"].lower(), hub_doc["name"], device_id, "x509", leaf.not_valid_after_utc,
                      revocation_id is not None, fingerprint)


def _authenticate_self_signed(emu: Emulator, hub_doc: dict[str, Any], device: dict[str, Any],
                              chain_der: list[bytes]) -> DeviceAuth:
    thumbs = (device.get("authentication") or {}).get("x509Thumbprint") or {}
    allowed = {t.upper() for t in (thumbs.get("primaryThumbprint"), thumbs.get("secondaryThumbprint")) if t}
    if not _thumbprints(chain_der[0]) & allowed:
        raise AuthRefused("the client certificate's thumbprint matches neither registered thumbprint")
    leaf = _leaf(chain_der)
    now = emu.now()
    if now < leaf.not_valid_before_utc or now > leaf.not_valid_after_utc:
        raise AuthRefused(f"the self-signed certificate is valid from {leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} "
                          f"to {leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, not now")
    return DeviceAuth(hub_doc["id"].lower(), hub_doc["name"], device["deviceId"], "x509", leaf.not_valid_after_utc,
                      False, None)


# ---- back-end services (service API) ---------------------------------------------------------------------
def sas_resource_host(authorization: str | None) -> str | None:
    """The host named by a service token's `sr` (used to route requests made to 127.0.0.1)."""
    if not authorization:
        return None
    try:
        resource = parse_sas(authorization).resource
    except SasError:
        return None
    for scheme in ("https://", "http://"):
        resource = resource.removeprefix(scheme)
    return resource.split("/", 1)[0].split(":", 1)[0].lower() or None


def authorize_service(emu: Emulator, hub_doc: dict[str, Any], authorization: str | None, need: str) -> str:
    """Check a service SAS token against the hub's policies; return the policy name or raise HubError 401."""
    if not authorization:
        raise HubError(401, "IotHubUnauthorizedAccess", "Unauthorized: no Authorization header.")
    policies = emu.hub.policy_keys(hub_doc)
    keys = {name: [v for v in (p.get("primaryKey"), p.get("secondaryKey")) if v] for name, p in policies.items()}
    try:
        parsed = parse_sas(authorization)
        if parsed.key_name is None:
            raise SasError("a service token must name its shared access policy (skn)")
        name = verify_sas(parsed, keys, emu.hub_host_name(hub_doc["name"]), now=emu.now().timestamp())
    except SasError as exc:
        raise HubError(401, "IotHubUnauthorizedAccess", f"Unauthorized: {exc.message}.") from None
    rights = {r.strip() for r in str(policies[name].get("rights", "")).split(",") if r.strip()}
    if not rights & set(RIGHTS_SATISFYING[need]):
        raise HubError(401, "IotHubUnauthorizedAccess",
                       f"Unauthorized: the policy '{name}' lacks the {need} permission.")
    return name
