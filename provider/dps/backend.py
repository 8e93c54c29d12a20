"""The Device Provisioning Service's backend: DPS-wide facts that the resource type and the data
planes share (`emu.dps`): lookups by id scope, service host name and name, the linked hubs, the
linked Device Registry namespace, the shared-access policies, and the clean-up of a deleted DPS's
data-plane records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provider.access_policies import connection_string, find_policy, policy_map, strip_port
from provider.dps import records

if TYPE_CHECKING:
    from provider.state import Emulator

DPS_TYPE = "Microsoft.Devices/provisioningServices"
OWNER_POLICY = "provisioningserviceowner"


class DpsBackend:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def all(self) -> list[dict[str, Any]]:
        return self.emu.repo.of_type(DPS_TYPE)

    def service_host_name(self, dps_name: str) -> str:
        return f"{dps_name.lower()}.azure-devices-provisioning.{self.emu.config.hostname_suffix}"

    @property
    def device_host_name(self) -> str:
        """Where devices register (stands in for `global.azure-devices-provisioning.net`)."""
        return self.emu.config.public_host

    def by_id_scope(self, id_scope: str) -> dict[str, Any] | None:
        return next(iter(self.emu.repo.find(DPS_TYPE, "idScope", id_scope.strip())), None)

    def by_host(self, host: str) -> dict[str, Any] | None:
        """The DPS whose service host name is `host` (case-insensitive, any `:port` ignored)."""
        wanted = strip_port(host)
        name = wanted.split(".", 1)[0]
        dps = self.by_name(name) if name else None
        return dps if dps is not None and self.service_host_name(dps["name"]) == wanted else None

    def by_name(self, name: str) -> dict[str, Any] | None:
        return next(iter(self.emu.repo.find(DPS_TYPE, "name", name)), None)

    @staticmethod
    def policy_keys(dps_doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """`{keyName: {primaryKey, secondaryKey, rights}}` of the DPS's shared-access policies."""
        return policy_map((dps_doc.get("properties") or {}).get("authorizationPolicies"))

    def connection_string(self, dps_doc: dict[str, Any], policy_name: str = OWNER_POLICY) -> str:
        """The service connection string for a policy; KeyError if the policy does not exist."""
        policy = find_policy((dps_doc.get("properties") or {}).get("authorizationPolicies"), policy_name)
        if policy is None:
            raise KeyError(policy_name)
        return connection_string(self.service_host_name(dps_doc["name"]), policy["keyName"], policy["primaryKey"])

    def linked_hubs(self, dps_doc: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(hub document, stored `iotHubs` entry with the real key) for each linked hub that still exists."""
        out = []
        for entry in (dps_doc.get("properties") or {}).get("iotHubs") or []:
            hub = self.emu.hub.by_host(entry.get("name", ""))
            if hub is not None:
                out.append((hub, entry))
        return out

    def linked_hub_hosts(self, dps_doc: dict[str, Any]) -> set[str]:
        return {str((hub.get("properties") or {}).get("hostName") or "").lower()
                for hub, _ in self.linked_hubs(dps_doc)}

    def namespace_id(self, dps_doc: dict[str, Any]) -> str | None:
        """The Device Registry namespace the DPS is linked to: by its own link, or by a GA namespace's
        provisioning endpoint."""
        link = (dps_doc.get("properties") or {}).get("deviceRegistryNamespace") or {}
        if link.get("resourceId"):
            return link["resourceId"]
        namespace = self.emu.adr.namespace_linking(dps_doc["id"], "provisioning")
        return namespace["id"] if namespace else None

    def certificate(self, dps_doc: dict[str, Any], name: str) -> dict[str, Any] | None:
        """A CA certificate uploaded to the DPS (`provisioningServices/certificates/{name}`)."""
        return self.emu.repo.get(f"{dps_doc['id']}/certificates/{name}".lower())

    def forget(self, dps_doc: dict[str, Any]) -> None:
        """The DPS was deleted: its enrollments, registrations and operations go with it."""
        records.delete_dps(self.emu.store, dps_doc["id"].lower())
