"""A refused PKI operation as the Device Registry resource types answer it: 400 with the PKI's code."""

from __future__ import annotations

from provider.arm.errors import ArmError
from provider.pki.errors import PkiError


def arm_error(exc: PkiError) -> ArmError:
    return ArmError(400, exc.code, exc.message, target=exc.target)
