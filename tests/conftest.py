"""Shared fixtures: one emulator process per test session (in memory), plus per-test groups."""

from __future__ import annotations

import uuid

import pytest

from tests.support.emulator_process import Arm, EmulatorProcess


@pytest.fixture(scope="session")
def emulator():
    with EmulatorProcess() as proc:
        yield proc


@pytest.fixture()
def arm(emulator) -> Arm:
    return Arm(emulator.http)


@pytest.fixture()
def rg(arm) -> str:
    """A fresh resource group for one test."""
    name = f"rg-{uuid.uuid4().hex[:10]}"
    arm.group(name)
    return name
