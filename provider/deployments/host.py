"""The template engine's window on the emulator (`provider.templates.DeploymentHost`).

Every write a template makes goes through `provider.arm.handlers` exactly as a REST call would:
same type declaration, validation, hooks and errors. An `ArmError` becomes the engine's
`ResourceWriteError`, which the engine reports inside `DeploymentFailed` with the resource id.
"""

from __future__ import annotations

from typing import Any

from provider.arm import groups, handlers
from provider.arm.context import RequestContext
from provider.arm.errors import ArmError
from provider.arm.ids import is_top_level, parse_resource_id
from provider.arm.resource_type import GenericResourceType, ResourceType, generic_type_for
from provider.common import template_environment
from provider.templates import ResourceWriteError


class EmulatorDeploymentHost:
    """Adapts the emulator's generic ARM handlers to the engine's host protocol."""

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.emu = ctx.emu
        self.subscription_id = ctx.rid.subscription if ctx.rid else ctx.emu.config.subscription_id
        self.tenant_id = ctx.emu.config.tenant_id
        self.location_default = ctx.emu.config.location
        self.not_emulated: set[str] = set()  # ids written as generic resources

    # ---- helpers --------------------------------------------------------------------------------
    def _type_for(self, full_type: str, ctx: RequestContext) -> ResourceType:
        try:
            return self.emu.registry.find(full_type) or generic_type_for(ctx, full_type)
        except ArmError as exc:
            raise ResourceWriteError(exc.code, exc.message, exc.status, exc.target) from exc

    def _ctx(self, resource_id: str, api_version: str | None) -> tuple[RequestContext, ResourceType]:
        try:
            rid = parse_resource_id(resource_id)
        except ArmError as exc:
            raise ResourceWriteError(exc.code, exc.message, exc.status, exc.target) from exc
        ctx = RequestContext(self.emu, rid, api_version or "", self.ctx.base_url, caller=self.ctx.caller,
                             caller_type=self.ctx.caller_type, via_deployment=True)
        rtype = self._type_for(rid.full_type, ctx)
        if not ctx.api_version and rtype.api_versions:
            ctx.api_version = rtype.api_versions[-1]
        return ctx, rtype

    # ---- DeploymentHost ---------------------------------------------------------------------------
    def resource_group(self, subscription_id: str, name: str) -> dict | None:
        return groups.get(self.emu, subscription_id, name)

    def get_resource(self, resource_id: str, api_version: str | None) -> dict | None:
        group = _group_of(resource_id)
        if group is not None:
            return groups.get(self.emu, *group)
        doc = self.emu.repo.get(resource_id)
        if doc is None:  # a read never fails on the type: only writes are refused (--strict-resource-types)
            return None
        ctx, rtype = self._ctx(resource_id, api_version)
        return handlers.render(ctx, rtype, doc)

    def put_resource(self, resource_id: str, body: dict, api_version: str) -> dict:
        group = _group_of(resource_id)
        if group is not None:  # subscription-scope templates create resource groups
            try:
                return groups.put(self.ctx, group[0], group[1], body)[1]
            except ArmError as exc:
                raise ResourceWriteError(exc.code, exc.message, exc.status, exc.target) from exc
        ctx, rtype = self._ctx(resource_id, api_version)
        if isinstance(rtype, GenericResourceType):
            self.not_emulated.add(resource_id.lower())
        try:
            result = handlers.put_resource(ctx, rtype, body)
        except ArmError as exc:
            raise ResourceWriteError(exc.code, exc.message, exc.status, exc.target) from exc
        return result.body

    def delete_resource(self, resource_id: str, api_version: str | None) -> None:
        group = _group_of(resource_id)
        if group is not None:
            handlers.delete_group_and_contents(self.ctx, *group)
            return
        ctx, rtype = self._ctx(resource_id, api_version)
        doc = self.emu.repo.get(ctx.rid.key)
        if doc is None:
            return
        try:
            rtype.before_delete(ctx, doc)
            handlers.refuse_if_referenced(ctx, doc)
            handlers.delete_now(ctx, doc)
        except ArmError as exc:
            raise ResourceWriteError(exc.code, exc.message, exc.status, exc.target) from exc

    def post_action(self, resource_id: str, action: str, body: dict | None, api_version: str) -> dict:
        resource_id, action = self._action_target(resource_id, action)
        ctx, rtype = self._ctx(resource_id, api_version)
        if isinstance(rtype, GenericResourceType):
            raise ResourceWriteError(
                "ResourceTypeNotEmulated",
                f"The action '{action}' cannot be called on '{rtype.full_type}': the emulator stores that type as "
                "a generic resource and does not emulate its actions.", 400)
        try:
            result = handlers.post_action(ctx, rtype, action, body)
            if result.status == 202 and "Location" in result.headers:
                op_id = result.headers["Location"].split("/operationResults/")[1].split("?")[0]
                result = handlers.operation_result(ctx, op_id)
        except ArmError as exc:
            raise ResourceWriteError(exc.code, exc.message, exc.status, exc.target) from exc
        return result.body if isinstance(result.body, dict) else {}

    def _action_target(self, resource_id: str, action: str) -> tuple[str, str]:
        """`.../IotHubs/h/IotHubKeys/k` + `listkeys` is the action `IotHubKeys/k/listkeys` on the hub,
        exactly as the REST router reads `POST .../IotHubs/h/IotHubKeys/k/listkeys`."""
        try:
            rid = parse_resource_id(resource_id)
        except ArmError:
            return resource_id, action
        suffix: list[str] = []
        probe = rid
        while self.emu.registry.find(probe.full_type) is None and probe.parent is not None:
            suffix = [probe.types[-1], probe.names[-1], *suffix]
            probe = probe.parent
        if not suffix or self.emu.registry.find(probe.full_type) is None:
            return resource_id, action
        return probe.id, "/".join([*suffix, action])

    def list_resource_ids_in_group(self, subscription_id: str, resource_group: str) -> list[str]:
        """The group's top-level resources, as ARM's group listing (and so Complete mode) sees them."""
        return [doc["id"] for _, doc in self.emu.repo.in_group(subscription_id, resource_group)
                if is_top_level(doc["id"]) and not doc["type"].lower().startswith("microsoft.resources/")]

    def environment(self) -> dict[str, Any]:
        return template_environment(self.ctx.base_url)

    def subscription(self, subscription_id: str) -> dict:
        return {"id": f"/subscriptions/{subscription_id}", "subscriptionId": subscription_id,
                "tenantId": self.tenant_id, "displayName": "adr-emulator subscription"}

    def tenant(self) -> dict:
        return {"tenantId": self.tenant_id, "countryCode": "US", "displayName": "adr-emulator tenant"}


def _group_of(resource_id: str) -> tuple[str, str] | None:
    """(subscription, group) when `resource_id` is a resource group's id."""
    parts = [p for p in resource_id.split("/") if p]
    if len(parts) == 4 and parts[0].lower() == "subscriptions" and parts[2].lower() == "resourcegroups":
        return parts[1], parts[3]
    return None
