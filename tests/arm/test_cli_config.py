"""`serve` flags and their ADR_EMULATOR_* variables, parsed in-process (the CLI as a process: tests/e2e/test_cli.py)."""

from __future__ import annotations

from provider.cli import build_parser, config_from_args


def test_flags_read_environment_variables(monkeypatch):
    monkeypatch.setenv("ADR_EMULATOR_LRO", "polls:3")
    monkeypatch.setenv("ADR_EMULATOR_HTTPS_PORT", "0")
    monkeypatch.setenv("ADR_EMULATOR_REQUIRE_AUTH", "true")
    monkeypatch.setenv("ADR_EMULATOR_LOCATION", "westeurope")
    config = config_from_args(build_parser().parse_args(["serve"]))
    assert (config.lro, config.https_port, config.require_auth, config.location) == ("polls:3", 0, True, "westeurope")
    flag_wins = config_from_args(build_parser().parse_args(["serve", "--lro", "immediate"]))
    assert flag_wins.lro == "immediate"


def test_defaults():
    config = config_from_args(build_parser().parse_args(["serve"]))
    assert config.host == "127.0.0.1" and config.port == 7780 and str(config.data_dir) == ".adr-emulator"
    assert config.lro == "immediate" and config.keystore == "soft" and not config.in_memory
