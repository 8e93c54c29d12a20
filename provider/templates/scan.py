"""Static passes over raw template JSON: syntax checking and finding reference()/list*() targets.

Checking syntax up front means a typo in a resource that is never deployed (condition false,
or reached only at run time) is still reported at validation, with its JSON path, as ARM does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from provider.templates.errors import ExpressionError, TemplateError
from provider.templates.functions import FUNCTIONS
from provider.templates.parser import Call, Index, Literal, Member, Node, is_expression, parse_expression

RUNTIME_FUNCTIONS = ("reference", "references")


def iter_expressions(value: Any, path: str = "", skip_keys: frozenset[str] = frozenset()) -> Iterator[tuple[str, str]]:
    """Every expression string (values and object keys) inside a JSON value, with its path."""
    if isinstance(value, str):
        if is_expression(value):
            yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from iter_expressions(item, f"{path}[{i}]", skip_keys)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key.lower() in skip_keys:
                continue
            if isinstance(key, str) and is_expression(key):
                yield f"{path}.{key}", key
            yield from iter_expressions(item, f"{path}.{key}", skip_keys)


def iter_calls(node: Node) -> Iterator[Call]:
    stack = [node]
    while stack:
        current = stack.pop()
        cls = current.__class__
        if cls is Call:
            yield current  # type: ignore[misc]
            stack.extend(current.args)  # type: ignore[attr-defined]
        elif cls is Member:
            stack.append(current.target)  # type: ignore[attr-defined]
        elif cls is Index:
            stack.append(current.target)  # type: ignore[attr-defined]
            stack.append(current.index)  # type: ignore[attr-defined]
        elif cls is Literal:
            continue


def check_syntax(value: Any, path: str) -> None:
    """Parse every expression; unknown built-in function names are errors too.

    `metadata` blocks are skipped: they are free text (descriptions such as "[Optional] ...") that ARM never
    evaluates as declarations; a resource property that happens to be called metadata is still evaluated later.
    """
    for where, text in iter_expressions(value, path, frozenset({"metadata"})):
        try:
            node = parse_expression(text)
            for call in iter_calls(node):
                if call.namespace is not None and call.namespace.lower() != "sys":
                    continue
                if call.key in FUNCTIONS or (call.key.startswith("list") and len(call.key) > 4):
                    continue
                raise ExpressionError(f"The template function '{call.name}' is not valid. Please see "
                                      "https://aka.ms/arm-functions for usage details.", call.pos)
        except TemplateError as exc:
            if exc.target is None:
                exc.target = where.lstrip(".")
            if "is not valid" in exc.message and text not in exc.message:
                exc.message = f"The language expression '{text}' is not valid: {exc.message}"
                exc.args = (exc.message,)
            raise


def runtime_calls(text: str) -> list[Call]:
    """reference/references/list* calls inside one expression string."""
    try:
        node = parse_expression(text)
    except TemplateError:
        return []
    out = []
    for call in iter_calls(node):
        if call.namespace is not None and call.namespace.lower() != "sys":
            continue
        runtime = call.key in RUNTIME_FUNCTIONS or (call.key.startswith("list") and call.key not in FUNCTIONS)
        if runtime and call.args:
            out.append(call)
    return out
