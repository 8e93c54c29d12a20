"""The key-store backends the emulator ships. Importing this module registers them (soft, pkcs11)
with the interface, as a program's main links in the drivers it uses; open stores through its
`open_keystore`. Kept apart from the package so that importing the interface (`KeyStoreError`,
at start-up) loads no backend and no PKCS#11 library."""

from provider.keystore import pkcs11, soft  # noqa: F401  (each registers itself)
from provider.keystore.base import open_keystore

__all__ = ["open_keystore"]
