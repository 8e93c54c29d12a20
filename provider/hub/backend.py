"""The IoT Hub service's backend: every hub-wide fact that resource types and data planes share.

One object per emulator (`emu.hub`, moto's backend pattern). The `Microsoft.Devices/IotHubs`
resource type (the ARM view), the hub service API, device authentication, the MQTT listener and
the Device Registry sync all ask it, so none of them imports another's module: lookups by name
and host name, the shared-access policies, the link to a Device Registry namespace, the
certificates a hub trusts, and the runtime state of the MQTT listener and telemetry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provider.access_policies import connection_string, find_policy, policy_map, strip_port
from provider.arm import handlers
from provider.arm.context import RequestContext
from provider.arm.ids import parse_resource_id, same_id
from provider.hub import registry
from provider.hub.telemetry import Telemetry

if TYPE_CHECKING:
    from provider.mqtt.server import MqttServer
    from provider.state import Emulator

HUB_TYPE = "Microsoft.Devices/IotHubs"
CERTIFICATE_TYPE = "Microsoft.Devices/IotHubs/certificates"
CONSUMER_GROUP_TYPE = "Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups"
EVENTS_ENDPOINT = "events"
# where a certificate the Device Registry sync wrote records its source
PREVIEW_SOURCE, GA_SOURCE = "policyResourceId", "certificateAuthorityResourceId"
DEFAULT_CONSUMER_GROUP = "$Default"
# the domains a connection string may name a hub by (Azure's clouds), besides the emulator's own
AZURE_HUB_SUFFIXES = (".azure-devices.net", ".azure-devices.cn", ".azure-devices.us", ".azure-devices.de")

SyncEntry = tuple[str, str, str]  # (certificate name, PEM, the id of the ADR policy or CA it comes from)


class HubBackend:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.telemetry = Telemetry()
        self.mqtt_server: MqttServer | None = None  # set when the MQTT listener is bound

    # ---- lookups ------------------------------------------------------------------------------------
    def all(self) -> list[dict[str, Any]]:
        return self.emu.repo.of_type(HUB_TYPE)

    def host_name(self, hub_name: str) -> str:
        return f"{hub_name.lower()}.azure-devices.{self.emu.config.hostname_suffix}"

    def by_name(self, name: str) -> dict[str, Any] | None:
        """The hub with this name in any subscription or group (names are global), or None."""
        return next(iter(self.emu.repo.find(HUB_TYPE, "name", name)), None)

    def by_host(self, host: str) -> dict[str, Any] | None:
        """The hub whose host name is `host` (case-insensitive, any `:port` ignored), or None."""
        wanted = strip_port(host)
        name = wanted.split(".", 1)[0]
        hub = self.by_name(name) if name else None
        return hub if hub is not None and self.host_name(hub["name"]) == wanted else None

    def for_connection_host(self, host: str) -> dict[str, Any] | None:
        """The hub a connection string's `HostName` names, read as Azure reads it: with or without a
        scheme (`https://`) and a trailing `/`, with an Azure cloud's domain (`{hub}.azure-devices.net`)
        or the emulator's (`{hub}.azure-devices.{suffix}`)."""
        host = host.strip()
        if "://" in host:
            host = host.split("://", 1)[1]
        host = strip_port(host.split("/", 1)[0])
        for suffix in AZURE_HUB_SUFFIXES:
            if host.endswith(suffix):
                return self.by_name(host[: -len(suffix)])
        return self.by_host(host)

    # ---- shared-access policies ---------------------------------------------------------------------
    @staticmethod
    def policy_keys(hub_doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """`{keyName: {primaryKey, secondaryKey, rights}}` of a hub's shared-access policies."""
        return policy_map((hub_doc.get("properties") or {}).get("authorizationPolicies"))

    def connection_string(self, hub_doc: dict[str, Any], policy_name: str) -> str:
        """`HostName=...;SharedAccessKeyName=...;SharedAccessKey=...` with the primary key; KeyError if absent."""
        policy = find_policy((hub_doc.get("properties") or {}).get("authorizationPolicies"), policy_name)
        if policy is None:
            raise KeyError(policy_name)
        return connection_string(self.host_name(hub_doc["name"]), policy["keyName"], policy["primaryKey"])

    # ---- the Device Registry link -------------------------------------------------------------------
    @staticmethod
    def stored_link(hub_doc: dict[str, Any]) -> str | None:
        """The namespace the hub's own `deviceRegistry` link names (written up to 2026-08-01-preview)."""
        link = (hub_doc.get("properties") or {}).get("deviceRegistry") or {}
        return link.get("namespaceResourceId") or None

    def linked_namespace_id(self, hub_doc: dict[str, Any]) -> str | None:
        """The namespace the hub is linked to: by its own link, or by a GA namespace's messaging endpoint."""
        stored = self.stored_link(hub_doc)
        if stored:
            return stored
        namespace = self.emu.adr.namespace_linking(hub_doc["id"], "messaging")
        return namespace["id"] if namespace else None

    def linked_to(self, namespace_id: str) -> list[dict[str, Any]]:
        """Every hub linked to the namespace `namespace_id`: by the hub's own link, or named by one of the
        namespace's messaging endpoints (one pass over the hubs, no scan of other namespaces)."""
        namespace = self.emu.adr.namespace(namespace_id) or {}
        endpoints = ((namespace.get("properties") or {}).get("messaging") or {}).get("endpoints") or {}
        named = {str(e.get("resourceId", "")).lower() for e in endpoints.values()}
        return [h for h in self.all() if same_id(self.stored_link(h), namespace_id)
                or (not self.stored_link(h) and h["id"].lower() in named)]

    # ---- certificates the hub trusts ----------------------------------------------------------------
    def certificates(self, hub_doc: dict[str, Any]) -> list[dict[str, Any]]:
        """Every certificate stored on the hub, in creation order."""
        return [doc for _, doc in self.emu.repo.children(hub_doc["id"].lower(), CERTIFICATE_TYPE.lower())]

    @staticmethod
    def sync_source(doc: dict[str, Any]) -> str | None:
        """The Device Registry resource a synced certificate comes from: the preview policy
        (`policyResourceId`) or the GA certificate authority (`certificateAuthorityResourceId`)."""
        props = doc.get("properties") or {}
        return props.get(PREVIEW_SOURCE) or props.get(GA_SOURCE)

    def synced_certificates(self, hub_doc: dict[str, Any]) -> list[dict[str, Any]]:
        """The certificates a Device Registry sync wrote."""
        return [d for d in self.certificates(hub_doc) if self.sync_source(d)]

    def trusted_certificates(self, hub_doc: dict[str, Any]) -> list[str]:
        """PEMs of every verified certificate on the hub: synced ones and verified user uploads."""
        return [d["properties"]["certificate"] for d in self.certificates(hub_doc)
                if (d.get("properties") or {}).get("isVerified") and d["properties"].get("certificate")]

    def all_trusted_certificates(self) -> list[str]:
        """TLS trust source: the CAs any hub trusts (the policy decision is made per hub afterwards)."""
        return [pem for hub in self.all() for pem in self.trusted_certificates(hub)]

    def set_synced_certificates(self, ctx: RequestContext, hub_doc: dict[str, Any], entries: list[SyncEntry],
                                *, certificate_authorities: bool = False) -> None:
        """Make the hub's certificates synced by one model exactly `entries`, through the one internal
        write path: the preview credential's (policy ids) or, with `certificate_authorities`, the GA
        model's (CA ids); the other model's synced certificates are left alone.

        Synced certificates not named in `entries` are deleted; new or changed ones are written
        verified. An entry whose name collides with a user upload takes it over. Runs inside the
        caller's transaction; each certificate written or deleted fires `hooks.on_hub_trust_changed`.
        """
        field = GA_SOURCE if certificate_authorities else PREVIEW_SOURCE
        rtype = self.emu.registry.find(CERTIFICATE_TYPE)
        assert rtype is not None
        hub_rid = parse_resource_id(hub_doc["id"])
        current = {d["name"].lower(): d for d in self.certificates(hub_doc)}
        wanted = {name.lower() for name, _, _ in entries}
        for name, doc in current.items():
            if (doc.get("properties") or {}).get(field) and name not in wanted:
                handlers.delete_internal(ctx, rtype, doc)
        for name, pem, source_id in entries:
            old_props = (current.get(name.lower()) or {}).get("properties") or {}
            if old_props.get(field) == source_id and old_props.get("isVerified") and \
                    old_props.get("certificate", "").strip() == pem.strip():
                continue
            handlers.write_internal(ctx, rtype, hub_rid.child("certificates", name),
                                    {"properties": {"certificate": pem, "isVerified": True, field: source_id}})

    # ---- data-plane state that hangs off a hub -----------------------------------------------------
    def forget(self, hub_doc: dict[str, Any]) -> None:
        """The hub was deleted: its device identities and twins go with it (same transaction)."""
        registry.delete_hub(self.emu.store, hub_doc["id"])
        self.telemetry.clear(hub_doc["name"])

    def recheck_connections(self, hub_id: str | None = None, device_id: str | None = None,
                            wait: float | None = None) -> None:
        """Re-judge live MQTT connections (all, a hub's, or one device's) against the current state."""
        if self.mqtt_server is not None:
            self.mqtt_server.recheck_devices(hub_id, device_id, wait=wait)

    def drop_connections(self, hub_id: str, device_id: str | None, reason: str, wait: float | None = None) -> None:
        if self.mqtt_server is not None:
            self.mqtt_server.drop_devices(hub_id, device_id, reason, wait=wait)

    def reset(self) -> None:
        self.telemetry.clear()
        if self.mqtt_server is not None:
            self.mqtt_server.drop_all("the emulator was reset", wait=5.0)
