"""PKCS#11 key store: keys generated and used on a token (SoftHSM2 in tests, any HSM in principle).

Private keys are created with TOKEN=True, SENSITIVE=True, EXTRACTABLE=False, so the token never
releases them; signing uses CKM_ECDSA over a digest computed here (not every token implements the
CKM_ECDSA_SHA* combined mechanisms) and converts the raw r||s result to DER.

A small SQLite table records what this emulator created (label, curve, creation time, public key),
so `list_keys` and `public_key` need no token round trip and several emulator data dirs can share
one token without seeing each other's keys. One logged-in session per token serves all threads (and
all key store instances of the process) behind a lock.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pkcs11
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_ecdsa_signature, encode_named_curve_parameters

from provider.keystore.base import (
    KeyInfo,
    KeyStore,
    KeyStoreError,
    check_curve,
    digest,
    load_public_key,
    register_backend,
)
from provider.store import Database, Store, register_schema

_NAMED_CURVES = {"P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}

#: Attributes reported by `key_attributes` (security flags only, never values).
SECURITY_ATTRIBUTES = {
    "token": Attribute.TOKEN,
    "private": Attribute.PRIVATE,
    "sensitive": Attribute.SENSITIVE,
    "extractable": Attribute.EXTRACTABLE,
    "always_sensitive": Attribute.ALWAYS_SENSITIVE,
    "never_extractable": Attribute.NEVER_EXTRACTABLE,
    "sign": Attribute.SIGN,
}


@register_schema
def _schema(db: Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS keystore_pkcs11_keys (
            key_id TEXT PRIMARY KEY,       -- hex of CKA_ID
            token TEXT NOT NULL,           -- token label the key lives on
            label TEXT NOT NULL,
            curve TEXT NOT NULL,
            created_at TEXT NOT NULL,
            public_der BLOB NOT NULL       -- SubjectPublicKeyInfo
        )"""
    )


@dataclass
class _SharedSession:
    """One logged-in session per (module, token) in the process.

    PKCS#11 login state belongs to the application, not to a session: a second C_Login fails with
    CKR_USER_ALREADY_LOGGED_IN, and closing the last session logs out. Key stores on the same token
    (e.g. after an emulator reset) therefore share one session, one lock and a reference count.
    """

    key: tuple[str, str]
    session: Any
    lock: threading.RLock
    pin_digest: bytes
    users: int = 1


_sessions: dict[tuple[str, str], _SharedSession] = {}
_sessions_lock = threading.Lock()


def _acquire_session(module_path: str, token_label: str, pin: str) -> _SharedSession:
    key = (os.path.realpath(module_path), token_label)
    digest = hashlib.sha256(pin.encode()).digest()
    with _sessions_lock:
        shared = _sessions.get(key)
        if shared is not None:
            if not hmac.compare_digest(shared.pin_digest, digest):
                raise KeyStoreError(f"wrong PIN for PKCS#11 token {token_label!r}")
            shared.users += 1
            return shared
        try:
            library = pkcs11.lib(module_path)
            token = library.get_token(token_label=token_label)
            session = token.open(rw=True, user_pin=pin)
        except pkcs11.PKCS11Error as exc:
            # the module's exception text never contains the PIN; keep only the error class
            raise KeyStoreError(
                f"cannot open PKCS#11 token {token_label!r} with {module_path}: {type(exc).__name__}"
            ) from None
        shared = _sessions[key] = _SharedSession(key, session, threading.RLock(), digest)
        return shared


def _release_session(shared: _SharedSession) -> None:
    with _sessions_lock:
        shared.users -= 1
        if shared.users == 0:
            _sessions.pop(shared.key, None)
            with shared.lock:
                shared.session.close()


