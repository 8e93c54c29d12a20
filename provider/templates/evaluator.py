"""Evaluates parsed expressions and walks JSON values, evaluating every expression string in them.

The walker is where template-wide rules live: `[[` escapes, expression object keys, property
`copy` loops, and, in preview mode, leaving a value unevaluated (its original text) when it
needs runtime state. Errors pick up the JSON path of the value they came from on the way out.
"""

from __future__ import annotations

from typing import Any

from provider.templates import copyloops
from provider.templates.context import EvalContext, Lambda
from provider.templates.errors import Deferred, ExpressionError, TemplateError
from provider.templates.functions import FUNCTIONS, LIST_ACTION
from provider.templates.parser import Call, Index, Literal, Member, Node, is_expression, parse_expression
from provider.templates.values import is_int, type_name


def evaluate(node: Node, ctx: EvalContext) -> Any:
    cls = node.__class__
    if cls is Literal:
        return node.value  # type: ignore[attr-defined]
    if cls is Call:
        return _call(node, ctx)  # type: ignore[arg-type]
    if cls is Member:
        return get_property(evaluate(node.target, ctx), node.name, node.pos)  # type: ignore[attr-defined]
    if cls is Index:
        target = evaluate(node.target, ctx)  # type: ignore[attr-defined]
        return get_index(target, evaluate(node.index, ctx), node.pos)  # type: ignore[attr-defined]
    raise ExpressionError(f"unknown expression node {node!r}")


def _call(node: Call, ctx: EvalContext) -> Any:
    if node.namespace is not None and node.namespace.lower() != "sys":
        args = [evaluate(a, ctx) for a in node.args]
        try:
            return ctx.env.call_user_function(node.namespace, node.name, args, ctx)
        except ExpressionError as exc:
            if exc.position is None:
                exc.position = node.pos
            raise
    spec = FUNCTIONS.get(node.key)
    if spec is None:
        if node.key.startswith("list") and len(node.key) > 4:
            spec = LIST_ACTION
        else:
            raise ExpressionError(f"The template function '{node.name}' is not valid. Please see "
                                  "https://aka.ms/arm-functions for usage details.", node.pos)
    count = len(node.args)
    if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
        raise ExpressionError(_arity_message(node.name, spec.min_args, spec.max_args, count), node.pos)
    try:
        if spec.lazy:
            return spec.impl(ctx, node.args, evaluate)
        if spec.takes_lambdas:
            args = [_lambda_or_value(a, ctx) for a in node.args]
        else:
            args = [a.value if a.__class__ is Literal else evaluate(a, ctx) for a in node.args]  # type: ignore
        if spec is LIST_ACTION:
            return spec.impl(ctx, args, node.name)
        return spec.impl(ctx, args)
    except ExpressionError as exc:
        if exc.position is None:
            exc.position = node.pos
        raise


def _lambda_or_value(node: Node, ctx: EvalContext) -> Any:
    if node.__class__ is Call and node.key == "lambda" and node.namespace is None:  # type: ignore[attr-defined]
        args = node.args  # type: ignore[attr-defined]
        if len(args) < 2:
            raise ExpressionError("The template function 'lambda' needs at least one parameter name and a body.",
                                  node.pos)
        names = []
        for arg in args[:-1]:
            name = evaluate(arg, ctx)
            if not isinstance(name, str):
                raise ExpressionError("Lambda parameter names must be strings.", arg.pos)
            names.append(name)
        return Lambda(names, args[-1], ctx, evaluate)
    return evaluate(node, ctx)


def _arity_message(name: str, low: int, high: int | None, got: int) -> str:
    if high == low:
        expected = f"exactly {low}"
    elif high is None or got < low:
        expected = f"at least {low}"
    else:
        expected = f"at most {high}"
    return f"The template language function '{name}' must have {expected} parameter(s), but {got} were given."


