"""Resource functions (research §5.2): id builders, reference/references/list*, pickZones, providers.

The id builders only format strings. `reference`, `references` and `list*` read live state
through the environment, so they are refused where ARM refuses them (names, conditions, copy
counts...) and, while previewing, they only record their target and defer.
"""

from __future__ import annotations

from typing import Any

from provider.templates.context import EvalContext
from provider.templates.errors import Deferred, ExpressionError
from provider.templates.functions._registry import FunctionSpec, arg_int, arg_str, builtin, fail_arg
from provider.templates.ids import build_id, rg_scope, sub_scope


def _strings(fn: str, args: list) -> list[str]:
    for i, value in enumerate(args):
        if not isinstance(value, str):
            raise fail_arg(fn, i, "String", value)
    return args


def _record_id(ctx: EvalContext, fn: str, value: str) -> str:
    if ctx.stats is not None:
        ctx.stats.touched.append(("id", fn, value))
    return value


@builtin("resourceId", 2)
def _resource_id(ctx: EvalContext, args: list) -> str:
    args = _strings("resourceId", args)
    type_index = next((i for i, a in enumerate(args) if "/" in a), None)
    if type_index is None:
        raise ExpressionError("The template language function 'resourceId' needs a resource type argument "
                              "('Namespace/type').")
    prefix, full_type, names = args[:type_index], args[type_index], args[type_index + 1 :]
    env = ctx.env
    if len(prefix) > 2:
        raise ExpressionError("The template language function 'resourceId' accepts at most a subscription id and a "
                              "resource group name before the resource type.")
    if len(prefix) == 2:
        scope = rg_scope(prefix[0], prefix[1])
    elif len(prefix) == 1:
        scope = rg_scope(env.subscription_id, prefix[0])
    elif env.resource_group_name is not None:
        scope = rg_scope(env.subscription_id, env.resource_group_name)
    else:
        scope = sub_scope(env.subscription_id)
    return _record_id(ctx, "resourceId", build_id(scope, full_type, names))


@builtin("subscriptionResourceId", 2)
def _subscription_resource_id(ctx: EvalContext, args: list) -> str:
    args = _strings("subscriptionResourceId", args)
    type_index = next((i for i, a in enumerate(args) if "/" in a), None)
    if type_index is None or type_index > 1:
        raise ExpressionError("The template language function 'subscriptionResourceId' needs an optional "
                              "subscription id followed by a resource type and names.")
    subscription = args[0] if type_index == 1 else ctx.env.subscription_id
    return _record_id(ctx, "subscriptionResourceId",
                      build_id(sub_scope(subscription), args[type_index], args[type_index + 1 :]))


@builtin("tenantResourceId", 2)
def _tenant_resource_id(ctx: EvalContext, args: list) -> str:
    args = _strings("tenantResourceId", args)
    return build_id("", args[0], args[1:])


@builtin("managementGroupResourceId", 2)
def _management_group_resource_id(ctx: EvalContext, args: list) -> str:
    args = _strings("managementGroupResourceId", args)
    type_index = next((i for i, a in enumerate(args) if "/" in a), None)
    if type_index is None or type_index > 1:
        raise ExpressionError("The template language function 'managementGroupResourceId' needs an optional "
                              "management group id followed by a resource type and names.")
    group = args[0] if type_index == 1 else ctx.env.scope_object("managementGroup")["name"]
    scope = f"/providers/Microsoft.Management/managementGroups/{group}"
    return build_id(scope, args[type_index], args[type_index + 1 :])


@builtin("extensionResourceId", 3)
def _extension_resource_id(ctx: EvalContext, args: list) -> str:
    args = _strings("extensionResourceId", args)
    return _record_id(ctx, "extensionResourceId", build_id(args[0].rstrip("/"), args[1], args[2:]))


def _runtime_allowed(ctx: EvalContext, fn: str, target: Any) -> None:
    if not ctx.allow_runtime:
        raise ctx.not_expected(fn)
    if ctx.preview:
        if ctx.stats is not None:
            ctx.stats.touched.append(("reference", fn, target))
        raise Deferred()


def _full_flag(fn: str, args: list, index: int) -> bool:
    if len(args) <= index or args[index] is None:
        return False
    flag = arg_str(fn, args, index)
    if flag.lower() == "full":
        return True
    if flag.lower() == "properties":
        return False
    raise ExpressionError(f"The template language function '{fn}' expects 'Full' or 'Properties' as its "
                          f"parameter {index + 1}, not '{flag}'.")


@builtin("reference", 1, 3)
def _reference(ctx: EvalContext, args: list) -> Any:
    target = arg_str("reference", args, 0)
    api_version = None
    if len(args) > 1 and args[1] is not None:
        api_version = arg_str("reference", args, 1)
    full = _full_flag("reference", args, 2)
    _runtime_allowed(ctx, "reference", target)
    return ctx.env.reference(target, api_version, full, ctx)


@builtin("references", 1, 2)
def _references(ctx: EvalContext, args: list) -> list:
    symbol = arg_str("references", args, 0)
    full = _full_flag("references", args, 1)
    _runtime_allowed(ctx, "references", symbol)
    return ctx.env.references(symbol, full, ctx)


def _list_action(ctx: EvalContext, args: list, name: str) -> Any:
    if not 1 <= len(args) <= 3:
        raise ExpressionError(f"The template language function '{name}' must have 1 to 3 parameters.")
    target = arg_str(name, args, 0)
    api_version = arg_str(name, args, 1) if len(args) > 1 and args[1] is not None else None
    body = args[2] if len(args) > 2 else None
    _runtime_allowed(ctx, name, target)
    return ctx.env.list_action(name, target, api_version, body, ctx)


LIST_ACTION = FunctionSpec("list*", _list_action, 1, 3)


@builtin("pickZones", 3, 5)
def _pick_zones(ctx: EvalContext, args: list) -> list[str]:
    arg_str("pickZones", args, 0)
    arg_str("pickZones", args, 1)
    arg_str("pickZones", args, 2)
    count = arg_int("pickZones", args, 3) if len(args) > 3 else 1
    offset = arg_int("pickZones", args, 4) if len(args) > 4 else 0
    zones = [str(z) for z in range(1, 4)]
    return zones[offset : offset + max(count, 0)]


@builtin("providers", 1, 2)
def _providers(ctx: EvalContext, args: list) -> Any:
    namespace = arg_str("providers", args, 0)
    location = ctx.env.location
    if len(args) > 1:
        resource_type = arg_str("providers", args, 1)
        return {"resourceType": resource_type, "locations": [location] if location else [], "apiVersions": []}
    return {"namespace": namespace, "resourceTypes": []}