class Pkcs11KeyStore(KeyStore):
    """EC keys that live on a PKCS#11 token and never leave it."""

    name = "pkcs11"

    def __init__(self, module_path: str, token_label: str, pin: str, *, store: Store) -> None:
        self._store = store
        with store.transaction() as db:  # the store may have opened before this module was imported
            _schema(db)
        self.token_label = token_label
        self._shared: _SharedSession | None = _acquire_session(module_path, token_label, pin)
        self._session = self._shared.session
        self._lock = self._shared.lock
        self._handles: dict[str, tuple[Any, int]] = {}  # key id -> (private key object, order length in bytes)
        self._public: dict[str, ec.EllipticCurvePublicKey] = {}

    # -- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _id_bytes(key_id: str) -> bytes:
        try:
            return bytes.fromhex(key_id)
        except ValueError:
            raise KeyStoreError(f"unknown key {key_id!r}") from None

    def _row(self, key_id: str) -> dict | None:
        return self._store.query_one(
            "SELECT key_id, curve, public_der FROM keystore_pkcs11_keys WHERE key_id = ? AND token = ?",
            (key_id, self.token_label),
        )

    def _private_handle(self, key_id: str) -> tuple[Any, int]:
        cached = self._handles.get(key_id)
        if cached is not None:
            return cached
        row = self._row(key_id)
        if row is None:
            raise KeyStoreError(f"unknown key {key_id!r}")
        with self._lock:
            try:
                handle = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=self._id_bytes(key_id))
            except pkcs11.NoSuchKey:
                raise KeyStoreError(f"key {key_id!r} is recorded but missing from token {self.token_label!r}") from None
            cached = self._handles[key_id] = (handle, (check_curve(row["curve"])().key_size + 7) // 8)
        return cached

    # -- KeyStore --------------------------------------------------------------------------------
    def create_key(self, label: str, curve: str = "P-384") -> str:
        check_curve(curve)
        id_bytes = secrets.token_bytes(16)
        key_id = id_bytes.hex()
        with self._lock:
            try:
                params = self._session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(_NAMED_CURVES[curve])}, local=True
                )
                public, _private = params.generate_keypair(
                    id=id_bytes,
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template={Attribute.TOKEN: True},
                    private_template={
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                    },
                )
                public_der = encode_ec_public_key(public)
            except pkcs11.PKCS11Error as exc:
                raise KeyStoreError(f"token refused to generate a {curve} key: {type(exc).__name__}") from None
        try:
            with self._store.transaction() as db:
                db.execute(
                    "INSERT INTO keystore_pkcs11_keys(key_id, token, label, curve, created_at, public_der) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (key_id, self.token_label, label, curve, datetime.now(UTC).isoformat(), public_der),
                )
        except BaseException:
            self._destroy_objects(id_bytes)
            raise
        return key_id

    def public_key(self, key_id: str) -> ec.EllipticCurvePublicKey:
        public = self._public.get(key_id)
        if public is not None:
            return public
        row = self._row(key_id)
        loaded = load_public_key(key_id, row["public_der"] if row else None)
        with self._lock:
            self._public[key_id] = loaded
        return loaded

    def sign(self, key_id: str, data: bytes, hash_name: str = "sha384") -> bytes:
        hashed = digest(data, hash_name)
        handle, order_bytes = self._private_handle(key_id)
        # X9.62: use the leftmost bits of the digest when it is longer than the group order
        hashed = hashed[:order_bytes]
        with self._lock:
            try:
                raw = handle.sign(hashed, mechanism=Mechanism.ECDSA)
            except pkcs11.PKCS11Error as exc:
                raise KeyStoreError(f"token failed to sign with key {key_id!r}: {type(exc).__name__}") from None
        return encode_ecdsa_signature(raw)

    def _destroy_objects(self, id_bytes: bytes) -> int:
        count = 0
        with self._lock:
            for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                for obj in list(self._session.get_objects({Attribute.CLASS: object_class, Attribute.ID: id_bytes})):
                    obj.destroy()
                    count += 1
        return count

    def destroy_key(self, key_id: str) -> None:
        id_bytes = self._id_bytes(key_id)
        with self._lock:
            self._handles.pop(key_id, None)
            self._public.pop(key_id, None)
        with self._store.transaction() as db:
            deleted = db.execute(
                "DELETE FROM keystore_pkcs11_keys WHERE key_id = ? AND token = ?", (key_id, self.token_label)
            ).rowcount
            if not deleted:
                raise KeyStoreError(f"unknown key {key_id!r}")
            # the token has no rollback: remove the objects only once the row's deletion is committed
            self._store.after_commit(lambda: self._destroy_objects(id_bytes))

    def list_keys(self) -> list[KeyInfo]:
        rows = self._store.query(
            "SELECT key_id, label, curve, created_at FROM keystore_pkcs11_keys WHERE token = ? "
            "ORDER BY created_at, rowid",
            (self.token_label,),
        )
        return [
            KeyInfo(row["key_id"], row["label"], row["curve"], datetime.fromisoformat(row["created_at"]))
            for row in rows
        ]

    def key_attributes(self, key_id: str) -> dict[str, bool]:
        """The private key's security flags as the token reports them (for audits and tests)."""
        handle, _ = self._private_handle(key_id)
        with self._lock:
            return {name: bool(handle[attribute]) for name, attribute in SECURITY_ATTRIBUTES.items()}

    def close(self) -> None:
        with self._lock:
            self._handles.clear()
        if self._shared is not None:
            shared, self._shared = self._shared, None
            _release_session(shared)


def _open(*, store: Store, pkcs11_module: str | None = None, pkcs11_token: str | None = None,
          pkcs11_pin: str | None = None, **_other_backends_options: Any) -> Pkcs11KeyStore:
    settings = {"pkcs11_module": pkcs11_module, "pkcs11_token": pkcs11_token, "pkcs11_pin": pkcs11_pin}
    missing = [name for name, value in settings.items() if not value]
    if missing:
        raise KeyStoreError(f"the pkcs11 key store needs {', '.join(missing)}")
    return Pkcs11KeyStore(str(pkcs11_module), str(pkcs11_token), str(pkcs11_pin), store=store)


register_backend("pkcs11", _open)
