"""The emulator's lifecycle events, typed (vault's `InitializeFunc`/`Clean`, not a bag of strings).

Services subscribe when the app is built (`create_app` → each data plane's `register`); the
resource types and backends fire them. Every hook runs in the firing thread; those that touch the
MQTT listener defer to `store.after_commit` so a rolled-back change never reaches a device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provider.server import Servers
    from provider.state import Emulator
    from provider.tls import ServerTls

Document = dict[str, Any]
ListenerStarter = Callable[["Emulator", "Servers", "ServerTls | None"], None]


@dataclass
class Hooks:
    on_reset: list[Callable[[], None]] = field(default_factory=list)
    # extra listeners bound at start-up, after HTTP(S) (the MQTT listener)
    listeners: list[ListenerStarter] = field(default_factory=list)
    # PEM CAs the TLS listeners accept client chains from (hub CAs, DPS enrolled CAs)
    trust_sources: list[Callable[[], list[str]]] = field(default_factory=list)
    # an ADR device was revoked or disabled (its certificates no longer authenticate)
    on_device_revoked: list[Callable[[Document], None]] = field(default_factory=list)
    # the set of CAs a hub trusts changed (sync, upload, delete)
    on_hub_trust_changed: list[Callable[[Document], None]] = field(default_factory=list)

    def reset(self) -> None:
        for hook in self.on_reset:
            hook()

    def device_revoked(self, device: Document) -> None:
        for hook in self.on_device_revoked:
            hook(device)

    def hub_trust_changed(self, hub: Document) -> None:
        for hook in self.on_hub_trust_changed:
            hook(hub)
