"""`adr-emulator az-env`: point the real Azure CLI at the emulator in one line.

Prints shell lines: an isolated `AZURE_CONFIG_DIR`, the settings az needs offline (no telemetry,
no MSAL instance discovery), trust for the development CA (`REQUESTS_CA_BUNDLE`), then
`az cloud register` against the emulator's HTTPS endpoint and a service-principal login whose
token the emulator's own token endpoint issues. Use it as `eval "$(adr-emulator az-env)"`.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from provider.config import DEFAULT_HTTPS_PORT, DEFAULT_SUBSCRIPTION, DEFAULT_TENANT

CLOUD_NAME = "AdrEmulator"


def az_env_lines(url: str, ca_file: Path, config_dir: Path, tenant: str = DEFAULT_TENANT,
                 subscription: str = DEFAULT_SUBSCRIPTION) -> list[str]:
    base = url.rstrip("/")
    q = shlex.quote
    return [
        f"export AZURE_CONFIG_DIR={q(str(config_dir))}",
        "export AZURE_CORE_COLLECT_TELEMETRY=false",
        "export AZURE_CORE_INSTANCE_DISCOVERY=false",
        "export AZURE_CORE_ONLY_SHOW_ERRORS=true",
        f"export REQUESTS_CA_BUNDLE={q(str(ca_file))}",
        f"az cloud register -n {CLOUD_NAME} --endpoint-resource-manager {q(base)} >/dev/null 2>&1 || "
        f"az cloud update -n {CLOUD_NAME} --endpoint-resource-manager {q(base)} >/dev/null",
        f"az cloud set -n {CLOUD_NAME} >/dev/null",
        f"az login --service-principal -u adr-emulator -p adr-emulator --tenant {tenant} >/dev/null",
        f"az account set --subscription {subscription}",
    ]


def _run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    ca_file = (data_dir / "tls" / "ca.pem").resolve()
    config_dir = Path(args.az_config_dir or (data_dir / "azure-cli")).resolve()
    for line in az_env_lines(args.url, ca_file, config_dir, args.tenant_id, args.subscription_id):
        print(line)
    return 0


def register_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("az-env", help="print the shell lines that point the Azure CLI at the emulator")
    parser.add_argument("--url", default=f"https://127.0.0.1:{DEFAULT_HTTPS_PORT}",
                        help="the emulator's HTTPS ARM endpoint")
    parser.add_argument("--data-dir", default=".adr-emulator", help="the emulator's data directory (for the CA)")
    parser.add_argument("--az-config-dir", default=None, help="AZURE_CONFIG_DIR to use (default: <data-dir>/azure-cli)")
    parser.add_argument("--tenant-id", default=DEFAULT_TENANT)
    parser.add_argument("--subscription-id", default=DEFAULT_SUBSCRIPTION)
    parser.set_defaults(func=_run)
