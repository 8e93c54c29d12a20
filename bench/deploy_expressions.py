"""Benchmark: template expressions evaluated per second while deploying a large generated template.

The template has a resource copy loop (default 400 instances) whose bodies mix the functions
real templates lean on (format, concat, uniqueString, resourceId, if/equals, union, property
copies, reference() of a sibling). The host is an in-memory dict, so the figure measures the
engine. Run: `python bench/deploy_expressions.py [instances] [runs]`.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provider.templates import (  # noqa: E402
    DeploymentScope,
    evaluator,  # noqa: E402
    run_deployment,
)

SUB = "00000000-0000-0000-0000-000000000000"


class MemoryHost:
    subscription_id = SUB
    tenant_id = "11111111-1111-1111-1111-111111111111"
    location_default = "westus"

    def __init__(self) -> None:
        self.resources: dict[str, dict] = {}

    def resource_group(self, subscription_id, name):
        return {"id": f"/subscriptions/{subscription_id}/resourceGroups/{name}", "name": name, "location": "westus",
                "tags": {}, "properties": {"provisioningState": "Succeeded"}}

    def get_resource(self, resource_id, api_version):
        return self.resources.get(resource_id.lower())

    def put_resource(self, resource_id, body, api_version):
        stored = {"id": resource_id, **body}
        stored.setdefault("properties", {})["provisioningState"] = "Succeeded"
        self.resources[resource_id.lower()] = stored
        return stored

    def delete_resource(self, resource_id, api_version):
        self.resources.pop(resource_id.lower(), None)

    def post_action(self, resource_id, action, body, api_version):
        return {"value": [{"keyName": "owner", "primaryKey": "k1"}]}

    def list_resource_ids_in_group(self, subscription_id, resource_group):
        return [b["id"] for b in self.resources.values()]

    def environment(self):
        return {"name": "AzureCloud", "suffixes": {"storage": "core.windows.net"}}


def make_template(count: int) -> dict:
    hub_type = "Microsoft.Devices/IotHubs"
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "prefix": {"type": "string", "defaultValue": "bench"},
            "count": {"type": "int", "defaultValue": count},
            "tags": {"type": "object", "defaultValue": {"env": "bench", "owner": "engine"}},
        },
        "variables": {
            "suffix": "[uniqueString(resourceGroup().id)]",
            "baseName": "[format('{0}-{1}', parameters('prefix'), variables('suffix'))]",
            "commonTags": "[union(parameters('tags'), createObject('deployment', deployment().name))]",
        },
        "resources": [
            {"type": hub_type, "apiVersion": "2021-07-02", "name": "[format('{0}-root', variables('baseName'))]",
             "location": "[resourceGroup().location]", "sku": {"name": "S1", "capacity": 1}, "properties": {}},
            {
                "type": hub_type,
                "apiVersion": "2021-07-02",
                "name": "[format('{0}-{1}', variables('baseName'), padLeft(copyIndex(), 4, '0'))]",
                "location": "[resourceGroup().location]",
                "copy": {"name": "hubs", "count": "[parameters('count')]"},
                "dependsOn": [f"[resourceId('{hub_type}', format('{{0}}-root', variables('baseName')))]"],
                "tags": "[union(variables('commonTags'), createObject('index', string(copyIndex())))]",
                "sku": {"name": "[if(equals(mod(copyIndex(), 2), 0), 'S1', 'S2')]",
                        "capacity": "[add(1, mod(copyIndex(), 3))]"},
                "properties": {
                    "minTlsVersion": "[if(greater(copyIndex(), 10), '1.2', '1.0')]",
                    "label": "[toUpper(concat(parameters('prefix'), '-', string(copyIndex())))]",
                    "guid": "[guid(resourceGroup().id, string(copyIndex()))]",
                    "selfId": f"[resourceId('{hub_type}', format('{{0}}-{{1}}', variables('baseName'), "
                              "padLeft(copyIndex(), 4, '0')))]",
                    "rootHost": f"[reference(resourceId('{hub_type}', format('{{0}}-root', variables('baseName'))), "
                                "'2021-07-02').provisioningState]",
                    "storage": "[concat('https://acct', variables('suffix'), '.blob.', "
                               "environment().suffixes.storage)]",
                    "slice": "[substring(variables('suffix'), 0, min(length(variables('suffix')), 6))]",
                    "flags": "[createArray(empty(parameters('tags')), contains(parameters('tags'), 'env'))]",
                    "copy": [{"name": "routes", "count": 3, "input": {
                        "name": "[format('route{0}-{1}', copyIndex(), copyIndex('routes'))]",
                        "enabled": "[equals(copyIndex('routes'), 0)]",
                        "endpoint": "[concat('ep', string(copyIndex('routes')))]"}}],
                },
            },
        ],
        "outputs": {
            "names": {"type": "array", "copy": {"count": "[parameters('count')]", "input":
                      "[format('{0}-{1}', variables('baseName'), padLeft(copyIndex(), 4, '0'))]"}},
        },
    }


def run_once(template: dict, count: int) -> tuple[int, float]:
    """Deploy once against a fresh host; returns (expressions evaluated, seconds)."""
    counter = {"n": 0}
    original = evaluator.evaluate_string

    def counting(text, ctx):
        counter["n"] += 1
        return original(text, ctx)

    evaluator.evaluate_string = counting
    try:
        host = MemoryHost()
        scope = DeploymentScope(SUB, "bench-rg", None, "bench", host.tenant_id)
        start = time.perf_counter()
        result = run_deployment(template, {}, scope=scope, host=host)
        elapsed = time.perf_counter() - start
    finally:
        evaluator.evaluate_string = original
    assert result.error is None, result.error
    assert len(result.output_resources) == count + 1
    return counter["n"], elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    template = make_template(count)
    results = [run_once(template, count) for _ in range(runs)]
    expressions = results[0][0]
    times = sorted(elapsed for _, elapsed in results)
    print(f"resources deployed:     {count + 1} (runs: {runs})")
    print(f"expressions evaluated:  {expressions} per run")
    print(f"wall time:              best {times[0]:.3f} s, median {statistics.median(times):.3f} s")
    print(f"expressions per second: best {expressions / times[0]:,.0f}, "
          f"median {expressions / statistics.median(times):,.0f}")


if __name__ == "__main__":
    main()
