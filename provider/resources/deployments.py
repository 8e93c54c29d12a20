"""`Microsoft.Resources/deployments`: template deployments at resource-group and subscription scope.

The declaration only; what a deployment does is `provider/deployments/service.py`, which loads
(with the template engine) on the first deployment call rather than when the resource types load.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from provider import api_versions
from provider.arm import handlers
from provider.arm.context import RequestContext
from provider.arm.resource_type import Action, NameRule, ResourceType, register

DEPLOYMENT_API_VERSIONS = api_versions.DEPLOYMENTS


def _service() -> ModuleType:
    from provider.deployments import service  # lazy: the template engine loads with the first deployment

    return service


def _put(ctx: RequestContext, rtype: ResourceType, body: Any, if_match: str | None,
         if_none_match: str | None) -> handlers.ArmResponse:
    return _service().run_put(ctx, rtype, body, if_match, if_none_match)


def _action(name: str) -> Any:
    def handler(ctx: RequestContext, doc: dict[str, Any] | None, body: Any) -> tuple[int, Any]:
        return getattr(_service(), name)(ctx, doc, body)

    return handler


@register
class Deployments(ResourceType):
    namespace = "Microsoft.Resources"
    type_path = ("deployments",)
    api_versions = DEPLOYMENT_API_VERSIONS
    location_required = False
    list_at_subscription = True
    name_rule = NameRule(r"^[-\w._()]+$", 1, 64, "Use letters, digits, '-', '_', '.', '(' and ')'.")
    actions = {
        "validate": Action(_action("validate"), long_running=False),
        "whatIf": Action(_action("run_what_if"), long_running=True),
        "cancel": Action(_action("cancel"), long_running=False),
        "exportTemplate": Action(_action("export_template"), long_running=False),
    }
    description = "A template deployment."
    custom_put = staticmethod(_put)
    supports_patch = False  # ARM has no PATCH for deployments
    actions_without_resource = ("validate", "whatIf")

    def list_filter(self, ctx: RequestContext, doc: dict[str, Any], scope_group: str | None) -> bool:
        """Subscription-scope listings show subscription-scope deployments only."""
        return scope_group is not None or "/resourcegroups/" not in doc["id"].lower()


@register
class DeploymentOperations(ResourceType):
    """The per-resource operations of a deployment (read-only)."""

    namespace = "Microsoft.Resources"
    type_path = ("deployments", "operations")
    api_versions = DEPLOYMENT_API_VERSIONS
    tracked = False
    read_only = True
    description = "One resource operation of a deployment."
