"""Bit-exact `uniqueString()` and `guid()`.

Resource names built from these functions must match what Azure produces, so the algorithms
follow research §6 exactly: a two-lane 32-bit MurmurHash variant rendered as 13 base-32
characters, and a name-based (version 5) UUID under ARM's fixed namespace.
"""

from __future__ import annotations

import uuid

_MASK = 0xFFFFFFFF
_C1 = 0x239B961B
_C2 = 0xAB0E9789
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_GUID_NAMESPACE = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & _MASK


def _fmix(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


def murmur64(data: bytes) -> int:
    """The 64-bit hash behind uniqueString (seed 0)."""
    h1 = h2 = 0
    length = len(data)
    full = length - length % 8
    for i in range(0, full, 8):
        k1 = int.from_bytes(data[i : i + 4], "little")
        k2 = int.from_bytes(data[i + 4 : i + 8], "little")
        k1 = (_rotl((k1 * _C1) & _MASK, 15) * _C2) & _MASK
        h1 = _rotl(h1 ^ k1, 19)
        h1 = ((h1 + h2) * 5 + 0x561CCD1B) & _MASK
        k2 = (_rotl((k2 * _C2) & _MASK, 17) * _C1) & _MASK
        h2 = _rotl(h2 ^ k2, 13)
        h2 = ((h2 + h1) * 5 + 0x0BCAA747) & _MASK
    tail = data[full:]
    if tail:
        k1 = int.from_bytes(tail[:4], "little")
        h1 ^= (_rotl((k1 * _C1) & _MASK, 15) * _C2) & _MASK
        if len(tail) > 4:
            k2 = int.from_bytes(tail[4:], "little")
            h2 ^= (_rotl((k2 * _C2) & _MASK, 17) * _C1) & _MASK
    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _MASK
    h2 = (h2 + h1) & _MASK
    h1 = _fmix(h1)
    h2 = _fmix(h2)
    h1 = (h1 + h2) & _MASK
    h2 = (h2 + h1) & _MASK
    return (h2 << 32) | h1


def unique_string(*parts: str) -> str:
    """13-character deterministic id from the '-'-joined arguments."""
    value = murmur64("-".join(parts).encode("utf-8"))
    chars = []
    for _ in range(13):
        chars.append(_ALPHABET[value >> 59])
        value = (value << 5) & 0xFFFFFFFFFFFFFFFF
    return "".join(chars)


def template_guid(*parts: str) -> str:
    """Deterministic UUIDv5 of the '-'-joined arguments under ARM's namespace."""
    return str(uuid.uuid5(_GUID_NAMESPACE, "-".join(parts)))
