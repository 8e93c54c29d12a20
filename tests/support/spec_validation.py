"""Validate response bodies against the official swagger definitions in ../shared/specs.

The copied swagger files reference ARM's common-types by relative path, which are not copied; those
few definitions (TrackedResource, ProxyResource, identities, ErrorResponse...) are stood in by
local equivalents with the same required fields.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import jsonschema

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SPECS = SHARED / "specs"

_SYSTEM_DATA = {"type": "object", "properties": {
    "createdBy": {"type": "string"}, "createdByType": {"type": "string"}, "createdAt": {"type": "string"},
    "lastModifiedBy": {"type": "string"}, "lastModifiedByType": {"type": "string"},
    "lastModifiedAt": {"type": "string"}}}
_RESOURCE = {"type": "object", "required": ["id", "name", "type"], "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"}, "systemData": _SYSTEM_DATA}}
_TRACKED = {"allOf": [_RESOURCE, {"type": "object", "required": ["location"], "properties": {
    "location": {"type": "string"}, "tags": {"type": "object", "additionalProperties": {"type": "string"}}}}]}
COMMON = {
    "TrackedResource": _TRACKED,
    "ProxyResource": _RESOURCE,
    "Resource": _RESOURCE,
    "SystemAssignedServiceIdentity": {"type": "object", "required": ["type"], "properties": {
        "type": {"enum": ["None", "SystemAssigned"]}, "principalId": {"type": "string"},
        "tenantId": {"type": "string"}}},
    "ManagedServiceIdentity": {"type": "object", "required": ["type"]},
    "ErrorResponse": {"type": "object", "properties": {"error": {"type": "object", "required": ["code", "message"]}}},
    "OperationStatusResult": {"type": "object", "required": ["status"]},
    "ExtendedLocation": {"type": "object"},
    "systemData": _SYSTEM_DATA,
}


def _rewrite(node, definitions_key: str = "#/definitions/"):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and not v.startswith("#/"):
                name = v.rsplit("/", 1)[-1]
                return copy.deepcopy(COMMON.get(name, {}))
            if k in ("x-ms-enum", "x-ms-client-flatten", "x-ms-mutability", "x-ms-identifiers",
                     "x-ms-secret", "x-nullable", "readOnly", "format", "x-ms-azure-resource"):
                continue
            out[k] = _rewrite(v)
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


@cache
def load_spec(relative: str) -> dict:
    return json.loads((SPECS / relative).read_text())


def validator_for(relative: str, definition: str) -> jsonschema.Draft4Validator:
    spec = load_spec(relative)
    root = {"definitions": _rewrite(spec["definitions"])}
    schema = {"$ref": f"#/definitions/{definition}", "definitions": root["definitions"]}
    return jsonschema.Draft4Validator(schema)


def operation(relative: str, operation_id: str) -> tuple[str, str, dict]:
    """(method, path template, operation object) of an operationId."""
    for path, methods in load_spec(relative)["paths"].items():
        for method, op in methods.items():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return method.upper(), path, op
    raise KeyError(operation_id)


def validate_response(relative: str, operation_id: str, status: int, body) -> None:
    _, _, op = operation(relative, operation_id)
    response = op["responses"].get(str(status))
    assert response is not None, f"{operation_id} does not declare status {status}"
    schema = response.get("schema")
    if schema is None:
        return
    ref = schema.get("$ref", "")
    name = ref.split("/")[-1]
    if not ref.startswith("#/definitions/"):  # a common-types definition: validate with its stand-in
        errors = sorted(jsonschema.Draft4Validator(COMMON[name]).iter_errors(body), key=str)
    else:
        errors = sorted(validator_for(relative, name).iter_errors(body), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
