"""Mutated request bodies for every writable resource type: never a 5xx, always the ARM envelope.

Runs in-process (Flask test client) with a fixed seed, so it is fast and repeatable; the same
handlers serve the real server.
"""

from __future__ import annotations

import json
import random

from provider.app import create_app
from provider.config import Config
from provider.state import Emulator

S = "/subscriptions/00000000-0000-0000-0000-000000000000"
JUNK = [None, 1, -5, 3.5, True, "x", "", [], [1, "a"], {}, {"a": 1}, "A" * 5000, {"properties": None}]

NS = "/resourceGroups/rg/providers/Microsoft.DeviceRegistry/namespaces/nsf"
PATHS = {
    "/resourceGroups/rg/providers/Microsoft.DeviceRegistry/namespaces/nsf?api-version=2026-03-01-preview": {
        "location": "eastus",
        "identity": {"type": "SystemAssigned"},
        "properties": {"messaging": {"endpoints": {"a": {"address": "x", "endpointType": "y"}}}},
    },
    NS + "/credentials/default?api-version=2026-03-01-preview": {
        "location": "eastus",
        "tags": {"a": "b"},
    },
    NS + "/credentials/default/policies/polf?api-version=2026-03-01-preview": {
        "properties": {
            "certificate": {
                "certificateAuthorityConfiguration": {"keyType": "ECC", "bringYourOwnRoot": {"enabled": False}},
                "leafCertificateConfiguration": {"validityPeriodInDays": 30},
            }
        }
    },
    NS + "/devices/devf?api-version=2026-03-01-preview": {
        "location": "eastus",
        "properties": {
            "enabled": True,
            "attributes": {"a": 1},
            "endpoints": {"inbound": {"e": {"address": "a", "endpointType": "t"}}},
        },
    },
    "/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/idf?api-version=2023-01-31": {
        "location": "eastus"
    },
    "/resourceGroups/rg/providers/Microsoft.Devices/IotHubs/hubfuzz?api-version=2023-06-30": {
        "location": "eastus",
        "sku": {"name": "S1", "capacity": 1},
        "properties": {
            "eventHubEndpoints": {"events": {"retentionTimeInDays": 1, "partitionCount": 2}},
            "routing": {"routes": []},
            "authorizationPolicies": [{"keyName": "k", "rights": "RegistryRead"}],
        },
    },
    "/resourceGroups/rg/providers/Microsoft.Devices/provisioningServices/dpsfuzz?api-version=2022-12-12": {
        "location": "eastus",
        "sku": {"name": "S1", "capacity": 1},
        "properties": {
            "iotHubs": [
                {"connectionString": "HostName=x;SharedAccessKeyName=a;SharedAccessKey=b", "location": "eastus"}
            ],
            "allocationPolicy": "Hashed",
        },
    },
    "/resourceGroups/rg/providers/Microsoft.Resources/deployments/depf?api-version=2024-03-01": {
        "properties": {
            "mode": "Incremental",
            "template": {
                "$schema": "x",
                "contentVersion": "1.0.0.0",
                "parameters": {"p": {"type": "string", "defaultValue": "a"}},
                "variables": {"v": "[parameters('p')]"},
                "resources": [
                    {
                        "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                        "apiVersion": "2023-01-31",
                        "name": "[concat('idx', variables('v'))]",
                        "location": "eastus",
                    }
                ],
                "outputs": {"o": {"type": "string", "value": "[variables('v')]"}},
            },
            "parameters": {"p": {"value": "b"}},
        }
    },
}


def _mutate(rnd: random.Random, value, depth: int = 0):
    if isinstance(value, dict) and value and rnd.random() < 0.7 and depth < 5:
        key = rnd.choice(list(value))
        return {**value, key: _mutate(rnd, value[key], depth + 1)}
    if isinstance(value, list) and value and rnd.random() < 0.5:
        i = rnd.randrange(len(value))
        return [*value[:i], _mutate(rnd, value[i], depth + 1), *value[i + 1 :]]
    return rnd.choice(JUNK)


def test_mutated_bodies_never_give_a_server_error():
    emu = Emulator(Config(in_memory=True))
    client = create_app(emulator=emu).test_client()
    client.put(S + "/resourceGroups/rg?api-version=2024-03-01", json={"location": "eastus"})
    rnd = random.Random(7)
    failures = []
    for path, base in PATHS.items():
        assert client.put(S + path, json=base).status_code < 500, path
        for _ in range(60):
            body = _mutate(rnd, base)
            for method in ("PUT", "PATCH"):
                r = client.open(S + path, method=method, data=json.dumps(body), content_type="application/json")
                if r.status_code >= 500:
                    failures.append((method, path, body, r.get_data(as_text=True)[:200]))
                elif r.status_code >= 400:
                    error = r.get_json()["error"]
                    assert error["code"] and error["message"], (method, path, body)
    assert not failures, failures[:3]
