"""One contract for every key store backend (soft, pkcs11 on SoftHSM2), plus backend-specific checks."""

from __future__ import annotations

import base64
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from provider.keystore import KeyInfo, KeyStore, KeyStoreError
from provider.keystore.backends import open_keystore
from provider.keystore.soft import MASTER_KEY_ENV, SoftKeyStore
from provider.store import Store
from tests.support.pki_fixtures import SKIP_REASON, TOKEN_LABEL, TOKEN_PIN, softhsm_token

HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


def open_backend(backend: str, store: Store, data_dir: Path | None) -> KeyStore:
    if backend == "soft":
        return open_keystore(backend="soft", store=store, data_dir=data_dir)
    token = softhsm_token()
    if token is None:
        pytest.skip(SKIP_REASON)
    module, label, pin = token
    return open_keystore(
        backend="pkcs11", store=store, data_dir=data_dir, pkcs11_module=module, pkcs11_token=label, pkcs11_pin=pin
    )


@pytest.fixture(params=["soft", "pkcs11"])
def keystore(request, tmp_path, monkeypatch):
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    store = Store(tmp_path / "emulator.db")
    ks = open_backend(request.param, store, tmp_path)
    yield ks
    for info in ks.list_keys():  # keep the shared SoftHSM token small
        ks.destroy_key(info.key_id)
    ks.close()
    store.close()


def verify(ks: KeyStore, key_id: str, signature: bytes, data: bytes, hash_name: str = "sha384") -> None:
    ks.public_key(key_id).verify(signature, data, ec.ECDSA(HASHES[hash_name]()))


# -- the contract ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_create_sign_verify_every_curve_and_hash(keystore, curve):
    key_id = keystore.create_key(f"key-{curve}", curve)
    public = keystore.public_key(key_id)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, CURVES[curve])
    for hash_name in HASHES:
        data = f"payload for {hash_name}".encode()
        signature = keystore.sign(key_id, data, hash_name)
        r, s = decode_dss_signature(signature)  # DER Ecdsa-Sig-Value
        assert r > 0 and s > 0
        verify(keystore, key_id, signature, data, hash_name)
        with pytest.raises(InvalidSignature):
            verify(keystore, key_id, signature, data + b"x", hash_name)


def test_default_curve_is_p384_and_signature_binds_the_key(keystore):
    first = keystore.create_key("a")
    second = keystore.create_key("b")
    assert isinstance(keystore.public_key(first).curve, ec.SECP384R1)
    signature = keystore.sign(first, b"data")
    with pytest.raises(InvalidSignature):
        verify(keystore, second, signature, b"data")


def test_list_keys_reports_label_curve_and_creation_time(keystore):
    before = keystore.list_keys()
    ids = [keystore.create_key("root:one", "P-384"), keystore.create_key("issuing:two", "P-256")]
    listed = {info.key_id: info for info in keystore.list_keys()}
    assert len(listed) == len(before) + 2
    assert listed[ids[0]].label == "root:one" and listed[ids[0]].curve == "P-384"
    assert listed[ids[1]].label == "issuing:two" and listed[ids[1]].curve == "P-256"
    for key_id in ids:
        info = listed[key_id]
        assert isinstance(info, KeyInfo)
        assert isinstance(info.created_at, datetime) and info.created_at.tzinfo is not None
    assert [info.key_id for info in keystore.list_keys()][-2:] == ids  # oldest first


def test_destroy_key_removes_it_for_good(keystore):
    key_id = keystore.create_key("doomed")
    keystore.sign(key_id, b"warm the cache")
    keystore.destroy_key(key_id)
    assert key_id not in {info.key_id for info in keystore.list_keys()}
    with pytest.raises(KeyStoreError):
        keystore.sign(key_id, b"data")
    with pytest.raises(KeyStoreError):
        keystore.public_key(key_id)
    with pytest.raises(KeyStoreError):
        keystore.destroy_key(key_id)


@pytest.mark.parametrize("operation", ["public_key", "sign", "destroy_key"])
def test_unknown_key_is_a_keystore_error(keystore, operation):
    args = {"public_key": (), "sign": (b"data",), "destroy_key": ()}[operation]
    for unknown in ("0" * 32, "not-hex-at-all"):
        with pytest.raises(KeyStoreError, match="unknown key"):
            getattr(keystore, operation)(unknown, *args)


def test_unsupported_curve_and_hash_are_rejected(keystore):
    with pytest.raises(KeyStoreError, match="unsupported curve"):
        keystore.create_key("x", "P-192")
    with pytest.raises(KeyStoreError, match="unsupported curve"):
        keystore.create_key("x", "secp256k1")
    key_id = keystore.create_key("x")
    with pytest.raises(KeyStoreError, match="unsupported hash"):
        keystore.sign(key_id, b"data", "md5")


