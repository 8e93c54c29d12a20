"""What a hook gets for one request: the emulator, the resource id, the api-version, the caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from provider.arm.ids import ResourceId
from provider.common import utc_z

if TYPE_CHECKING:
    from provider.arm.repository import Repository
    from provider.config import Config
    from provider.state import Emulator


@dataclass
class RequestContext:
    emu: Emulator
    rid: ResourceId | None
    api_version: str
    base_url: str  # scheme://host[:port] the caller used, for Location / Azure-AsyncOperation
    caller: str = "user@adr-emulator.local"
    caller_type: str = "User"
    now: datetime | None = None
    via_deployment: bool = False
    list_filter: str | None = None  # a collection listing's `$filter`
    list_scope: str | None = None  # the scope a collection is listed at
    action_path: str = ""  # a POST action's path after the resource (`IotHubKeys/{keyName}/listkeys`)

    def __post_init__(self) -> None:
        if self.now is None:
            self.now = self.emu.now()

    @property
    def repo(self) -> Repository:
        return self.emu.repo

    @property
    def config(self) -> Config:
        return self.emu.config

    def timestamp(self) -> str:
        assert self.now is not None
        return utc_z(self.now)

    def action_segment(self, marker: str) -> str | None:
        """The segment after `marker` in this request's action path (`IotHubKeys/{keyName}/listkeys`)."""
        parts = [p for p in self.action_path.split("/") if p]
        lowered = [p.lower() for p in parts]
        if marker.lower() in lowered:
            at = len(lowered) - 1 - lowered[::-1].index(marker.lower())
            if at + 1 < len(parts):
                return parts[at + 1]
        return None
