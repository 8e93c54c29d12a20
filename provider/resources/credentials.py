"""`Microsoft.DeviceRegistry/namespaces/credentials` (singleton `default`): the namespace's root CA.

Creating the credential creates a self-signed P-384 root in the key store (see `provider.pki`);
deleting it destroys the key. `POST .../synchronize` pushes every policy's current issuing CA
to each IoT hub linked to the namespace, replacing what an earlier sync put there, so a hub
trusts exactly the namespace's current issuers.
"""

from __future__ import annotations

from typing import Any

from provider import api_versions
from provider.adr import ids
from provider.arm.context import RequestContext
from provider.arm.errors import conflict
from provider.arm.ids import parse_resource_id
from provider.arm.resource_type import Action, ResourceType, register
from provider.arm.schemas import TagsPatch, TrackedBody

CREDENTIAL_API_VERSIONS = api_versions.DEVICE_REGISTRY_CREDENTIALS
ROOT_VALIDITY_DAYS = 3650


def synchronize(ctx: RequestContext, credential: dict[str, Any], _body: Any) -> tuple[int, Any]:
    """Write each policy's issuing CA to every hub linked to the namespace (one transaction)."""
    return 200, ctx.emu.adr.synchronize(ctx, ids.namespace_of(credential["id"]))


@register
class Credentials(ResourceType):
    namespace = "Microsoft.DeviceRegistry"
    type_path = ("namespaces", "credentials")
    api_versions = CREDENTIAL_API_VERSIONS
    fixed_names = ("default",)
    put_schema = TrackedBody
    patch_schema = TagsPatch
    actions = {"synchronize": Action(synchronize, long_running=True)}
    description = "The namespace's root certificate authority."

    def after_write(self, ctx: RequestContext, doc: dict[str, Any], existing: dict[str, Any] | None) -> None:
        owner = doc["id"].lower()
        if ctx.emu.pki.active_ca(owner) is None:
            namespace = parse_resource_id(ids.namespace_of(doc["id"]))
            ctx.emu.pki.create_root_ca(owner, f"{namespace.name} root CA", ROOT_VALIDITY_DAYS)

    def before_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        policies = ctx.emu.adr.policies(ids.namespace_of(doc["id"]))
        if policies:
            names = ", ".join(p["name"] for p in policies)
            raise conflict(f"The credential cannot be deleted while it has policies: {names}. Delete them first.",
                           target="policies")

    def after_delete(self, ctx: RequestContext, doc: dict[str, Any]) -> None:
        ctx.emu.pki.delete_owner(doc["id"].lower())
