"""ARM resource ids: parsing, building and case-insensitive keys.

An id is `{scope}/providers/{Namespace}/{type}/{name}[/{childType}/{childName}...]`, where the
scope is a subscription, a resource group or (for extension resources such as role assignments)
another resource id. Lookups use `ResourceId.key` (lower-cased); responses use the casing the
caller last supplied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from provider.arm.errors import ArmError, invalid_resource_id

_UUIDISH = re.compile(r"^[0-9A-Za-z-]{1,64}$")


@dataclass(frozen=True)
class ResourceId:
    """A parsed resource id. `types`/`names` hold the provider-relative segments."""

    subscription: str
    resource_group: str | None
    namespace: str
    types: tuple[str, ...]
    names: tuple[str, ...]
    scope: str  # the id of the scope the provider segment hangs off (subscription, group or resource)

    @property
    def full_type(self) -> str:
        return "/".join((self.namespace, *self.types))

    @property
    def type_key(self) -> str:
        return self.full_type.lower()

    @property
    def name(self) -> str:
        return self.names[-1]

    @property
    def id(self) -> str:
        parts = [self.scope, "providers", self.namespace]
        for type_, name in zip(self.types, self.names, strict=True):
            parts += [type_, name]
        return "/".join(parts)

    @property
    def key(self) -> str:
        return self.id.lower()

    @property
    def parent(self) -> ResourceId | None:
        """The enclosing resource within the same provider, or None for a top-level resource."""
        if len(self.types) == 1:
            return None
        return ResourceId(self.subscription, self.resource_group, self.namespace,
                          self.types[:-1], self.names[:-1], self.scope)

    @property
    def parent_key(self) -> str:
        """Lower-cased id of the parent resource, or of the scope for a top-level resource."""
        parent = self.parent
        return parent.key if parent else self.scope.lower()

    def child(self, type_: str, name: str) -> ResourceId:
        return ResourceId(self.subscription, self.resource_group, self.namespace,
                          (*self.types, type_), (*self.names, name), self.scope)







def parse_scope(path: str) -> tuple[str, str | None]:
    """Return (subscription, resource group) of a scope path such as `/subscriptions/s/resourceGroups/g`."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        raise invalid_resource_id(f"'{path}' is not a valid resource id.")
    subscription = parts[1]
    group = parts[3] if len(parts) >= 4 and parts[2].lower() == "resourcegroups" else None
    return subscription, group


def parse_resource_id(path: str) -> ResourceId:
    """Parse a full resource id (the last `/providers/` segment names the resource)."""
    parts = [p for p in path.strip().split("/") if p]
    provider_positions = [i for i, p in enumerate(parts) if p.lower() == "providers"]
    if not provider_positions or parts[0].lower() != "subscriptions" or len(parts) < 2:
        raise invalid_resource_id(f"'{path}' is not a valid resource id.")
    at = provider_positions[-1]
    scope = "/" + "/".join(parts[:at])
    rest = parts[at + 1:]
    if len(rest) < 3 or len(rest) % 2 != 1:
        raise invalid_resource_id(f"'{path}' is not a valid resource id.")
    subscription, group = parse_scope(scope)
    namespace = rest[0]
    types = tuple(rest[1::2])
    names = tuple(rest[2::2])
    return ResourceId(subscription, group, namespace, types, names, scope)


def try_parse_resource_id(path: str) -> ResourceId | None:
    try:
        return parse_resource_id(path)
    except ArmError:
        return None


def same_id(a: str | None, b: str | None) -> bool:
    return (a or "").rstrip("/").lower() == (b or "").rstrip("/").lower()


def is_top_level(resource_id: str) -> bool:
    """A resource directly in its group: one provider segment and one type/name pair."""
    lowered = resource_id.lower()
    if lowered.count("/providers/") != 1:
        return False
    return len([p for p in lowered.split("/providers/", 1)[1].split("/") if p]) == 3
