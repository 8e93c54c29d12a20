"""The parts of a resource envelope every writer stamps: location form, `systemData`, etag.

Pure functions, so the resource-group code, the handlers and the internal write path share them
without importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provider.common import arm_etag

if TYPE_CHECKING:
    from provider.arm.context import RequestContext


def normalize_location(location: str) -> str:
    """ARM's canonical region name: `East US` -> `eastus`."""
    return "".join(location.split()).lower()


def new_etag() -> str:
    return arm_etag()


def system_data(ctx: RequestContext, existing: dict[str, Any] | None) -> dict[str, Any]:
    """`systemData`: who created the resource and when (kept from `existing`), who changed it last."""
    now = ctx.timestamp()
    created = (existing or {}).get("systemData") or {}
    return {
        "createdBy": created.get("createdBy", ctx.caller),
        "createdByType": created.get("createdByType", ctx.caller_type),
        "createdAt": created.get("createdAt", now),
        "lastModifiedBy": ctx.caller,
        "lastModifiedByType": ctx.caller_type,
        "lastModifiedAt": now,
    }
