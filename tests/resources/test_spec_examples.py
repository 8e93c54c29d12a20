"""Replay the official Device Registry examples against the emulator.

For each example: create what it presupposes (group, namespace, credential, policy, device),
send its request with its parameters, and check that the status is one the example lists, that
the body validates against the operation's response definition in the swagger, and that every
property the example shows is present in our answer (values are the example's placeholders, so
only the shape is compared).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from tests.support.adr_setup import policy_body
from tests.support.spec_validation import SPECS, operation, validate_response

SWAGGER = "deviceregistry/2026-03-01-preview/deviceregistry.json"
# the GA (2026-11-01) examples replay in test_spec_examples_ga.py, against the GA swagger
EXAMPLES = sorted(p for p in (SPECS / "deviceregistry").glob("**/examples/*.json")
                  if json.loads(p.read_text())["parameters"].get("api-version") != "2026-11-01")
USER_MAPS = ("tags", "attributes")
NOT_EMULATED: dict[str, str] = {}


def _id(path: Path) -> str:
    return str(path.relative_to(SPECS / "deviceregistry"))


def _shape_missing(expected, actual, path: str = "") -> list[str]:
    """Property paths present in the example but absent from our answer."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path or "<root>"]
        missing = []
        for key, value in expected.items():
            if key not in actual:
                missing.append(f"{path}.{key}".lstrip("."))
            elif key in USER_MAPS:
                continue  # user data (the examples' placeholder tags differ between request and answer)
            else:
                missing += _shape_missing(value, actual[key], f"{path}.{key}".lstrip("."))
        return missing
    if isinstance(expected, list) and expected and isinstance(actual, list) and actual:
        return _shape_missing(expected[0], actual[0], f"{path}[0]")
    return []


@pytest.mark.parametrize("example_path", EXAMPLES, ids=_id)
def test_example(arm, example_path: Path):
    example = json.loads(example_path.read_text())
    params = example["parameters"]
    version = params.get("api-version")
    if version in NOT_EMULATED:
        pytest.skip(NOT_EMULATED[version])
    if "/related/iothub/" in str(example_path):
        pytest.skip("IoT Hub certificate example: covered by tests/resources/test_iothubs.py with a real certificate")
    op_id = example["operationId"]
    method, template, op = operation(SWAGGER, op_id)
    rg = f"ex-{uuid.uuid4().hex[:8]}"
    arm.group(rg)
    values = {"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroupName": rg,
              "location": "eastus"}
    for key in ("namespaceName", "policyName", "deviceName"):
        if key in params:
            values[key] = params[key]
    ns = f"resourceGroups/{rg}/providers/Microsoft.DeviceRegistry/namespaces/{values.get('namespaceName', 'exns')}"
    # what the example presupposes
    if "namespaceName" in params or op_id.startswith("Namespaces_List"):
        assert arm.put(ns, {"location": "eastus"}).status_code == 201
    # the resource a Get/Update example reads is seeded from the example's own answer (read-only
    # fields in it are ignored by the emulator, as by ARM)
    seed = dict(example["responses"].get("200", {}).get("body") or {}) if method in ("GET", "PATCH") else {}
    seed.pop("id", None)
    if "/credentials/" in template and op_id != "Credentials_CreateOrUpdate":
        cred = seed if op_id.startswith("Credentials_") and seed else {"location": "eastus"}
        assert arm.put(f"{ns}/credentials/default", cred).status_code == 201
    if "{policyName}" in template and op_id != "Policies_CreateOrUpdate":
        assert arm.put(f"{ns}/credentials/default/policies/{params['policyName']}", policy_body()).status_code == 201
    if "{deviceName}" in template:
        device = seed if seed else {"location": "eastus"}
        assert arm.put(f"{ns}/devices/{params['deviceName']}", device).status_code == 201
    if op_id == "OperationStatus_Get":
        created = arm.put(f"{ns}-op", {"location": "eastus"})
        values["operationId"] = created.headers["Azure-AsyncOperation"].split("/operationStatuses/")[1].split("?")[0]
    path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
    body_param = next((p["name"] for p in op.get("parameters", []) if isinstance(p, dict) and p.get("in") == "body"),
                      None)
    body = params.get(body_param) if body_param else None
    response = arm.request(method, path, version, body)
    assert str(response.status_code) in example["responses"], (response.status_code, response.text)
    expected = example["responses"][str(response.status_code)].get("body")
    actual = response.json() if response.content else None
    validate_response(SWAGGER, op_id, response.status_code, actual)
    if expected is not None:
        if op_id.startswith("Namespaces_List"):
            actual = {"value": [v for v in actual["value"] if f"/resourceGroups/{rg}/" in v["id"]]}
        # a Bring-Your-Own-Root policy has no certificate (so no thumbprint or validity) until activated
        pending_byor = ("issuingCertificateThumbprint", "certificateAuthorityConfiguration.validityNotBefore",
                        "certificateAuthorityConfiguration.validityNotAfter")
        missing = [m for m in _shape_missing(expected, actual) if not m.endswith(pending_byor)]
        assert not missing, f"properties in the example missing from our answer: {missing}"
    for header in example["responses"][str(response.status_code)].get("headers", {}):
        assert header.lower() in {h.lower() for h in response.headers}, header
