"""The one exception type of the PKI; its `code` is what ARM/DPS error bodies carry."""

from __future__ import annotations


class PkiError(Exception):
    """A refused PKI operation. `code` is PascalCase, `message` human-readable, `target` optional."""

    def __init__(self, code: str, message: str, target: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.target = target

    def __repr__(self) -> str:
        return f"PkiError({self.code!r}, {self.message!r}, target={self.target!r})"
