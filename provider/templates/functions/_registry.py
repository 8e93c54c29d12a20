"""The built-in function table and the argument checks every family module shares.

Each family module registers its functions with `@builtin(name, min_args, max_args)`; names
are stored lower-case because ARM function names are case-insensitive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provider.templates.errors import ExpressionError
from provider.templates.values import is_int, is_number, type_name

Impl = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    impl: Impl
    min_args: int
    max_args: int | None
    # Lazy functions receive (ctx, argument nodes, evaluate) instead of evaluated values.
    lazy: bool = False
    # Functions whose `lambda(...)` arguments are turned into Lambda objects.
    takes_lambdas: bool = False


FUNCTIONS: dict[str, FunctionSpec] = {}


def builtin(name: str, min_args: int = 0, max_args: int | None = None, *, lazy: bool = False,
            takes_lambdas: bool = False) -> Callable[[Impl], Impl]:
    def register(impl: Impl) -> Impl:
        FUNCTIONS[name.lower()] = FunctionSpec(name, impl, min_args, max_args, lazy, takes_lambdas)
        return impl

    return register


def fail_arg(fn: str, index: int, expected: str, value: Any) -> ExpressionError:
    return ExpressionError(
        f"The template language function '{fn}' expects its parameter {index + 1} to be of type '{expected}'. "
        f"The provided value is of type '{type_name(value)}'."
    )


def arg_str(fn: str, args: list[Any], index: int) -> str:
    value = args[index]
    if not isinstance(value, str):
        raise fail_arg(fn, index, "String", value)
    return value


def arg_int(fn: str, args: list[Any], index: int) -> int:
    value = args[index]
    if not is_int(value):
        raise fail_arg(fn, index, "Integer", value)
    return value


def arg_number(fn: str, args: list[Any], index: int) -> int | float:
    value = args[index]
    if not is_number(value):
        raise fail_arg(fn, index, "Integer", value)
    return value


def arg_bool(fn: str, args: list[Any], index: int) -> bool:
    value = args[index]
    if not isinstance(value, bool):
        raise fail_arg(fn, index, "Boolean", value)
    return value


def arg_list(fn: str, args: list[Any], index: int) -> list:
    value = args[index]
    if not isinstance(value, list):
        raise fail_arg(fn, index, "Array", value)
    return value


def arg_dict(fn: str, args: list[Any], index: int) -> dict:
    value = args[index]
    if not isinstance(value, dict):
        raise fail_arg(fn, index, "Object", value)
    return value


def fn_error(fn: str, message: str) -> ExpressionError:
    return ExpressionError(f"The template language function '{fn}' failed: {message}")
