"""The Device Registry backend (`emu.adr`): namespaces, the CA that signs each policy's devices,
leaf validity, what a namespace syncs to its hubs, devices, and the PKI view.

The resource types (`provider/resources/namespaces.py`, `credentials.py`, `policies.py`,
`namespace_devices.py`) are ARM views over this; DPS, the hub and the internal views ask it,
never a resource document's JSON directly, so a new CA model changes this one module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provider.adr import ids
from provider.arm import handlers
from provider.arm.context import RequestContext
from provider.arm.ids import parse_resource_id

if TYPE_CHECKING:
    from provider.hub.backend import SyncEntry
    from provider.state import Emulator

DEFAULT_LEAF_DAYS = 30


class AdrBackend:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    # ---- namespaces ---------------------------------------------------------------------------------
    def namespace(self, namespace_id: str) -> dict[str, Any] | None:
        return self.emu.repo.get(namespace_id.lower())

    def namespace_by_key(self, key: str) -> dict[str, Any] | None:
        """A namespace by its `properties.uuid` or by its ARM id."""
        wanted = key.lower()
        for doc in self.emu.repo.of_type(ids.NAMESPACE_TYPE):
            if (doc.get("properties") or {}).get("uuid", "").lower() == wanted or doc["id"].lower() == wanted:
                return doc
        return None

    # ---- policies and the CA that signs their devices ------------------------------------------------
    def policies(self, namespace_id: str) -> list[dict[str, Any]]:
        rows = self.emu.repo.children(ids.credential_id(namespace_id).lower(), ids.POLICY_TYPE.lower())
        return [doc for _, doc in rows]

    def policy(self, namespace_id: str, name: str) -> dict[str, Any] | None:
        return self.emu.repo.get(ids.policy_id(namespace_id, name).lower())

    def policy_by_id(self, policy_id: str) -> dict[str, Any] | None:
        return self.emu.repo.get(policy_id.lower())

    @staticmethod
    def signing_owner(policy_id: str) -> str:
        """The key-store owner whose CA signs a policy's device certificates (a preview policy owns its
        issuing CA)."""
        return policy_id.lower()

    @staticmethod
    def issuing_ca_parent(policy_id: str) -> str:
        """The owner of the CA that signs a policy's issuing CA (the namespace credential's root)."""
        return ids.credential_of(policy_id).lower()

    @staticmethod
    def leaf_validity_days(policy_doc: dict[str, Any]) -> int:
        certificate = (policy_doc.get("properties") or {}).get("certificate") or {}
        days = (certificate.get("leafCertificateConfiguration") or {}).get("validityPeriodInDays")
        return int(days or DEFAULT_LEAF_DAYS)

    # ---- sync to linked hubs -----------------------------------------------------------------------
    def sync_entries(self, namespace_id: str) -> list[SyncEntry]:
        """(hub certificate name, PEM, policy id) for every policy's current issuing CA."""
        pki = self.emu.pki
        entries = []
        for policy in self.policies(namespace_id):
            ca = pki.active_ca(self.signing_owner(policy["id"]))
            if ca is not None and ca.certificate_pem:
                entries.append((f"adr-{policy['name']}", ca.certificate_pem, policy["id"]))
        return entries

    def synchronize(self, ctx: RequestContext, namespace_id: str) -> dict[str, Any]:
        """Write the namespace's issuing CAs to every linked hub (the caller's transaction)."""
        entries = self.sync_entries(namespace_id)
        hubs = self.emu.hub.linked_to(namespace_id)
        for hub in hubs:
            self.emu.hub.set_synced_certificates(ctx, hub, entries)
        return {"synchronizedHubs": [h["id"] for h in hubs], "certificates": [e[0] for e in entries]}

    # ---- devices ------------------------------------------------------------------------------------
    def device(self, namespace_id: str, name: str) -> dict[str, Any] | None:
        return self.emu.repo.get(ids.device_id(namespace_id, name).lower())

    def provision_device(self, ctx: RequestContext, namespace_id: str, name: str, policy_id: str,
                         location: str) -> dict[str, Any]:
        """Create or update the device DPS provisions, through the device type's own rules (the
        caller's transaction)."""
        rtype = self.emu.registry.find(ids.DEVICE_TYPE)
        assert rtype is not None
        rid = parse_resource_id(ids.device_id(namespace_id, name))
        existing = self.emu.repo.get(rid.key)
        body: dict[str, Any] = {"location": location, "tags": {}, "properties": {}}
        if existing is not None:
            body = {"location": existing.get("location", location), "tags": existing.get("tags") or {},
                    "properties": {k: v for k, v in existing["properties"].items() if k != "provisioningState"}}
        body["properties"]["policy"] = {"resourceId": policy_id}
        return handlers.write_internal(ctx, rtype, rid, body)

    def device_revoked(self, device: dict[str, Any]) -> None:
        self.emu.hooks.device_revoked(device)

    # ---- the internal PKI view ---------------------------------------------------------------------
    def pki_view(self, namespace: dict[str, Any]) -> dict[str, Any]:
        """Root, each policy's issuing CA with its history and issued certificates (`/_emulator/.../ca`)."""
        pki = self.emu.pki
        root = pki.active_ca(ids.credential_id(namespace["id"]).lower())
        policies = {}
        for policy in self.policies(namespace["id"]):
            owner = self.signing_owner(policy["id"])
            active = pki.active_ca(owner)
            chain_root = pki.root_for(owner)
            policies[policy["name"]] = {
                "id": policy["id"],
                "issuingCa": active.certificate_pem if active else None,
                "root": chain_root.certificate_pem if chain_root else None,
                "thumbprint": active.thumbprint if active else None,
                "history": [{"thumbprint": r.thumbprint, "status": r.status, "subject": r.subject}
                            for r in pki.ca_history(owner)],
                "issuedCertificates": pki.issued_certificates(policy_owner=owner),
            }
        return {"namespace": namespace["id"], "uuid": namespace["properties"].get("uuid"),
                "root": root.certificate_pem if root else None,
                "rootThumbprint": root.thumbprint if root else None, "policies": policies}