def test_concurrent_signing_is_safe(keystore):
    key_id = keystore.create_key("busy")

    def work(index: int) -> None:
        data = f"message {index}".encode()
        verify(keystore, key_id, keystore.sign(key_id, data), data)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(40)))


def test_rolled_back_creation_leaves_no_usable_key(keystore):
    store = keystore._store
    before = {info.key_id for info in keystore.list_keys()}
    created: list[str] = []
    with pytest.raises(RuntimeError), store.transaction():
        created.append(keystore.create_key("rolled-back"))
        raise RuntimeError("abort")
    assert {info.key_id for info in keystore.list_keys()} == before
    with pytest.raises(KeyStoreError):
        keystore.sign(created[0], b"data")


def test_factory_rejects_unknown_backend_and_missing_pkcs11_settings(tmp_path):
    store = Store(None)
    with pytest.raises(KeyStoreError, match="unknown key store backend"):
        open_keystore(backend="vault", store=store, data_dir=None)
    with pytest.raises(KeyStoreError, match="pkcs11_module, pkcs11_token, pkcs11_pin"):
        open_keystore(backend="pkcs11", store=store, data_dir=None)


# -- soft backend ------------------------------------------------------------------------------------------


def _scalar(ks: SoftKeyStore, key_id: str) -> bytes:
    """Test-only peek at the cached private scalar (raw big-endian, fixed width)."""
    key = ks._private[key_id]
    return key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big")


def test_soft_database_never_holds_a_private_scalar(tmp_path, monkeypatch):
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    store = Store(tmp_path / "emulator.db")
    ks = open_keystore(backend="soft", store=store, data_dir=tmp_path)
    ids = [ks.create_key(f"k{i}", curve) for i, curve in enumerate(["P-256", "P-384", "P-521", "P-384"])]
    scalars = [_scalar(ks, key_id) for key_id in ids]
    publics = [ks.public_key(key_id) for key_id in ids]
    store.close()  # checkpoint the WAL into the main file
    blobs = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.name.startswith("emulator.db"))
    for scalar in scalars:
        assert scalar not in blobs
        assert scalar[:16] not in blobs  # not even a recognisable prefix
    from cryptography.hazmat.primitives import serialization

    spki = publics[0].public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert spki in blobs  # sanity: the scan does see the key rows


def test_soft_restart_signs_with_the_same_key(tmp_path, monkeypatch):
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    store = Store(tmp_path / "emulator.db")
    ks = open_keystore(backend="soft", store=store, data_dir=tmp_path)
    key_id = ks.create_key("persistent")
    public = ks.public_key(key_id)
    store.close()

    master = tmp_path / "master.key"
    assert master.stat().st_size == 32
    assert stat.S_IMODE(master.stat().st_mode) == 0o600

    store = Store(tmp_path / "emulator.db")
    reopened = open_keystore(backend="soft", store=store, data_dir=tmp_path)
    assert [info.key_id for info in reopened.list_keys()] == [key_id]
    signature = reopened.sign(key_id, b"after restart")
    public.verify(signature, b"after restart", ec.ECDSA(hashes.SHA384()))
    assert reopened.public_key(key_id).public_numbers() == public.public_numbers()
    store.close()


def test_soft_wrong_master_key_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv(MASTER_KEY_ENV, "11" * 32)
    store = Store(tmp_path / "emulator.db")
    key_id = open_keystore(backend="soft", store=store, data_dir=tmp_path).create_key("k")
    monkeypatch.setenv(MASTER_KEY_ENV, base64.b64encode(b"\x22" * 32).decode())
    other = open_keystore(backend="soft", store=store, data_dir=tmp_path)
    with pytest.raises(KeyStoreError, match="master key does not match") as caught:
        other.sign(key_id, b"data")
    assert "22" * 8 not in str(caught.value)
    assert not (tmp_path / "master.key").exists()  # the environment variable took precedence
    store.close()


