"""Signing keys behind one interface (`KeyStore`), with a software and a PKCS#11 backend.

The interface (`base.py`) knows no backend; each backend registers itself when imported, and this
package imports both, as a program's main links in the drivers it ships.
"""

from provider.keystore import pkcs11, soft  # noqa: F401  (each registers itself)
from provider.keystore.base import (
    CURVE_HASH,
    CURVES,
    KeyInfo,
    KeyStore,
    KeyStoreError,
    open_keystore,
    register_backend,
)

__all__ = ["CURVES", "CURVE_HASH", "KeyInfo", "KeyStore", "KeyStoreError", "open_keystore", "register_backend"]
