"""Deployment and scope values (research §5.1): parameters, variables, copyIndex and the scope objects."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from provider.templates.context import EvalContext
from provider.templates.errors import ExpressionError
from provider.templates.functions._registry import arg_int, arg_str, builtin, fail_arg
from provider.templates.values import is_int


@builtin("parameters", 1, 1)
def _parameters(ctx: EvalContext, args: list) -> Any:
    name = arg_str("parameters", args, 0)
    if ctx.udf_params is not None:
        key = name.lower()
        if key not in ctx.udf_params:
            raise ExpressionError(f"The user-defined function parameter '{name}' is not defined.")
        return ctx.udf_params[key]
    return ctx.env.parameter(name, ctx)


@builtin("variables", 1, 1)
def _variables(ctx: EvalContext, args: list) -> Any:
    name = arg_str("variables", args, 0)
    if not ctx.allow_variables:
        raise ctx.not_expected("variables")
    return ctx.env.variable(name, ctx)


@builtin("copyIndex", 0, 2)
def _copy_index(ctx: EvalContext, args: list) -> int:
    name: str | None = None
    offset = 0
    if len(args) == 2:
        name = arg_str("copyIndex", args, 0)
        offset = arg_int("copyIndex", args, 1)
    elif len(args) == 1:
        if isinstance(args[0], str):
            name = args[0]
        elif is_int(args[0]):
            offset = args[0]
        else:
            raise fail_arg("copyIndex", 0, "String or Integer", args[0])
    key = name.lower() if name is not None else ctx.copy_default
    if key is None or key not in ctx.copy:
        where = f"copy loop '{name}'" if name is not None else "a copy loop"
        raise ExpressionError(f"The template function 'copyIndex' is not expected at this location: it is not "
                              f"inside {where}.")
    return ctx.copy[key] + offset


def _scope(kind: str) -> Callable[[EvalContext, list], dict]:
    # Values are never mutated in place by functions, so the cached scope object can be shared.
    def impl(ctx: EvalContext, args: list) -> dict:
        return ctx.env.scope_object(kind)

    return impl


builtin("resourceGroup", 0, 0)(_scope("resourceGroup"))
builtin("subscription", 0, 0)(_scope("subscription"))
builtin("tenant", 0, 0)(_scope("tenant"))
builtin("deployment", 0, 0)(_scope("deployment"))
builtin("environment", 0, 0)(_scope("environment"))
builtin("deployer", 0, 0)(_scope("deployer"))


@builtin("managementGroup", 0, 1)
def _management_group(ctx: EvalContext, args: list) -> dict:
    if args:
        name = arg_str("managementGroup", args, 0)
        return {"id": f"/providers/Microsoft.Management/managementGroups/{name}", "name": name,
                "type": "Microsoft.Management/managementGroups"}
    return copy.deepcopy(ctx.env.scope_object("managementGroup"))
