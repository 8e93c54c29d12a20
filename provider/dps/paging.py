"""Paging of service-API queries: `x-ms-max-item-count` and an opaque `x-ms-continuation`."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from provider.dps import errors
from provider.dps.errors import DpsError

DEFAULT_PAGE, MAX_PAGE = 100, 1000


def page_arguments(max_items: str | None, continuation: str | None) -> tuple[int, int]:
    """(page size, last seq seen) from the paging headers; 400 on malformed values."""
    size = DEFAULT_PAGE
    if max_items not in (None, ""):
        try:
            size = int(max_items)
        except ValueError:
            size = 0
        if size < 1:
            raise DpsError(errors.INVALID_QUERY, "x-ms-max-item-count must be a positive integer.")
        size = min(size, MAX_PAGE)
    after = 0
    if continuation:
        try:
            after = int(json.loads(base64.urlsafe_b64decode(continuation.encode("ascii")))["after"])
        except (ValueError, KeyError, TypeError, UnicodeEncodeError, binascii.Error):
            raise DpsError(errors.INVALID_QUERY, "x-ms-continuation is not a token this service issued.") from None
    return size, after


def continuation_token(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": seq}).encode()).decode("ascii")


def page_headers(item_type: str, size: int, rows: list[tuple[int, Any]], more: bool) -> dict[str, str]:
    headers = {"x-ms-item-type": item_type, "x-ms-max-item-count": str(size)}
    if more and rows:
        headers["x-ms-continuation"] = continuation_token(rows[-1][0])
    return headers
