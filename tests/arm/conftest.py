"""Fixtures for the in-process ARM tests: a resource group in the `client` fixture's fresh emulator."""

from __future__ import annotations

import pytest

from tests.support.arm_helpers import SUB

GROUP_API = "2024-03-01"


@pytest.fixture()
def group(client) -> str:
    """The path of resource group `g` (created), e.g. `/subscriptions/{SUB}/resourceGroups/g`."""
    path = f"/subscriptions/{SUB}/resourceGroups/g"
    r = client.put(f"{path}?api-version={GROUP_API}", json={"location": "eastus"})
    assert r.status_code == 201, r.get_data(as_text=True)
    return path


@pytest.fixture()
def namespaces(group) -> str:
    """The collection path of Device Registry namespaces in group `g`."""
    return f"{group}/providers/Microsoft.DeviceRegistry/namespaces"
