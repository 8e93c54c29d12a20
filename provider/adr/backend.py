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
from provider.common import utc_z

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

    def namespace_linking(self, resource_id: str, section: str) -> dict[str, Any] | None:
        """The GA namespace whose `messaging` (hubs) or `provisioning` (DPS) endpoints name `resource_id`."""
        wanted = resource_id.lower()
        for doc in self.emu.repo.of_type(ids.NAMESPACE_TYPE):
            endpoints = ((doc.get("properties") or {}).get(section) or {}).get("endpoints") or {}
            if any(str(e.get("resourceId", "")).lower() == wanted for e in endpoints.values()):
                return doc
        return None

    def linked_endpoint(self, namespace: dict[str, Any], resource_id: str, section: str) -> dict[str, Any] | None:
        endpoints = ((namespace.get("properties") or {}).get(section) or {}).get("endpoints") or {}
        return next((e for e in endpoints.values() if str(e.get("resourceId", "")).lower() == resource_id.lower()),
                    None)

    # ---- policies and the CA that signs their devices ------------------------------------------------
    def policies(self, namespace_id: str) -> list[dict[str, Any]]:
        rows = self.emu.repo.children(ids.credential_id(namespace_id).lower(), ids.POLICY_TYPE.lower())
        return [doc for _, doc in rows]

    def policy(self, namespace_id: str, name: str) -> dict[str, Any] | None:
        return self.emu.repo.get(ids.policy_id(namespace_id, name).lower())

    def policy_by_id(self, policy_id: str) -> dict[str, Any] | None:
        """A preview policy or a GA certificate policy, by id."""
        return self.emu.repo.get(policy_id.lower())

    @staticmethod
    def signing_owner(policy_id: str) -> str:
        """The key-store owner whose CA signs a policy's device certificates: a preview policy owns its
        issuing CA; a GA certificate policy's devices are signed by its parent certificate authority."""
        if ids.is_certificate_policy(policy_id):
            return ids.ca_of(policy_id).lower()
        return policy_id.lower()

    @staticmethod
    def issuing_ca_parent(policy_id: str) -> str:
        """The owner of the CA that signs a policy's issuing CA (the namespace credential's root)."""
        return ids.credential_of(policy_id).lower()

    @staticmethod
    def leaf_validity_days(policy_doc: dict[str, Any]) -> int:
        certificate = (policy_doc.get("properties") or {}).get("certificate") or {}
        days = (certificate.get("leafCertificateConfiguration") or {}).get("validityPeriodInDays")  # preview
        days = days or certificate.get("validityPeriodInDays")  # GA
        return int(days or DEFAULT_LEAF_DAYS)

    # ---- the GA model: certificate authorities and their policies -------------------------------------
    def certificate_authorities(self, namespace_id: str) -> list[dict[str, Any]]:
        rows = self.emu.repo.children(namespace_id.lower(), ids.CA_TYPE.lower())
        return [doc for _, doc in rows]

    def certificate_authority(self, namespace_id: str, name: str) -> dict[str, Any] | None:
        return self.emu.repo.get(ids.certificate_authority_id(namespace_id, name).lower())

    def certificate_policies(self, ca_id: str) -> list[dict[str, Any]]:
        return [doc for _, doc in self.emu.repo.children(ca_id.lower(), ids.CERTIFICATE_POLICY_TYPE.lower())]

    def certificate_policy(self, namespace_id: str, ca_name: str, name: str) -> dict[str, Any] | None:
        return self.emu.repo.get(ids.certificate_policy_id(namespace_id, ca_name, name).lower())

    def refresh_certificate_authority(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        """Copy the CA's current certificate (or pending CSR) into its read-only fields, store them, and
        sync the namespace's CAs to its hubs (the GA model has no sync operation: it follows every change)."""
        pki, owner, props = self.emu.pki, doc["id"].lower(), doc["properties"]
        active, pending = pki.active_ca(owner), pki.pending_request(owner)
        record = active or pending
        if record is not None:
            props["subject"] = record.subject
            if active is not None and active.not_before and active.not_after:
                props["validityNotBefore"] = utc_z(active.not_before)
                props["validityNotAfter"] = utc_z(active.not_after)
        issuer = props.get("issuer") or {}
        if issuer.get("issuerType") == "External":
            issuer["certificateSigningRequest"] = (pending.csr_pem if pending else None) or \
                issuer.get("certificateSigningRequest") or ""
            if active is not None:
                issuer.update(status="ActiveButPendingRenewal" if pending else "Active", thumbprint=active.thumbprint)
            else:
                issuer["status"] = "PendingActivation"
                issuer.pop("thumbprint", None)
        self.emu.repo.update_body(doc["id"], doc)
        self.sync_certificate_authorities(ctx, ids.namespace_of(doc["id"]))

    def certificate_authority_entries(self, namespace_id: str) -> list[SyncEntry]:
        """(hub certificate name, PEM, CA id) for every CA that signs some policy's devices."""
        entries = []
        for ca in self.certificate_authorities(namespace_id):
            if not self.certificate_policies(ca["id"]):
                continue
            record = self.emu.pki.active_ca(ca["id"].lower())
            if record is not None and record.certificate_pem:
                entries.append((f"adr-ca-{ca['name']}", record.certificate_pem, ca["id"]))
        return entries

    def sync_new_link(self, ctx: RequestContext, namespace_id: str | None) -> None:
        """A hub was linked (by either side): it trusts the namespace's GA CAs from now on."""
        if namespace_id and self.certificate_authorities(namespace_id):
            self.sync_certificate_authorities(ctx, namespace_id)

    def sync_certificate_authorities(self, ctx: RequestContext, namespace_id: str) -> None:
        """The GA sync: every linked hub trusts exactly the namespace's CAs that sign device
        certificates (the preview credential's synced certificates are left as they are)."""
        entries = self.certificate_authority_entries(namespace_id)
        for hub in self.emu.hub.linked_to(namespace_id):
            self.emu.hub.set_synced_certificates(ctx, hub, entries, certificate_authorities=True)

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
        authorities = {}
        for ca in self.certificate_authorities(namespace["id"]):
            owner = ca["id"].lower()
            active = pki.active_ca(owner)
            authorities[ca["name"]] = {
                "id": ca["id"], "type": ca["properties"].get("certificateAuthorityType"),
                "issuer": ca["properties"].get("issuer"), "subject": ca["properties"].get("subject"),
                "certificate": active.certificate_pem if active else None,
                "thumbprint": active.thumbprint if active else None,
                "status": active.status if active else ("pending" if pki.pending_request(owner) else None),
                "history": [{"thumbprint": r.thumbprint, "status": r.status, "subject": r.subject}
                            for r in pki.ca_history(owner)],
                "certificatePolicies": {p["name"]: {"id": p["id"], "validityPeriodInDays": self.leaf_validity_days(p)}
                                        for p in self.certificate_policies(ca["id"])},
                "issuedCertificates": pki.issued_certificates(policy_owner=owner),
            }
        return {"namespace": namespace["id"], "uuid": namespace["properties"].get("uuid"),
                "root": root.certificate_pem if root else None,
                "rootThumbprint": root.thumbprint if root else None, "policies": policies,
                "certificateAuthorities": authorities}
