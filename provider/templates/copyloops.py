"""Copy loops (research §7.2): property, variable and output copies, and resource-loop batching.

Property/variable/output copies are expanded while values are walked, so they reuse the
walker passed in (it lives in the evaluator, which imports this module).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provider.templates.context import EvalContext
from provider.templates.errors import Deferred, ExpressionError, TemplateError
from provider.templates.values import get_ci, has_key_ci, is_int, type_name

MAX_COPY = 800
Walker = Callable[..., Any]


def is_property_copy(value: Any) -> bool:
    """A `copy` key holds property loops when it is a non-empty list of {name, count, input} objects."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(e, dict) and has_key_ci(e, "name") and has_key_ci(e, "input") for e in value)
    )


def copy_count(raw: Any, ctx: EvalContext, walk: Walker, what: str) -> int:
    count = walk(raw, ctx)
    if ctx.preview and isinstance(count, str) and count[:1] == "[":
        raise Deferred()
    if not is_int(count):
        raise ExpressionError(f"The copy count of {what} must be an integer, not a value of type '{type_name(count)}'.")
    if count < 0 or count > MAX_COPY:
        raise ExpressionError(f"The copy count of {what} must be between 0 and {MAX_COPY}, but is {count}.")
    return count


def expand_copy_array(spec: dict, ctx: EvalContext, walk: Walker, *, name: str, default: bool = False) -> list[Any]:
    """Produce the array a copy spec describes; `copyIndex(name)` (or `copyIndex()` when default) is bound."""
    count = copy_count(get_ci(spec, "count"), ctx, walk, f"'{name}'" if name else "the output")
    template = get_ci(spec, "input")
    result = []
    for index in range(count):
        inner = ctx.with_copy(name, index, default=default)
        try:
            result.append(walk(template, inner))
        except TemplateError as exc:
            exc.path.append(f".input[{index}]")
            raise
    return result


def expand_property_copies(specs: list[dict], ctx: EvalContext, walk: Walker) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in specs:
        name = get_ci(spec, "name")
        if not isinstance(name, str) or not name:
            raise ExpressionError("A property copy loop needs a literal string 'name'.")
        try:
            out[name] = expand_copy_array(spec, ctx, walk, name=name)
        except Deferred:
            if not ctx.preview:
                raise
            if ctx.stats is not None:
                ctx.stats.deferred_texts.append(str(get_ci(spec, "count")))
            out[name] = []
    return out


def serial_batches(count: int, mode: str | None, batch_size: int | None) -> list[list[int]]:
    """Group loop indices into the batches that run one after another (one batch when parallel)."""
    if (mode or "parallel").lower() != "serial":
        return [list(range(count))]
    size = batch_size if batch_size and batch_size > 0 else 1
    return [list(range(start, min(start + size, count))) for start in range(0, count, size)]
