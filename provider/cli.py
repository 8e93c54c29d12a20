"""`adr-emulator` command line: `serve`, `ca-cert`, and the user helpers other modules add.

Every `serve` flag can also be set with an `ADR_EMULATOR_<FLAG>` environment variable
(`--https-port` → `ADR_EMULATOR_HTTPS_PORT`); a flag on the command line wins.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provider.arm.lro import LroMode
from provider.config import Config

TRUE = ("1", "true", "yes", "on")


def _env_name(flag: str) -> str:
    return "ADR_EMULATOR_" + flag.lstrip("-").replace("-", "_").upper()


def _env_default(flag: str, default: Any, kind: Callable[[str], Any] = str) -> Any:
    value = os.environ.get(_env_name(flag))
    if value is None:
        return default
    if kind is bool:
        return value.strip().lower() in TRUE
    return kind(value)


def _add(parser: argparse.ArgumentParser, flag: str, default: Any, help_text: str,
         kind: Callable[[str], Any] = str) -> None:
    env_default = _env_default(flag, default, kind)
    help_text = f"{help_text} (env {_env_name(flag)}; default: {default})"
    if kind is bool:
        parser.add_argument(flag, action="store_true", default=env_default, help=help_text)
    else:
        parser.add_argument(flag, type=kind, default=env_default, help=help_text)


def _optional_path(value: str) -> Path | None:
    return Path(value) if value else None


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    _add(parser, "--data-dir", Path(".adr-emulator"), "where state, keys and TLS files live", Path)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    d = Config()
    _add(parser, "--host", d.host, "address to bind (keep it on loopback)")
    _add(parser, "--port", d.port, "HTTP port (0 picks a free port)", int)
    _add(parser, "--https-port", d.https_port, "HTTPS port (0 picks a free port, -1 disables HTTPS)", int)
    _add(parser, "--mqtt-port", d.mqtt_port, "MQTT over TLS port for DPS and IoT Hub (-1 disables)", int)
    _add(parser, "--mqtt-ws-port", d.mqtt_ws_port, "MQTT over WebSockets+TLS port (-1 disables)", int)
    add_data_dir(parser)
    _add(parser, "--in-memory", False, "keep nothing on disk", bool)
    _add(parser, "--location", d.location, "default region of the emulated subscription")
    _add(parser, "--lro", d.lro, "long-running operations: immediate | polls:N | seconds:S")
    _add(parser, "--skip-api-version-check", False, "accept any api-version", bool)
    _add(parser, "--require-auth", False, "require a well-formed, unexpired JWT bearer token on ARM calls", bool)
    _add(parser, "--log-level", d.log_level, "DEBUG, INFO, WARNING or ERROR")
    _add(parser, "--cert", None, "PEM server certificate (chain) to serve instead of the generated one",
         _optional_path)
    _add(parser, "--key", None, "PEM private key for --cert", _optional_path)
    _add(parser, "--public-host", d.public_host, "host name advertised in URLs")
    _add(parser, "--hostname-suffix", d.hostname_suffix, "suffix of hub and DPS data-plane host names")
    _add(parser, "--subscription-id", d.subscription_id, "the default subscription")
    _add(parser, "--tenant-id", d.tenant_id, "the tenant of the emulated subscription")
    _add(parser, "--keystore", d.keystore, "key store backend: soft | pkcs11")
    _add(parser, "--master-key-file", None, "32-byte master key that wraps soft key-store keys", _optional_path)
    _add(parser, "--pkcs11-module", None, "path of the PKCS#11 module (e.g. libsofthsm2.so)")
    _add(parser, "--pkcs11-token", None, "PKCS#11 token label")
    _add(parser, "--pkcs11-pin", None, "PKCS#11 user PIN")
    _add(parser, "--allow-csr-keys", d.allow_csr_keys,
         "comma-separated device CSR key types: P-256,P-384,P-521,RSA-2048,RSA-3072,RSA-4096")
    _add(parser, "--strict-resource-types", False, "refuse resource types the emulator does not model", bool)


def config_from_args(args: argparse.Namespace) -> Config:
    """The settings, checked: a bad value (from a flag or its environment variable) is a ValueError."""
    fields = {f: getattr(args, f) for f in Config.__dataclass_fields__ if hasattr(args, f)}
    config = Config(**fields)
    LroMode.parse(config.lro)
    if config.keystore not in ("soft", "pkcs11"):
        raise ValueError(f"--keystore must be 'soft' or 'pkcs11', not {config.keystore!r}")
    if config.keystore == "pkcs11" and not (config.pkcs11_module and config.pkcs11_token and config.pkcs11_pin):
        raise ValueError("--keystore pkcs11 needs --pkcs11-module, --pkcs11-token and --pkcs11-pin")
    return config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adr-emulator",
                                     description="Local emulator of Azure Device Registry, IoT Hub and DPS.")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="start the emulator")
    add_serve_arguments(serve)
    ca = sub.add_parser("ca-cert", help="print the development CA certificate (PEM) that signs the TLS certificate")
    add_data_dir(ca)
    for register in _command_registrars():
        register(sub)
    return parser


def _command_registrars() -> list[Callable[[Any], None]]:
    """Other modules (device helper, az helper) add their subcommands here."""
    registrars = []
    for module_name in ("provider.device_cli", "provider.azcli"):
        try:
            module = __import__(module_name, fromlist=["register_command"])
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        registrars.append(module.register_command)
    return registrars


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ValueError as exc:  # an ADR_EMULATOR_* variable that does not parse (e.g. a port that is not a number)
        print(f"adr-emulator: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command in (None, "serve"):
        if args.command is None:
            args = parser.parse_args(["serve", *(argv or sys.argv[1:])])
        from provider.run import serve  # lazy: the other commands must not load the server

        try:
            config = config_from_args(args)
        except ValueError as exc:
            print(f"adr-emulator: {exc}", file=sys.stderr)
            return 2
        logging.basicConfig(level=getattr(logging, str(config.log_level).upper(), logging.INFO),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return serve(config)
    if args.command == "ca-cert":
        ca = Path(args.data_dir) / "tls" / "ca.pem"
        if not ca.exists():
            print(f"No development CA in {args.data_dir}: start the emulator once with this --data-dir.",
                  file=sys.stderr)
            return 1
        sys.stdout.write(ca.read_text())
        return 0
    return args.func(args)
