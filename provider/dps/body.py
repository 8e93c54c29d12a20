"""Reading a DPS service-API body: typed accessors whose failures are DPS errors naming the field."""

from __future__ import annotations

from typing import Any

from provider.dps import errors
from provider.dps.errors import DpsError


def bad(message: str, code: int = errors.INVALID_ENROLLMENT) -> DpsError:
    return DpsError(code, message)


def read_object(value: Any, where: str, required: bool = False) -> dict[str, Any] | None:
    if value is None:
        if required:
            raise bad(f"{where} is required.")
        return None
    if not isinstance(value, dict):
        raise bad(f"{where} must be a JSON object.")
    return value


def read_string(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad(f"{where} must be a string.")
    return value


def read_bool(value: Any, where: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad(f"{where} must be true or false.")
    return value
