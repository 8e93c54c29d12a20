"""Logical and comparison functions (research §5.3). `if`, `and`, `or`, `coalesce` are lazy."""

from __future__ import annotations

from typing import Any

from provider.templates.context import EvalContext
from provider.templates.errors import ExpressionError, TemplateError
from provider.templates.functions._registry import arg_bool, arg_str, builtin, fail_arg
from provider.templates.values import deep_equals, is_int, is_number, type_name


def _as_bool(fn: str, value: Any, index: int) -> bool:
    if not isinstance(value, bool):
        raise fail_arg(fn, index, "Boolean", value)
    return value


@builtin("if", 3, 3, lazy=True)
def _if(ctx: EvalContext, nodes: tuple, ev: Any) -> Any:
    condition = _as_bool("if", ev(nodes[0], ctx), 0)
    return ev(nodes[1] if condition else nodes[2], ctx)


@builtin("and", 2, lazy=True)
def _and(ctx: EvalContext, nodes: tuple, ev: Any) -> bool:
    return all(_as_bool("and", ev(node, ctx), i) for i, node in enumerate(nodes))


@builtin("or", 2, lazy=True)
def _or(ctx: EvalContext, nodes: tuple, ev: Any) -> bool:
    return any(_as_bool("or", ev(node, ctx), i) for i, node in enumerate(nodes))


@builtin("coalesce", 1, lazy=True)
def _coalesce(ctx: EvalContext, nodes: tuple, ev: Any) -> Any:
    for node in nodes:
        value = ev(node, ctx)
        if value is not None:
            return value
    return None


@builtin("not", 1, 1)
def _not(ctx: EvalContext, args: list) -> bool:
    return not arg_bool("not", args, 0)


@builtin("bool", 1, 1)
def _bool(ctx: EvalContext, args: list) -> bool:
    value = args[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if is_int(value):
        return value != 0
    raise ExpressionError(f"The template language function 'bool' can't convert a value of type "
                          f"'{type_name(value)}' ({value!r}) to a boolean.")


@builtin("true", 0, 0)
def _true(ctx: EvalContext, args: list) -> bool:
    return True


@builtin("false", 0, 0)
def _false(ctx: EvalContext, args: list) -> bool:
    return False


@builtin("null", 0, 0)
def _null(ctx: EvalContext, args: list) -> None:
    return None


@builtin("equals", 2, 2)
def _equals(ctx: EvalContext, args: list) -> bool:
    return deep_equals(args[0], args[1])


def _compare(fn: str, args: list) -> int:
    a, b = args
    if is_number(a) and is_number(b):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    raise ExpressionError(f"The template language function '{fn}' expects two integers or two strings, but got "
                          f"'{type_name(a)}' and '{type_name(b)}'.")


@builtin("less", 2, 2)
def _less(ctx: EvalContext, args: list) -> bool:
    return _compare("less", args) < 0


@builtin("lessOrEquals", 2, 2)
def _less_eq(ctx: EvalContext, args: list) -> bool:
    return _compare("lessOrEquals", args) <= 0


@builtin("greater", 2, 2)
def _greater(ctx: EvalContext, args: list) -> bool:
    return _compare("greater", args) > 0


@builtin("greaterOrEquals", 2, 2)
def _greater_eq(ctx: EvalContext, args: list) -> bool:
    return _compare("greaterOrEquals", args) >= 0


@builtin("fail", 1, 1)
def _fail(ctx: EvalContext, args: list) -> None:
    message = arg_str("fail", args, 0)
    raise TemplateError("InvalidTemplate", message)
