"""The api-version rule of ARM: a request names a version its resource type publishes.

Generic: callers pass the versions a type (or an action) declares; the tables themselves live
with the resource types (`provider/resources/api_versions.py`). Versions compare
case-insensitively, as ARM compares them.
"""

from __future__ import annotations

from collections.abc import Iterable

from provider.arm.errors import ArmError


def is_supported(version: str, supported: Iterable[str]) -> bool:
    wanted = version.lower()
    return any(v.lower() == wanted for v in supported)


def check_api_version(version: str, supported: tuple[str, ...] | None, skip: bool, what: str = "") -> None:
    """Raise 400 `InvalidApiVersionParameter` unless `version` is one of `supported` (empty/None: any)."""
    if skip or not supported or is_supported(version, supported):
        return
    scope = f" for {what}" if what else ""
    newest_first = ",".join(sorted(supported, reverse=True))
    raise ArmError(
        400, "InvalidApiVersionParameter",
        f"The api-version '{version}' is invalid{scope}. The supported versions are '{newest_first}'. Start the "
        "emulator with --skip-api-version-check (ADR_EMULATOR_SKIP_API_VERSION_CHECK=1) to accept any version.",
    )
