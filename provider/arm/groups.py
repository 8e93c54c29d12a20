"""Resource groups (`Microsoft.Resources/resourceGroups`), part of ARM's front door.

Groups live in the `resources` table with type `microsoft.resources/resourcegroups` and no
`resource_group` column value, so listing a group's resources never lists the group itself.
Deleting a group is long-running and removes everything inside it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from provider import api_versions
from provider.arm.envelope import normalize_location, system_data
from provider.arm.errors import ArmError, group_not_found, invalid_content, location_required

if TYPE_CHECKING:
    from provider.arm.context import RequestContext
    from provider.state import Emulator

GROUP_TYPE = "Microsoft.Resources/resourceGroups"
RESOURCES_API_VERSIONS = api_versions.RESOURCE_GROUPS
_NAME = re.compile(r"^[-\w.()]{1,90}$")


def group_id(subscription: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{name}"


def _key(subscription: str, name: str) -> str:
    return group_id(subscription, name).lower()


def get(emu: Emulator, subscription: str, name: str) -> dict[str, Any] | None:
    return emu.repo.get(_key(subscription, name))


def exists(emu: Emulator, subscription: str, name: str) -> bool:
    return emu.repo.exists(_key(subscription, name))


def check_name(name: str) -> None:
    if not _NAME.match(name) or name.endswith("."):
        raise ArmError(400, "InvalidResourceGroupName",
                       f"The resource group name '{name}' is invalid. It must be 1 to 90 characters of letters, "
                       "digits, '-', '_', '.', '(' and ')', and must not end with '.'.", target="name")


def put(ctx: RequestContext, subscription: str, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Create or update a group; `location` is required and cannot change."""
    check_name(name)
    location = body.get("location")
    if not isinstance(location, str) or not location.strip():
        raise location_required("The location property is required for this definition.",
                                target="location")
    tags = body.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise invalid_content("The property 'tags' must be an object of strings.",
                              target="tags")
    emu = ctx.emu
    with emu.store.transaction():
        existing = get(emu, subscription, name)
        location = normalize_location(location)
        if existing and existing["location"] != location:
            raise ArmError(409, "InvalidResourceGroupLocation",
                           f"Invalid resource group location '{location}'. The Resource group already exists in "
                           f"location '{existing['location']}'.", target="location")
        doc = {
            "id": group_id(subscription, name), "name": name, "type": GROUP_TYPE, "location": location,
            "managedBy": body.get("managedBy"), "tags": tags, "properties": {"provisioningState": "Succeeded"},
        }
        if doc["managedBy"] is None:
            del doc["managedBy"]
        doc["systemData"] = system_data(ctx, existing)
        emu.repo.put_group(subscription, doc)
    return (200 if existing else 201), doc


def patch(ctx: RequestContext, subscription: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    doc = get(ctx.emu, subscription, name)
    if doc is None:
        raise group_not_found(name)
    if "tags" in body:
        if not isinstance(body["tags"], dict):
            raise invalid_content("The property 'tags' must be an object.", target="tags")
        doc["tags"] = body["tags"]
    if "managedBy" in body:
        doc["managedBy"] = body["managedBy"]
    ctx.emu.repo.update_body(doc["id"], doc)
    return doc
