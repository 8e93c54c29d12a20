"""Signing keys behind one interface (`KeyStore`), with a software and a PKCS#11 backend."""

from provider.keystore.base import CURVE_HASH, CURVES, KeyInfo, KeyStore, KeyStoreError, open_keystore

__all__ = ["CURVES", "CURVE_HASH", "KeyInfo", "KeyStore", "KeyStoreError", "open_keystore"]
