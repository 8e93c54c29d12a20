"""Signing keys behind one interface (`KeyStore`), with a software and a PKCS#11 backend.

The interface (`base.py`) knows no backend; each backend registers itself when imported.
`provider.keystore.backends` imports the two the emulator ships and offers `open_keystore`.
"""

from provider.keystore.base import CURVE_HASH, CURVES, KeyInfo, KeyStore, KeyStoreError, register_backend

__all__ = ["CURVES", "CURVE_HASH", "KeyInfo", "KeyStore", "KeyStoreError", "register_backend"]
