"""Helpers for template values (plain JSON in Python form): type names, equality, conversion.

ARM values are JSON; Python's `bool` is an `int` subclass, so every numeric check here
excludes booleans explicitly.
"""

from __future__ import annotations

import json
from typing import Any


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def type_name(value: object) -> str:
    """The ARM name of a value's type, as used in error messages."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    return type(value).__name__


def to_json_text(value: Any) -> str:
    """Compact JSON, as `string()` renders objects and arrays."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def format_float(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def to_string(value: Any) -> str:
    """The `string()` conversion: bools as True/False, containers as compact JSON, null as ''."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    return to_json_text(value)


def get_ci(obj: dict, key: str, default: Any = None) -> Any:
    """Case-insensitive dictionary lookup (exact match first), as ARM objects behave."""
    if key in obj:
        return obj[key]
    lowered = key.lower()
    for k, v in obj.items():
        if k.lower() == lowered:
            return v
    return default


def has_key_ci(obj: dict, key: str) -> bool:
    if key in obj:
        return True
    lowered = key.lower()
    return any(k.lower() == lowered for k in obj)


def deep_equals(a: Any, b: Any) -> bool:
    """Type-strict deep equality; strings compare case-sensitively, object keys case-insensitively."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if is_number(a) and is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(deep_equals(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        return all(has_key_ci(b, key) and deep_equals(value, get_ci(b, key)) for key, value in a.items())
    return a == b


def equals_ignore_case(a: Any, b: Any) -> bool:
    """Deep equality where strings compare case-insensitively (used for allowedValues)."""
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equals_ignore_case(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(has_key_ci(b, k) and equals_ignore_case(v, get_ci(b, k)) for k, v in a.items())
    return deep_equals(a, b)
