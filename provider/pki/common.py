"""Small certificate helpers shared by the CA lifecycle and leaf issuance."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from provider.pki.errors import PkiError

#: notBefore is back-dated this much so devices with a slightly slow clock accept new certificates.
CLOCK_SKEW = timedelta(minutes=1)


def random_serial() -> int:
    """A positive 159-bit serial: 158 random bits with the top bit set (fixed 20-byte encoding)."""
    return secrets.randbits(158) | (1 << 158)


def serial_hex(serial: int) -> str:
    """Upper-case hex with an even number of digits, as Azure and OpenSSL show serials."""
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


def thumbprint(der: bytes) -> str:
    """Azure's certificate thumbprint: SHA-1 of the DER, upper-case hex."""
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - an identifier, not a security control


def check_days(value: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PkiError("InvalidValidityPeriod", f"{what} must be a positive number of days", "validityDays")
