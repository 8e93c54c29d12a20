"""Lambda functions (research §5.7). Lambdas are only accepted as direct arguments of these functions."""

from __future__ import annotations

import functools
from typing import Any

from provider.templates.context import EvalContext, Lambda
from provider.templates.errors import ExpressionError
from provider.templates.functions._registry import arg_dict, arg_list, arg_str, builtin, fail_arg
from provider.templates.values import to_string


def _lambda(fn: str, args: list, index: int, arity: tuple[int, ...]) -> Lambda:
    value = args[index]
    if not isinstance(value, Lambda):
        raise fail_arg(fn, index, "Lambda", value)
    if len(value.names) not in arity:
        allowed = " or ".join(str(a) for a in arity)
        raise ExpressionError(f"The lambda given to '{fn}' must declare {allowed} parameter(s), not "
                              f"{len(value.names)}.")
    return value


@builtin("lambda", 2, lazy=True)
def _lambda_outside(ctx: EvalContext, nodes: tuple, ev: Any) -> Any:
    raise ExpressionError("The template function 'lambda' can only be used as a direct argument of filter, map, "
                          "reduce, sort, toObject, groupBy or mapValues.")


@builtin("lambdaVariables", 1, 1)
def _lambda_variables(ctx: EvalContext, args: list) -> Any:
    name = arg_str("lambdaVariables", args, 0)
    if not ctx.lambda_vars:
        raise ExpressionError("The template function 'lambdaVariables' can only be used inside a lambda.")
    key = name.lower()
    if key not in ctx.lambda_vars:
        raise ExpressionError(f"The lambda variable '{name}' is not defined.")
    return ctx.lambda_vars[key]


@builtin("filter", 2, 2, takes_lambdas=True)
def _filter(ctx: EvalContext, args: list) -> list:
    items = arg_list("filter", args, 0)
    predicate = _lambda("filter", args, 1, (1, 2))
    out = []
    for i, item in enumerate(items):
        keep = predicate(item, i)
        if not isinstance(keep, bool):
            raise ExpressionError("The lambda given to 'filter' must return a boolean.")
        if keep:
            out.append(item)
    return out


@builtin("map", 2, 2, takes_lambdas=True)
def _map(ctx: EvalContext, args: list) -> list:
    items = arg_list("map", args, 0)
    mapper = _lambda("map", args, 1, (1, 2))
    return [mapper(item, i) for i, item in enumerate(items)]


@builtin("reduce", 3, 3, takes_lambdas=True)
def _reduce(ctx: EvalContext, args: list) -> Any:
    items = arg_list("reduce", args, 0)
    reducer = _lambda("reduce", args, 2, (2, 3))
    accumulator = args[1]
    for i, item in enumerate(items):
        accumulator = reducer(accumulator, item, i)
    return accumulator


@builtin("sort", 2, 2, takes_lambdas=True)
def _sort(ctx: EvalContext, args: list) -> list:
    items = arg_list("sort", args, 0)
    before = _lambda("sort", args, 1, (2,))

    def compare(a: Any, b: Any) -> int:
        if before(a, b) is True:
            return -1
        if before(b, a) is True:
            return 1
        return 0

    return sorted(items, key=functools.cmp_to_key(compare))


@builtin("toObject", 2, 3, takes_lambdas=True)
def _to_object(ctx: EvalContext, args: list) -> dict:
    items = arg_list("toObject", args, 0)
    key_of = _lambda("toObject", args, 1, (1,))
    value_of = _lambda("toObject", args, 2, (1,)) if len(args) > 2 else None
    out: dict[str, Any] = {}
    for item in items:
        key = key_of(item)
        if not isinstance(key, str):
            raise ExpressionError("The key lambda given to 'toObject' must return a string.")
        out[key] = value_of(item) if value_of else item
    return out


@builtin("groupBy", 2, 2, takes_lambdas=True)
def _group_by(ctx: EvalContext, args: list) -> dict:
    items = arg_list("groupBy", args, 0)
    key_of = _lambda("groupBy", args, 1, (1,))
    out: dict[str, list] = {}
    for item in items:
        key = key_of(item)
        key = key if isinstance(key, str) else to_string(key)
        out.setdefault(key, []).append(item)
    return out


@builtin("mapValues", 2, 2, takes_lambdas=True)
def _map_values(ctx: EvalContext, args: list) -> dict:
    obj = arg_dict("mapValues", args, 0)
    mapper = _lambda("mapValues", args, 1, (1,))
    return {key: mapper(value) for key, value in obj.items()}
