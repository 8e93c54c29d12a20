"""String functions (research §5.4), including the encoding helpers and the hash-based ids."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import quote, unquote

from provider.templates.context import EvalContext
from provider.templates.errors import ExpressionError
from provider.templates.functions._registry import arg_int, arg_str, builtin, fail_arg, fn_error
from provider.templates.functions.netformat import composite_format
from provider.templates.uniquestring import template_guid, unique_string
from provider.templates.values import is_int, to_json_text, to_string, type_name


@builtin("concat", 0)
def _concat(ctx: EvalContext, args: list) -> Any:
    if args and any(isinstance(a, list) for a in args):
        result: list = []
        for i, arg in enumerate(args):
            if arg is None:
                continue
            if not isinstance(arg, list):
                raise fail_arg("concat", i, "Array", arg)
            result.extend(arg)
        return result
    parts = []
    for arg in args:
        parts.append(to_json_text(arg) if isinstance(arg, dict) else to_string(arg))
    return "".join(parts)


@builtin("format", 1)
def _format(ctx: EvalContext, args: list) -> str:
    return composite_format(arg_str("format", args, 0), args[1:])


@builtin("string", 1, 1)
def _string(ctx: EvalContext, args: list) -> str:
    return to_string(args[0])


@builtin("json", 1, 1)
def _json(ctx: EvalContext, args: list) -> Any:
    if args[0] is None:
        return {}
    text = arg_str("json", args, 0)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fn_error("json", f"the value '{text}' is not valid JSON ({exc.msg} at position {exc.pos}).") from None


@builtin("toLower", 1, 1)
def _to_lower(ctx: EvalContext, args: list) -> str:
    return arg_str("toLower", args, 0).lower()


@builtin("toUpper", 1, 1)
def _to_upper(ctx: EvalContext, args: list) -> str:
    return arg_str("toUpper", args, 0).upper()


@builtin("trim", 1, 1)
def _trim(ctx: EvalContext, args: list) -> str:
    return arg_str("trim", args, 0).strip()


@builtin("substring", 2, 3)
def _substring(ctx: EvalContext, args: list) -> str:
    text = arg_str("substring", args, 0)
    start = arg_int("substring", args, 1)
    length = arg_int("substring", args, 2) if len(args) > 2 else len(text) - start
    if start < 0 or start > len(text):
        raise fn_error("substring", f"the start index {start} is outside the string of length {len(text)}.")
    if length < 0 or start + length > len(text):
        raise fn_error("substring", f"the length {length} from index {start} goes past the end of the string "
                                    f"(length {len(text)}).")
    return text[start : start + length]


@builtin("replace", 3, 3)
def _replace(ctx: EvalContext, args: list) -> str:
    text = arg_str("replace", args, 0)
    old = arg_str("replace", args, 1)
    new = arg_str("replace", args, 2)
    if not old:
        raise fn_error("replace", "the string to replace must not be empty.")
    return text.replace(old, new)


@builtin("split", 2, 2)
def _split(ctx: EvalContext, args: list) -> list[str]:
    text = arg_str("split", args, 0)
    delims = args[1]
    if isinstance(delims, str):
        delims = [delims]
    if not isinstance(delims, list) or not all(isinstance(d, str) for d in delims):
        raise fail_arg("split", 1, "String", delims)
    delims = [d for d in delims if d]
    if not delims:
        return [text]
    pattern = "|".join(re.escape(d) for d in sorted(delims, key=len, reverse=True))
    return re.split(pattern, text)


@builtin("join", 2, 2)
def _join(ctx: EvalContext, args: list) -> str:
    items = args[0]
    if not isinstance(items, list):
        raise fail_arg("join", 0, "Array", items)
    delim = arg_str("join", args, 1)
    return delim.join(to_string(i) for i in items)


@builtin("startsWith", 2, 2)
def _starts_with(ctx: EvalContext, args: list) -> bool:
    return arg_str("startsWith", args, 0).lower().startswith(arg_str("startsWith", args, 1).lower())


@builtin("endsWith", 2, 2)
def _ends_with(ctx: EvalContext, args: list) -> bool:
    return arg_str("endsWith", args, 0).lower().endswith(arg_str("endsWith", args, 1).lower())


@builtin("padLeft", 2, 3)
def _pad_left(ctx: EvalContext, args: list) -> str:
    value = args[0]
    if is_int(value):
        value = str(value)
    if not isinstance(value, str):
        raise fail_arg("padLeft", 0, "String", value)
    total = arg_int("padLeft", args, 1)
    pad = arg_str("padLeft", args, 2) if len(args) > 2 else " "
    if len(pad) != 1:
        raise fn_error("padLeft", "the padding character must be a single character.")
    if total > 16384:
        raise fn_error("padLeft", "the total length can't exceed 16384.")
    return value.rjust(total, pad)


@builtin("base64", 1, 1)
def _base64(ctx: EvalContext, args: list) -> str:
    return base64.b64encode(arg_str("base64", args, 0).encode("utf-8")).decode("ascii")


def _decode_b64(fn: str, text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise fn_error(fn, f"the value '{text}' is not valid base64 text.") from None


@builtin("base64ToString", 1, 1)
def _base64_to_string(ctx: EvalContext, args: list) -> str:
    return _decode_b64("base64ToString", arg_str("base64ToString", args, 0))


@builtin("base64ToJson", 1, 1)
def _base64_to_json(ctx: EvalContext, args: list) -> Any:
    text = _decode_b64("base64ToJson", arg_str("base64ToJson", args, 0))
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise fn_error("base64ToJson", "the decoded value is not valid JSON.") from None


@builtin("dataUri", 1, 1)
def _data_uri(ctx: EvalContext, args: list) -> str:
    value = args[0]
    text = value if isinstance(value, str) else to_string(value)
    return "data:text/plain;charset=utf8;base64," + base64.b64encode(text.encode("utf-8")).decode("ascii")


@builtin("dataUriToString", 1, 1)
def _data_uri_to_string(ctx: EvalContext, args: list) -> str:
    text = arg_str("dataUriToString", args, 0)
    if not text.startswith("data:") or "," not in text:
        raise fn_error("dataUriToString", f"the value '{text}' is not a data URI.")
    header, _, data = text.partition(",")
    if header.endswith(";base64"):
        return _decode_b64("dataUriToString", data)
    return unquote(data)


@builtin("uri", 2, 2)
def _uri(ctx: EvalContext, args: list) -> str:
    base = arg_str("uri", args, 0)
    relative = arg_str("uri", args, 1)
    if base.endswith("/"):
        return base + (relative[1:] if relative.startswith("/") else relative)
    scheme_end = base.find("://")
    path_start = base.find("/", scheme_end + 3 if scheme_end >= 0 else 0)
    if path_start < 0:
        return base + relative
    return base[: base.rfind("/") + 1] + (relative[1:] if relative.startswith("/") else relative)


@builtin("uriComponent", 1, 1)
def _uri_component(ctx: EvalContext, args: list) -> str:
    return quote(arg_str("uriComponent", args, 0), safe="")


@builtin("uriComponentToString", 1, 1)
def _uri_component_to_string(ctx: EvalContext, args: list) -> str:
    return unquote(arg_str("uriComponentToString", args, 0))


def _string_args(fn: str, args: list) -> list[str]:
    for i, value in enumerate(args):
        if not isinstance(value, str):
            raise ExpressionError(f"The template language function '{fn}' expects its parameter {i + 1} to be of "
                                  f"type 'String'. The provided value is of type '{type_name(value)}'.")
    return args


@builtin("uniqueString", 1)
def _unique_string(ctx: EvalContext, args: list) -> str:
    return unique_string(*_string_args("uniqueString", args))


@builtin("guid", 1)
def _guid(ctx: EvalContext, args: list) -> str:
    return template_guid(*_string_args("guid", args))


@builtin("newGuid", 0, 0)
def _new_guid(ctx: EvalContext, args: list) -> str:
    if not ctx.allow_nondeterministic:
        raise ExpressionError("The template function 'newGuid' is not expected at this location. It can only be "
                              "used in the default value of a parameter.")
    return ctx.env.new_guid()
