"""Which error format answers a Flask-level error (404, 405, 413) on a data-plane path.

Each data plane adds its format when the app is built (Flask's `init_app` way: kept on the app,
not in a module global, so two apps never share them); `provider.app` asks here first and falls
back to ARM's envelope.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response

PathMatcher = Callable[[str], bool]
ErrorFormatter = Callable[[int, str, str], Response]
_KEY = "adr_emulator.data_plane_error_formats"


def add_error_format(app: Flask, matches: PathMatcher, formatter: ErrorFormatter) -> None:
    app.extensions.setdefault(_KEY, []).append((matches, formatter))


def error_format_for(app: Flask, path: str) -> ErrorFormatter | None:
    for matches, formatter in app.extensions.get(_KEY, []):
        if matches(path):
            return formatter
    return None
