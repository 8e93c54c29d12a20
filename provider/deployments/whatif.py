"""What-if: predict what a deployment would change, without writing anything.

For each resource the plan would PUT, the prediction compares the properties the template sets
with what the resource has now: `Create` (absent), `NoChange`, or `Modify` with a property
`delta`; resources in the group that the template does not mention are `Ignore` (Incremental)
or `Delete` (Complete). Only properties the template sets are compared: values the service fills
in itself (ids, keys, host names, provisioning state) are not changes a deployment makes, and
values that need runtime functions are not predicted.
"""

from __future__ import annotations

import copy
from typing import Any

COMPARED = ("location", "tags", "sku", "kind", "identity", "properties")


def _delta(before: Any, after: Any, path: str) -> list[dict[str, Any]]:
    if isinstance(after, dict) and isinstance(before, dict):
        out: list[dict[str, Any]] = []
        for key, value in after.items():
            child = f"{path}.{key}" if path else key
            if key not in before:
                out.append({"path": child, "propertyChangeType": "Create", "after": value})
            else:
                out += _delta(before[key], value, child)
        return out
    if isinstance(after, list) and isinstance(before, list):
        if before == after:
            return []
        children = []
        for index in range(max(len(before), len(after))):
            if index >= len(before):
                children.append({"path": str(index), "propertyChangeType": "Create", "after": after[index]})
            elif index >= len(after):
                children.append({"path": str(index), "propertyChangeType": "Delete", "before": before[index]})
            else:
                sub = _delta(before[index], after[index], "")
                if sub:
                    children.append({"path": str(index), "propertyChangeType": "Modify", "children": sub})
        return [{"path": path, "propertyChangeType": "Array", "children": children}] if children else []
    if _normal(before, path) == _normal(after, path):
        return []
    return [{"path": path, "propertyChangeType": "Modify", "before": before, "after": after}]


def _normal(value: Any, path: str) -> Any:
    if path == "location" and isinstance(value, str):
        return "".join(value.split()).lower()
    return value


def _resolved_only(value: Any) -> Any:
    """Drop the parts of a planned body that still hold expression text: they need runtime values
    (`reference()`, `list*()`) and are not predicted, as ARM's what-if does not predict them."""
    if isinstance(value, dict):
        return {k: _resolved_only(v) for k, v in value.items() if not _unresolved(v)}
    if isinstance(value, list):
        return [_resolved_only(v) for v in value]
    return value


def _unresolved(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[") and value.endswith("]") and not value.startswith("[[")


def _requested(body: dict[str, Any]) -> dict[str, Any]:
    return {k: _resolved_only(copy.deepcopy(body[k])) for k in COMPARED if k in body and body[k] is not None}


def what_if(plan: Any, host: Any, mode: str, scope: Any, result_format: str = "FullResourcePayloads") -> dict:
    """`WhatIfOperationResult` for a plan (see research §2.7)."""
    changes: list[dict[str, Any]] = []
    mentioned: set[str] = set()

    def visit(resources: list[Any]) -> None:
        for item in resources:
            if not item.condition:
                continue
            if item.is_deployment:
                if item.nested is not None:
                    visit(item.nested.resources)
                continue
            mentioned.add(item.resource_id.lower())
            if item.existing:
                continue
            current = host.get_resource(item.resource_id, item.api_version)
            requested = _requested(item.body)
            change: dict[str, Any] = {"resourceId": item.resource_id}
            if item.symbolic_name:
                change["symbolicName"] = item.symbolic_name
            if current is None:
                change["changeType"] = "Create"
                if result_format != "ResourceIdOnly":
                    change["after"] = {"id": item.resource_id, "name": item.name, "type": item.type,
                                       "apiVersion": item.api_version, **requested}
            else:
                delta = _delta(current, requested, "")
                change["changeType"] = "Modify" if delta else "NoChange"
                if result_format != "ResourceIdOnly":
                    after = copy.deepcopy(current)
                    for key, value in requested.items():
                        if isinstance(value, dict) and isinstance(after.get(key), dict):
                            after[key] = {**after[key], **value}
                        else:
                            after[key] = value
                    change.update(before=current, after=after, delta=delta)
            changes.append(change)

    visit(plan.resources)
    if scope.resource_group:
        for resource_id in host.list_resource_ids_in_group(scope.subscription_id, scope.resource_group):
            if resource_id.lower() in mentioned or "/providers/" not in resource_id.lower():
                continue
            if resource_id.lower().count("/providers/") > 1:
                continue  # extension resources follow their target
            change = {"resourceId": resource_id, "changeType": "Delete" if mode == "Complete" else "Ignore"}
            if mode == "Complete" and result_format != "ResourceIdOnly":
                change["before"] = host.get_resource(resource_id, None)
            changes.append(change)
    return {"status": "Succeeded", "properties": {"changes": changes, "diagnostics": []}}
