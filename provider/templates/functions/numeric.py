"""Numeric and date functions (research §5.6, utcNow from §5.4). Integers are 64-bit, division truncates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from provider.templates.context import EvalContext
from provider.templates.errors import ExpressionError
from provider.templates.functions._registry import arg_int, arg_number, arg_str, builtin, fn_error
from provider.templates.functions.netformat import format_datetime, iso_z, parse_datetime, parse_duration
from provider.templates.values import is_int, type_name

_INT64 = (-(2**63), 2**63 - 1)


def _check(fn: str, value: int | float) -> int | float:
    if isinstance(value, int) and not (_INT64[0] <= value <= _INT64[1]):
        raise fn_error(fn, "the result overflows a 64-bit integer.")
    return value


@builtin("add", 2, 2)
def _add(ctx: EvalContext, args: list) -> Any:
    return _check("add", arg_number("add", args, 0) + arg_number("add", args, 1))


@builtin("sub", 2, 2)
def _sub(ctx: EvalContext, args: list) -> Any:
    return _check("sub", arg_number("sub", args, 0) - arg_number("sub", args, 1))


@builtin("mul", 2, 2)
def _mul(ctx: EvalContext, args: list) -> Any:
    return _check("mul", arg_number("mul", args, 0) * arg_number("mul", args, 1))


@builtin("div", 2, 2)
def _div(ctx: EvalContext, args: list) -> Any:
    a, b = arg_number("div", args, 0), arg_number("div", args, 1)
    if b == 0:
        raise fn_error("div", "division by zero.")
    if is_int(a) and is_int(b):
        quotient = abs(a) // abs(b)
        return quotient if (a >= 0) == (b >= 0) else -quotient
    return a / b


@builtin("mod", 2, 2)
def _mod(ctx: EvalContext, args: list) -> Any:
    a, b = arg_int("mod", args, 0), arg_int("mod", args, 1)
    if b == 0:
        raise fn_error("mod", "division by zero.")
    remainder = abs(a) % abs(b)
    return remainder if a >= 0 else -remainder


@builtin("int", 1, 1)
def _int(ctx: EvalContext, args: list) -> int:
    value = args[0]
    if is_int(value):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ExpressionError(f"The template language function 'int' can't convert the value '{value}' of type "
                          f"'{type_name(value)}' to an integer.")


@builtin("float", 1, 1)
def _float(ctx: EvalContext, args: list) -> float:
    value = args[0]
    if isinstance(value, bool):
        raise ExpressionError("The template language function 'float' can't convert a boolean.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ExpressionError(f"The template language function 'float' can't convert the value '{value}' to a "
                              "number.") from None


@builtin("utcNow", 0, 1)
def _utc_now(ctx: EvalContext, args: list) -> str:
    if not ctx.allow_nondeterministic:
        raise ExpressionError("The template function 'utcNow' is not expected at this location. It can only be "
                              "used in the default value of a parameter.")
    fmt = arg_str("utcNow", args, 0) if args else "yyyyMMddTHHmmssZ"
    return format_datetime(ctx.env.now, fmt)


@builtin("dateTimeAdd", 2, 3)
def _date_time_add(ctx: EvalContext, args: list) -> str:
    base = parse_datetime(arg_str("dateTimeAdd", args, 0))
    result = base + parse_duration(arg_str("dateTimeAdd", args, 1))
    if len(args) > 2:
        return format_datetime(result, arg_str("dateTimeAdd", args, 2))
    return iso_z(result)


@builtin("dateTimeFromEpoch", 1, 1)
def _from_epoch(ctx: EvalContext, args: list) -> str:
    seconds = arg_int("dateTimeFromEpoch", args, 0)
    return iso_z(datetime.fromtimestamp(seconds, tz=UTC))


@builtin("dateTimeToEpoch", 1, 1)
def _to_epoch(ctx: EvalContext, args: list) -> int:
    return int(parse_datetime(arg_str("dateTimeToEpoch", args, 0)).timestamp())