def get_property(target: Any, name: str, pos: int | None = None) -> Any:
    if isinstance(target, dict):
        if name in target:
            return target[name]
        lowered = name.lower()
        for key, value in target.items():
            if key.lower() == lowered:
                return value
        available = ", ".join(target.keys())
        raise ExpressionError(f"The language expression property '{name}' doesn't exist, "
                              f"available properties are '{available}'.", pos)
    if target is None:
        raise ExpressionError(f"The language expression property '{name}' can't be evaluated because the value is "
                              "null.", pos)
    raise ExpressionError(f"The language expression property '{name}' can't be evaluated: the value is of type "
                          f"'{type_name(target)}', not 'Object'.", pos)


def get_index(target: Any, index: Any, pos: int | None = None) -> Any:
    if isinstance(target, list):
        if not is_int(index):
            raise ExpressionError(f"An array can only be indexed by an integer, not by a value of type "
                                  f"'{type_name(index)}'.", pos)
        if index < 0 or index >= len(target):
            raise ExpressionError(f"The language expression index '{index}' is out of bounds: the array has "
                                  f"{len(target)} element(s).", pos)
        return target[index]
    if isinstance(target, dict):
        if not isinstance(index, str):
            raise ExpressionError(f"An object can only be indexed by a string, not by a value of type "
                                  f"'{type_name(index)}'.", pos)
        return get_property(target, index, pos)
    raise ExpressionError(f"A value of type '{type_name(target)}' can't be indexed.", pos)


def evaluate_string(text: str, ctx: EvalContext) -> Any:
    """Evaluate one JSON string value that is an expression (`[...]`)."""
    node = parse_expression(text)
    try:
        return evaluate(node, ctx)
    except ExpressionError as exc:
        if getattr(exc, "expression", None) is None:
            wrapped = ExpressionError(f"Unable to evaluate the template language expression '{text}': {exc.message}",
                                      exc.position, exc.code)
            wrapped.expression = text  # type: ignore[attr-defined]
            raise wrapped from None
        raise


def evaluate_literal(value: str, ctx: EvalContext) -> Any:
    """A JSON string as ARM reads it: an expression, an `[[` escape, or plain text."""
    if value and value[0] == "[":
        if is_expression(value):
            return evaluate_string(value, ctx)
        if value.startswith("[[") and value.endswith("]"):
            return value[1:]
    return value


def walk(value: Any, ctx: EvalContext, *, copy_keys: bool = True) -> Any:
    """Evaluate every expression inside a JSON value (strings, object keys, property copy loops)."""
    if isinstance(value, str):
        if not value or value[0] != "[":
            return value
        if ctx.preview:
            try:
                return evaluate_literal(value, ctx)
            except Deferred:
                if ctx.stats is not None:
                    ctx.stats.deferred_texts.append(value)
                return value
        return evaluate_literal(value, ctx)
    if isinstance(value, list):
        out_list = []
        for i, item in enumerate(value):
            try:
                out_list.append(walk(item, ctx, copy_keys=copy_keys))
            except TemplateError as exc:
                exc.path.append(f"[{i}]")
                raise
        return out_list
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            try:
                if copy_keys and key.lower() == "copy" and copyloops.is_property_copy(item):
                    out.update(copyloops.expand_property_copies(item, ctx, walk))
                    continue
                new_key = walk(key, ctx) if key[:1] == "[" else key
                if not isinstance(new_key, str):
                    raise ExpressionError(f"An object key must evaluate to a string, not to a value of type "
                                              f"'{type_name(new_key)}'.")
                if new_key in out:
                    raise ExpressionError(f"The object key '{new_key}' is defined more than once.")
                out[new_key] = walk(item, ctx, copy_keys=copy_keys)
            except TemplateError as exc:
                exc.path.append(f".{key}")
                raise
        return out
    return value


__all__ = ["evaluate", "evaluate_string", "evaluate_literal", "walk", "get_property", "get_index"]
