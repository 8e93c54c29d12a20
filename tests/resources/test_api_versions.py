"""Every api-version the real providers publish is accepted, and the lists stay in one place.

`tests/data/spec_api_versions.json` is a snapshot of the api-version folder names of the official
specs (Azure/azure-rest-api-specs); `provider/api_versions.py` must equal it, sorted.
"""

from __future__ import annotations

import json

import pytest

from provider import api_versions
from provider.arm.resource_type import REGISTRY
from tests.support.paths import DATA

SNAPSHOT = json.loads((DATA / "spec_api_versions.json").read_text())
CHILDREN = SNAPSHOT["deviceregistry_children"]


@pytest.mark.parametrize("type_key", sorted(SNAPSHOT["types"]))
def test_table_equals_the_spec_snapshot_and_is_sorted(type_key):
    table = api_versions.BY_TYPE[type_key]
    assert list(table) == sorted(table), f"{type_key} is not sorted"
    assert list(table) == SNAPSHOT["types"][type_key]["versions"]


def test_every_table_is_in_the_snapshot():
    assert sorted(api_versions.BY_TYPE) == sorted(SNAPSHOT["types"])


@pytest.mark.parametrize(("type_key", "versions"), [
    ("microsoft.devices/iothubs", "microsoft.devices/iothubs"),
    ("microsoft.devices/iothubs/eventhubendpoints/consumergroups", "microsoft.devices/iothubs"),
    ("microsoft.devices/provisioningservices", "microsoft.devices/provisioningservices"),
    ("microsoft.deviceregistry/namespaces", "microsoft.deviceregistry/namespaces"),
    ("microsoft.resources/deployments", "microsoft.resources/deployments"),
    ("microsoft.managedidentity/userassignedidentities", "microsoft.managedidentity/userassignedidentities"),
    ("microsoft.authorization/roleassignments", "microsoft.authorization/roleassignments"),
    ("microsoft.authorization/roledefinitions", "microsoft.authorization/roledefinitions"),
    ("microsoft.storage/storageaccounts", "microsoft.storage/storageaccounts"),
])
def test_registered_types_accept_every_published_version(type_key, versions):
    assert REGISTRY.find(type_key).api_versions == tuple(SNAPSHOT["types"][versions]["versions"])


@pytest.mark.parametrize(("type_key", "child"), [
    ("microsoft.deviceregistry/namespaces/credentials", "credentials"),
    ("microsoft.deviceregistry/namespaces/credentials/policies", "policies"),
    ("microsoft.deviceregistry/namespaces/devices", "devices"),
    ("microsoft.deviceregistry/namespaces/certificateauthorities", "certificateAuthorities"),
    ("microsoft.deviceregistry/namespaces/certificateauthorities/certificatepolicies", "certificatePolicies"),
])
def test_device_registry_children_follow_the_spec(type_key, child):
    assert REGISTRY.find(type_key).api_versions == tuple(CHILDREN[child])


def test_hub_certificates_start_where_the_spec_adds_them():
    versions = REGISTRY.find("microsoft.devices/iothubs/certificates").api_versions
    assert versions[0] == "2017-07-01" and versions[-1] == api_versions.IOT_HUBS[-1]


def test_since_refuses_an_unpublished_bound():
    with pytest.raises(ValueError):
        api_versions.since(api_versions.IOT_HUBS, "2025-08-01")
