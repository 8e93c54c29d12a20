"""The key store interface: one API for signing keys, with interchangeable backends behind it.

Modelled on smallstep's KMS abstraction: the PKI only ever sees key ids, public keys and
signatures, so a software store and a hardware token (PKCS#11) are interchangeable. Nothing in
this interface returns private key material.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

if TYPE_CHECKING:
    from provider.store import Store

#: Supported curve names -> cryptography curve classes.
CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}

#: Supported hash names -> cryptography hash classes (the names `sign` accepts).
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

#: The hash conventionally paired with each curve (RFC 5480 §4).
CURVE_HASH: dict[str, str] = {"P-256": "sha256", "P-384": "sha384", "P-521": "sha512"}


class KeyStoreError(Exception):
    """Unknown key, unsupported curve or hash, backend failure. Never carries key material."""


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    label: str
    curve: str
    created_at: datetime


def check_curve(curve: str) -> type[ec.EllipticCurve]:
    try:
        return CURVES[curve]
    except KeyError:
        raise KeyStoreError(f"unsupported curve {curve!r}; expected one of {', '.join(CURVES)}") from None


def check_hash(hash_name: str) -> type[hashes.HashAlgorithm]:
    try:
        return HASHES[hash_name]
    except KeyError:
        raise KeyStoreError(f"unsupported hash {hash_name!r}; expected one of {', '.join(HASHES)}") from None


def digest(data: bytes, hash_name: str) -> bytes:
    """Host-side message digest (the PKCS#11 backend signs digests, not messages)."""
    check_hash(hash_name)
    return hashlib.new(hash_name, data).digest()


def curve_name(public_key: ec.EllipticCurvePublicKey) -> str:
    for name, cls in CURVES.items():
        if isinstance(public_key.curve, cls):
            return name
    raise KeyStoreError(f"unsupported curve {public_key.curve.name}")


class KeyStore(ABC):
    """Signing keys addressed by opaque ids. Implementations must be thread-safe."""

    name: str

    @abstractmethod
    def create_key(self, label: str, curve: str = "P-384") -> str:
        """Generate a new key pair and return its id."""

    @abstractmethod
    def public_key(self, key_id: str) -> ec.EllipticCurvePublicKey:
        """The public half of a key; KeyStoreError if unknown."""

    @abstractmethod
    def sign(self, key_id: str, data: bytes, hash_name: str = "sha384") -> bytes:
        """DER ECDSA signature (X9.62 Ecdsa-Sig-Value) over `data` hashed with `hash_name`."""

    @abstractmethod
    def destroy_key(self, key_id: str) -> None:
        """Delete a key for good; KeyStoreError if unknown."""

    @abstractmethod
    def list_keys(self) -> list[KeyInfo]:
        """Every key this store manages, oldest first."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release backend resources (sessions, handles)."""


def load_public_key(key_id: str, public_der: bytes | None) -> ec.EllipticCurvePublicKey:
    """The EC public key a backend recorded for `key_id` (SubjectPublicKeyInfo DER)."""
    from cryptography.hazmat.primitives import serialization

    if public_der is None:
        raise KeyStoreError(f"unknown key {key_id!r}")
    loaded = serialization.load_der_public_key(public_der)
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise KeyStoreError(f"key {key_id!r} is not an EC key")
    return loaded


KeyStoreFactory = Callable[..., "KeyStore"]
_BACKENDS: dict[str, KeyStoreFactory] = {}


def register_backend(name: str, factory: KeyStoreFactory) -> None:
    """Called by each backend module when it is imported (smallstep's `apiv1.Register`): the
    interface never imports its backends."""
    _BACKENDS[name] = factory


def open_keystore(*, backend: str, store: Store, **options: Any) -> KeyStore:
    """Build the configured backend ("soft": wrapped keys in SQLite; "pkcs11": a token). `options`
    are the backend's own settings (`data_dir`, `master_key_file`, `pkcs11_module`, ...)."""
    factory = _BACKENDS.get(backend)
    if factory is None:
        known = "', '".join(sorted(_BACKENDS))
        raise KeyStoreError(f"unknown key store backend {backend!r}; expected '{known}'")
    return factory(store=store, **options)
