"""The emulator's process-wide state: settings, the store, the resource registry, and the
signing core, which is opened lazily so that start-up stays fast."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from provider.adr.backend import AdrBackend
from provider.arm import handlers
from provider.arm.lro import LroMode, Operations
from provider.arm.repository import Repository
from provider.arm.resource_type import REGISTRY, Registry
from provider.config import Config
from provider.dps.backend import DpsBackend
from provider.hooks import Hooks
from provider.hub.backend import HubBackend
from provider.store import Store

if TYPE_CHECKING:
    from provider.keystore.base import KeyStore
    from provider.pki import Pki


class Emulator:
    """Everything a request handler needs, shared by all threads of the process."""

    def __init__(self, config: Config, registry: Registry = REGISTRY) -> None:
        self.config = config
        self.registry = registry
        self.store = Store(config.database_path)
        self.repo = Repository(self.store)
        self.lro_mode = LroMode.parse(config.lro)
        self.operations = Operations(self.store, self.lro_mode, self._complete_operation)
        self._lock = threading.Lock()
        self.started_at = datetime.now(UTC)
        self.clock_offset_seconds = 0.0
        self.listeners: dict[str, str] = {}  # endpoint name -> URL, filled by the server
        self.dev_ca_pem: str | None = None  # the development CA of the HTTPS listener, once it exists
        self.hooks = Hooks()
        # one backend per service (moto's pattern): resource types and data planes both call them
        self.adr = AdrBackend(self)
        self.hub = HubBackend(self)
        self.dps = DpsBackend(self)

    def now(self) -> datetime:
        """The emulator clock: real time moved by `/_emulator/clock`, for expiry tests."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_seconds)

    # ---- lazily opened signing core -------------------------------------------------------------
    @cached_property
    def keystore(self) -> KeyStore:
        from provider.keystore.backends import open_keystore  # lazy: key backends load with the first CA

        c = self.config
        with self._lock:
            return open_keystore(
                backend=c.keystore, store=self.store, data_dir=None if c.in_memory else c.data_dir,
                master_key_file=c.master_key_file, pkcs11_module=c.pkcs11_module,
                pkcs11_token=c.pkcs11_token, pkcs11_pin=c.pkcs11_pin,
            )

    @cached_property
    def pki(self) -> Pki:
        from provider.pki import Pki  # lazy: the signing core loads with the first CA

        return Pki(self.store, self.keystore, allowed_csr_keys=self.config.allowed_csr_keys, clock=self.now)

    # ---- host names advertised for data planes ----------------------------------------------------
    def hub_host_name(self, hub_name: str) -> str:
        return self.hub.host_name(hub_name)

    def dps_service_host_name(self, dps_name: str) -> str:
        return self.dps.service_host_name(dps_name)

    @property
    def dps_device_host_name(self) -> str:
        return self.dps.device_host_name

    # ---- operations --------------------------------------------------------------------------------
    def _complete_operation(self, kind: str, resource_key: str | None, row: dict[str, Any]) -> None:
        handlers.complete_operation(self, kind, resource_key, row["status"])

    def reset(self) -> None:
        """Wipe all state. Keys on a PKCS#11 token are destroyed first (the SQLite rows that name them go)."""
        keystore = self.__dict__.pop("keystore", None)
        if keystore is not None:
            for info in keystore.list_keys():
                try:
                    keystore.destroy_key(info.key_id)
                except Exception:  # a key already gone must not stop the reset
                    continue
            keystore.close()
        self.store.reset()
        self.__dict__.pop("pki", None)
        self.clock_offset_seconds = 0.0
        self.hub.reset()
        self.hooks.reset()
