"""ARM's error envelope (provider/arm/errors.py, provider/app.py): shape, status and headers, in-process."""

from __future__ import annotations

import json

import pytest

from provider.arm.errors import ArmError, error_detail
from tests.support.arm_helpers import NS_API, SUB

VNET = "providers/Microsoft.Network/virtualNetworks/v?api-version=2023-09-01"


def _error(r, status: int, cause: str) -> dict:
    """The `error` object of an ARM error response, after checking status, media type and headers."""
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/json"
    assert r.headers["x-ms-failure-cause"] == cause
    assert r.headers["x-ms-request-id"] and r.headers["x-ms-routing-request-id"].startswith("EASTUS:")
    body = json.loads(r.get_data())
    assert list(body) == ["error"]
    return body["error"]


def test_the_envelope_has_code_and_message_and_only_the_optional_fields_given():
    assert ArmError(400, "Bad", "m").body() == {"error": {"code": "Bad", "message": "m"}}
    detail = {"code": "Inner", "message": "i"}
    full = ArmError(409, "Outer", "o", target="name", details=[detail])
    full.additional_info = [{"type": "PolicyViolation", "info": {}}]
    assert full.body() == {"error": {"code": "Outer", "message": "o", "target": "name", "details": [detail],
                                     "additionalInfo": [{"type": "PolicyViolation", "info": {}}]}}
    assert error_detail("C", "m", None, []) == {"code": "C", "message": "m"}


def test_malformed_json_is_400_invalid_request_content(client, namespaces):
    r = client.put(f"{namespaces}/ns-bad?api-version={NS_API}", data="{not json", content_type="application/json")
    assert _error(r, 400, "service") == {
        "code": "InvalidRequestContent",
        "message": "The request content was invalid and could not be deserialized: Expecting property name enclosed "
                   "in double quotes: line 1 column 2 (char 1).",
    }
    assert client.get(f"{namespaces}/ns-bad?api-version={NS_API}").status_code == 404  # nothing written


def test_a_body_that_is_not_json_media_is_415(client, namespaces):
    r = client.put(f"{namespaces}/ns-bad?api-version={NS_API}", data="location=eastus", content_type="text/plain")
    assert _error(r, 415, "service") == {
        "code": "UnsupportedMediaType",
        "message": "The content media type 'text/plain' is not supported. Only 'application/json' is supported.",
    }


def test_missing_api_version_is_400(client, namespaces):
    for path in (f"{namespaces}/ns-x", namespaces, f"/subscriptions/{SUB}/resourceGroups"):
        assert _error(client.get(path), 400, "service") == {
            "code": "MissingApiVersionParameter",
            "message": "The api-version query parameter (?api-version=) is required for all requests.",
        }


def test_an_unpublished_api_version_is_400_naming_it(client, namespaces):
    error = _error(client.get(f"{namespaces}/ns-x?api-version=2019-01-01"), 400, "service")
    assert error["code"] == "InvalidApiVersionParameter"
    assert error["message"].startswith(
        "The api-version '2019-01-01' is invalid for 'Microsoft.DeviceRegistry/namespaces'. The supported versions "
        "are '")
    assert f"{NS_API}," in error["message"] and "--skip-api-version-check" in error["message"]


@pytest.mark.emulator_config(skip_api_version_check=True)
def test_skip_api_version_check_accepts_any_version(client, namespaces):
    r = client.put(f"{namespaces}/ns-any?api-version=2019-01-01", json={"location": "eastus"})
    assert r.status_code == 201, r.get_data(as_text=True)


def test_a_missing_resource_is_404_with_the_gateway_cause(client, namespaces, group):
    assert _error(client.get(f"{namespaces}/ns-none?api-version={NS_API}"), 404, "gateway") == {
        "code": "ResourceNotFound",
        "message": "The Resource 'Microsoft.DeviceRegistry/namespaces/ns-none' under resource group 'g' was not "
                   "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    }
    assert _error(client.get(f"/subscriptions/{SUB}/resourceGroups/nope/{VNET}"), 404, "gateway") == {
        "code": "ResourceGroupNotFound", "message": "Resource group 'nope' could not be found."}


def test_an_unknown_path_is_an_arm_404(client):
    assert _error(client.get(f"/subscriptions/{SUB}/bogus?api-version=1"), 404, "gateway") == {
        "code": "NotFound", "message": f"The path '/subscriptions/{SUB}/bogus' is not served by this emulator."}


def test_an_unmodelled_type_is_stored_generically_by_default(client, group):
    r = client.put(f"{group}/{VNET}", json={"location": "eastus"})
    assert r.status_code in (200, 201), r.get_data(as_text=True)
    assert r.json["type"] == "Microsoft.Network/virtualNetworks"
    assert _error(client.get(f"{group}/providers/Microsoft.Network/virtualNetworks/w?api-version=2023-09-01"), 404,
                  "gateway")["code"] == "ResourceNotFound"


@pytest.mark.emulator_config(strict_resource_types=True)
def test_an_unknown_type_is_400_no_registered_provider_in_strict_mode(client, group):
    for method in ("GET", "PUT"):
        r = client.open(f"{group}/{VNET}", method=method, json={"location": "eastus"} if method == "PUT" else None)
        assert _error(r, 400, "service") == {
            "code": "NoRegisteredProviderFound",
            "message": "No registered resource provider found for type 'Microsoft.Network/virtualNetworks' and api "
                       "version '2023-09-01' (namespace 'Microsoft.Network' is not emulated; the emulator runs with "
                       "--strict-resource-types).",
        }


def test_a_wrong_method_is_405_with_allow(client, namespaces):
    r = client.post(f"{namespaces}?api-version={NS_API}", json={})
    assert _error(r, 405, "service") == {
        "code": "MethodNotAllowed", "message": "The requested resource does not support http method 'POST'."}
    assert r.headers["Allow"] == "GET"


@pytest.mark.emulator_config(max_body_bytes=64)
def test_a_body_over_the_limit_is_413(client, namespaces):
    r = client.put(f"{namespaces}/ns-big?api-version={NS_API}", json={"location": "eastus", "tags": {"t": "x" * 100}})
    assert _error(r, 413, "service") == {
        "code": "RequestEntityTooLarge", "message": "The request body exceeds the 64 byte limit."}