def test_soft_master_key_sources(tmp_path, monkeypatch):
    explicit = tmp_path / "explicit.key"
    explicit.write_text(("ab" * 32) + "\n")
    monkeypatch.setenv(MASTER_KEY_ENV, "cd" * 32)
    store = Store(None)
    ks = open_keystore(backend="soft", store=store, data_dir=tmp_path / "data", master_key_file=explicit)
    key_id = ks.create_key("k")
    ks._private.clear()
    ks.sign(key_id, b"re-unwrapped with the explicit key")
    # the explicit file won over the environment: a key store with only the env key cannot unwrap
    env_only = open_keystore(backend="soft", store=store, data_dir=None)
    with pytest.raises(KeyStoreError, match="master key does not match"):
        env_only.sign(key_id, b"data")
    with pytest.raises(KeyStoreError, match="cannot read master key file"):
        open_keystore(backend="soft", store=store, data_dir=None, master_key_file=tmp_path / "missing.key")
    monkeypatch.setenv(MASTER_KEY_ENV, "too-short")
    with pytest.raises(KeyStoreError, match="32 bytes"):
        open_keystore(backend="soft", store=store, data_dir=None)
    monkeypatch.delenv(MASTER_KEY_ENV)
    in_memory = open_keystore(backend="soft", store=store, data_dir=None)  # ephemeral master key
    in_memory.sign(in_memory.create_key("m"), b"data")
    assert not (tmp_path / "data" / "master.key").exists()


def test_soft_unwraps_lazily_after_cache_loss(tmp_path, monkeypatch):
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    store = Store(tmp_path / "emulator.db")
    ks = open_keystore(backend="soft", store=store, data_dir=tmp_path)
    key_id = ks.create_key("k")
    ks._private.clear()
    ks._public.clear()
    verify(ks, key_id, ks.sign(key_id, b"data"), b"data")
    store.close()


# -- pkcs11 backend ----------------------------------------------------------------------------------------


@pytest.fixture()
def hsm(tmp_path):
    token = softhsm_token()
    if token is None:
        pytest.skip(SKIP_REASON)
    store = Store(tmp_path / "emulator.db")
    ks = open_backend("pkcs11", store, tmp_path)
    yield ks
    for info in ks.list_keys():
        ks.destroy_key(info.key_id)
    ks.close()
    store.close()


def test_pkcs11_keys_are_sensitive_and_not_extractable(hsm):
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    key_id = hsm.create_key("guarded")
    flags = hsm.key_attributes(key_id)
    assert flags == {
        "token": True,
        "private": True,
        "sensitive": True,
        "extractable": False,
        "always_sensitive": True,
        "never_extractable": True,
        "sign": True,
    }
    private = hsm._session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=bytes.fromhex(key_id))
    with pytest.raises(pkcs11.exceptions.AttributeSensitive):
        private[Attribute.VALUE]
    assert private[Attribute.LABEL] == "guarded"


def test_pkcs11_destroy_removes_token_objects(hsm):
    from pkcs11 import Attribute

    key_id = hsm.create_key("temporary")
    hsm.destroy_key(key_id)
    remaining = list(hsm._session.get_objects({Attribute.ID: bytes.fromhex(key_id)}))
    assert remaining == []


def test_pkcs11_second_keystore_on_the_same_token(hsm, tmp_path):
    key_id = hsm.create_key("durable")
    public = hsm.public_key(key_id)
    module, label, pin = softhsm_token()  # type: ignore[misc]
    from provider.keystore.pkcs11 import Pkcs11KeyStore

    second = Pkcs11KeyStore(module, label, pin, store=hsm._store)
    public.verify(second.sign(key_id, b"data"), b"data", ec.ECDSA(hashes.SHA384()))
    second.close()


def test_pkcs11_wrong_pin_never_echoes_it(tmp_path):
    token = softhsm_token()
    if token is None:
        pytest.skip(SKIP_REASON)
    module, _, _ = token
    with pytest.raises(KeyStoreError) as caught:
        open_keystore(
            backend="pkcs11",
            store=Store(None),
            data_dir=None,
            pkcs11_module=module,
            pkcs11_token=TOKEN_LABEL,
            pkcs11_pin="9999-secret",
        )
    assert "9999-secret" not in str(caught.value)
    assert TOKEN_PIN not in str(caught.value)


def test_pkcs11_threads_share_one_session(hsm):
    key_id = hsm.create_key("shared")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for index in range(5):
                data = f"{threading.get_ident()}-{index}".encode()
                verify(hsm, key_id, hsm.sign(key_id, data), data)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_master_key_file_is_created_private(tmp_path, monkeypatch):
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    old_umask = os.umask(0)
    try:
        open_keystore(backend="soft", store=Store(None), data_dir=tmp_path / "fresh")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "fresh" / "master.key").stat().st_mode) == 0o600


def test_pkcs11_missing_module_is_a_keystore_error(tmp_path):
    with pytest.raises(KeyStoreError, match="cannot open PKCS#11 token"):
        open_keystore(
            backend="pkcs11",
            store=Store(None),
            data_dir=None,
            pkcs11_module=str(tmp_path / "no-such-module.so"),
            pkcs11_token="t",
            pkcs11_pin="1234",
        )
