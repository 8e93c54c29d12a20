"""Which linked IoT hub a registering device goes to.

Candidates are the enrollment's `iotHubs` (each must be linked to the DPS) or, without that
list, the DPS's linked hubs whose `applyAllocationPolicy` is not false. The policy is the
enrollment's `allocationPolicy`, else the DPS's, else `hashed`:

* `hashed`     — weighted by `allocationWeight` (default 1), chosen by SHA-256 of the lower-cased
                 registration id, so a device always lands on the same hub while the set is stable;
* `static`     — the enrollment's `iotHubHostName` (or its only `iotHubs` entry);
* `geoLatency` — hubs in the DPS's own location first (hashed among them), others only if none;
* `custom`     — needs a webhook; not emulated, refused with a clear error.

Re-registration with `reprovisionPolicy.updateHubAssignment = false` keeps the previous hub.
"""

from __future__ import annotations

import hashlib
from typing import Any

from provider.dps import errors
from provider.dps.errors import DpsError

POLICIES = ("hashed", "geoLatency", "static", "custom")


def hub_host(hub_doc: dict[str, Any]) -> str:
    return str((hub_doc.get("properties") or {}).get("hostName") or "").lower()


def _weight(entry: dict[str, Any]) -> int:
    value = entry.get("allocationWeight")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 1


def _hashed(registration_id: str, candidates: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    weighted = [(hub, entry, _weight(entry)) for hub, entry in candidates]
    if sum(w for *_, w in weighted) == 0:
        weighted = [(hub, entry, 1) for hub, entry, _ in weighted]
    weighted.sort(key=lambda item: hub_host(item[0]))  # independent of link order
    total = sum(w for *_, w in weighted)
    point = int.from_bytes(hashlib.sha256(registration_id.lower().encode()).digest()[:8], "big") % total
    for hub, entry, weight in weighted:
        if point < weight:
            return hub, entry
        point -= weight
    raise AssertionError("unreachable")


def _same_location(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and a.replace(" ", "").lower() == b.replace(" ", "").lower()


def _policy_name(value: str) -> str:
    """Enrollments say `geoLatency`, the ARM resource says `GeoLatency`."""
    return {p.lower(): p for p in POLICIES}.get(str(value).lower(), str(value))


def allocate(dps_doc: dict[str, Any], linked: list[tuple[dict, dict]], enrollment: dict[str, Any],
             registration_id: str, previous_hub: str | None) -> dict[str, Any]:
    """The hub document the device is assigned to; DpsError when the enrollment cannot be served."""
    if not linked:
        raise DpsError(errors.NO_LINKED_HUB,
                       "The provisioning service has no linked IoT hub to assign the device to. Link a hub "
                       "(properties.iotHubs of the provisioning service) first.")
    by_host = {hub_host(hub): (hub, entry) for hub, entry in linked}
    wanted = [str(h).lower() for h in enrollment.get("iotHubs") or []]
    static_host = str(enrollment.get("iotHubHostName") or "").lower()
    for host in [*wanted, *([static_host] if static_host else [])]:
        if host not in by_host:
            raise DpsError(errors.HUB_NOT_LINKED,
                           f"The enrollment assigns devices to IoT hub '{host}', which is not linked to this "
                           "provisioning service.", info={"hub": host})
    policy = _policy_name(enrollment.get("allocationPolicy") or (dps_doc.get("properties") or {}).get(
        "allocationPolicy") or "hashed")
    if policy == "custom":
        raise DpsError(errors.CUSTOM_ALLOCATION_NOT_EMULATED,
                       "Custom allocation (an allocation webhook) is not emulated; use hashed, static or geoLatency.")
    reprovision = enrollment.get("reprovisionPolicy") or {}
    if previous_hub and reprovision.get("updateHubAssignment") is False and previous_hub.lower() in by_host:
        return by_host[previous_hub.lower()][0]
    if wanted:
        candidates = [by_host[h] for h in dict.fromkeys(wanted)]
    else:
        candidates = [(hub, entry) for hub, entry in linked if entry.get("applyAllocationPolicy") is not False] \
            or list(linked)
    if policy == "static":
        if static_host:
            return by_host[static_host][0]
        if len(candidates) == 1:
            return candidates[0][0]
        raise DpsError(errors.INVALID_ENROLLMENT,
                       "Static allocation needs the enrollment's iotHubHostName (or exactly one entry in iotHubs).")
    if policy == "geoLatency":
        location = dps_doc.get("location")
        near = [(hub, entry) for hub, entry in candidates
                if _same_location(entry.get("location") or hub.get("location"), location)]
        candidates = near or candidates
    return _hashed(registration_id, candidates)[0]
