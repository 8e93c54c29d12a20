"""Runtime settings: one dataclass, filled from CLI flags and `ADR_EMULATOR_*` variables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_TENANT = "00000000-0000-0000-0000-0000000000aa"
DEFAULT_HTTP_PORT = 7780
DEFAULT_HTTPS_PORT = 7443
DEFAULT_MQTT_PORT = 8883


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = DEFAULT_HTTP_PORT
    https_port: int = DEFAULT_HTTPS_PORT  # -1 disables HTTPS
    mqtt_port: int = DEFAULT_MQTT_PORT  # -1 disables MQTT
    mqtt_ws_port: int = -1  # MQTT over WebSockets (the device SDK uses 443); -1 disables
    data_dir: Path = field(default_factory=lambda: Path(".adr-emulator"))
    in_memory: bool = False
    location: str = "eastus"
    lro: str = "immediate"
    skip_api_version_check: bool = False
    require_auth: bool = False
    log_level: str = "INFO"
    cert: Path | None = None
    key: Path | None = None
    public_host: str = "localhost"  # the host name advertised in URLs and data-plane host names
    # hub `{name}.azure-devices.{suffix}`, DPS `{name}.azure-devices-provisioning.{suffix}`
    hostname_suffix: str = "localhost"
    subscription_id: str = DEFAULT_SUBSCRIPTION
    tenant_id: str = DEFAULT_TENANT
    keystore: str = "soft"
    master_key_file: Path | None = None
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_pin: str | None = None
    allow_csr_keys: str = "P-384"
    strict_resource_types: bool = False
    max_body_bytes: int = 4 * 1024 * 1024

    @property
    def database_path(self) -> Path | None:
        return None if self.in_memory else self.data_dir / "emulator.db"

    @property
    def allowed_csr_keys(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.allow_csr_keys.split(",") if k.strip())
