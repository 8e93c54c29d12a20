"""ARM's tolerance of real-world request paths, applied before routing.

ARM collapses empty path segments (`//metadata/endpoints`, as az sends when a cloud's endpoint ends
in `/`) and matches every fixed segment case-insensitively (`/SUBSCRIPTIONS/...`). Flask's router
is case-sensitive, so the root segments it routes on are lower-cased here; the rest of an ARM path
is parsed case-insensitively by `arm/routes.py`, which keeps the caller's casing of names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

# The first path segments Flask routes on whose casing ARM ignores.
CASE_INSENSITIVE_ROOTS = frozenset({"subscriptions", "providers", "tenants", "metadata"})
_REPEATED_SLASHES = re.compile(r"/{2,}")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def normalize_path(path: str) -> str:
    """`path` with empty segments collapsed and a case-insensitive root segment lower-cased."""
    if "//" in path:
        path = _REPEATED_SLASHES.sub("/", path)
    end = path.find("/", 1)
    root = path[1:] if end < 0 else path[1:end]
    lowered = root.lower()
    if lowered != root and lowered in CASE_INSENSITIVE_ROOTS:
        path = "/" + lowered + ("" if end < 0 else path[end:])
    return path


def tolerant_paths(wsgi_app: WsgiApp) -> WsgiApp:
    """WSGI middleware: route the normalised path (the server layer already collapsed a leading `//`)."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        normalized = normalize_path(path)
        if normalized != path:
            environ["PATH_INFO"] = normalized
        return wsgi_app(environ, start_response)

    return middleware
