"""The boundary between the template engine and the rest of the emulator.

The engine never touches storage directly: every read and write goes through a
`DeploymentHost`, so a resource deployed from a template is handled exactly like one created by
a REST PUT, and tests can use an in-memory host.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from provider.templates.errors import ResourceWriteError

__all__ = ["DeploymentHost", "ResourceWriteError"]


@runtime_checkable
class DeploymentHost(Protocol):
    """What the engine needs from the emulator. Every resource write goes through the same handler a REST PUT uses.

    Optional extras the engine uses when present (looked up with getattr): `subscription(subscription_id) -> dict`
    for `subscription()`, `tenant() -> dict` for `tenant()`, `deployer() -> dict` for `deployer()`.
    """

    subscription_id: str
    tenant_id: str
    location_default: str

    def resource_group(self, subscription_id: str, name: str) -> dict | None:
        """{"id","name","location","tags","properties"} of a group, None if absent."""

    def get_resource(self, resource_id: str, api_version: str | None) -> dict | None:
        """Full ARM body of a resource, None if absent."""

    def put_resource(self, resource_id: str, body: dict, api_version: str) -> dict:
        """Create/replace a resource; returns the final body; raises ResourceWriteError on refusal."""

    def delete_resource(self, resource_id: str, api_version: str | None) -> None:
        """Delete a resource (Complete mode)."""

    def post_action(self, resource_id: str, action: str, body: dict | None, api_version: str) -> dict:
        """POST {resource_id}/{action} for list* functions (listKeys...); returns the JSON body."""

    def list_resource_ids_in_group(self, subscription_id: str, resource_group: str) -> list[str]:
        """Every resource id in a group (Complete mode)."""

    def environment(self) -> dict:
        """The environment() object."""
