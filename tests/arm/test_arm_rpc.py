"""ARM RPC behaviour of the generic layer, exercised through namespaces and resource groups."""

from __future__ import annotations

import base64
import json
import time

import requests

from tests.support.arm_helpers import assert_error
from tests.support.emulator_process import SUB, Arm

NS_API = "2026-03-01-preview"


def ns_path(rg: str, name: str) -> str:
    return f"resourceGroups/{rg}/providers/Microsoft.DeviceRegistry/namespaces/{name}"


def test_every_response_carries_request_ids(arm, rg):
    for resp in (arm.get(ns_path(rg, "nope")), arm.get(f"resourceGroups/{rg}", api_version="2024-03-01"),
                 arm.get("/_emulator/health", api_version=None)):
        assert resp.headers.get("x-ms-request-id")
        assert resp.headers.get("x-ms-correlation-request-id")
    r = arm.get(ns_path(rg, "nope"), headers={"x-ms-correlation-request-id": "corr-1",
                                              "x-ms-client-request-id": "client-1"})
    assert r.headers["x-ms-correlation-request-id"] == "corr-1"
    assert r.headers["x-ms-client-request-id"] == "client-1"


def test_put_create_then_replace_and_lro_headers(arm, rg):
    r = arm.put(ns_path(rg, "ns-a"), {"location": "East US 2", "tags": {"a": "1"}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["location"] == "eastus2"
    assert body["properties"]["provisioningState"] == "Succeeded"
    assert body["type"] == "Microsoft.DeviceRegistry/namespaces"
    assert set(body["systemData"]) >= {"createdBy", "createdAt", "lastModifiedAt"}
    status_url = r.headers["Azure-AsyncOperation"]
    assert status_url.startswith(arm.base) and "/operationStatuses/" in status_url
    assert r.headers["Retry-After"].isdigit()
    status = requests.get(status_url, timeout=10).json()
    assert status["status"] == "Succeeded" and status["id"].endswith(status["name"])
    uuid1 = body["properties"]["uuid"]
    r2 = arm.put(ns_path(rg, "ns-a"), {"location": "eastus2", "tags": {"b": "2"}})
    assert r2.status_code == 200
    assert r2.json()["tags"] == {"b": "2"}
    assert r2.json()["properties"]["uuid"] == uuid1  # read-only, immutable
    assert r2.json()["systemData"]["createdAt"] == body["systemData"]["createdAt"]


def test_names_are_case_insensitive_and_keep_casing(arm, rg):
    upper_rg = rg.upper()
    r = arm.put(f"resourceGroups/{upper_rg}/providers/microsoft.deviceregistry/NAMESPACES/ns-case",
                {"location": "eastus"})
    assert r.status_code == 201, r.text
    got = arm.get(ns_path(rg, "NS-CASE".lower()))
    assert got.status_code == 200
    assert f"resourceGroups/{upper_rg}/" in got.json()["id"]


def test_identity_system_assigned(arm, rg):
    r = arm.put(ns_path(rg, "ns-id"), {"location": "eastus", "identity": {"type": "SystemAssigned"}})
    identity = r.json()["identity"]
    assert identity["type"] == "SystemAssigned" and identity["principalId"] and identity["tenantId"]
    again = arm.put(ns_path(rg, "ns-id"), {"location": "eastus", "identity": {"type": "SystemAssigned"}})
    assert again.json()["identity"]["principalId"] == identity["principalId"]


def test_patch_merges_properties_and_replaces_tags(arm, rg):
    arm.put(ns_path(rg, "ns-p"), {"location": "eastus", "tags": {"a": "1", "b": "2"}, "properties": {
        "messaging": {"endpoints": {"hub1": {"address": "hub1.example",
                                             "endpointType": "Microsoft.Devices/IoTHubs"}}}}})
    r = arm.patch(ns_path(rg, "ns-p"), {"tags": {"c": "3"}, "properties": {"messaging": {"endpoints": {
        "hub2": {"address": "hub2.example"}}}}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tags"] == {"c": "3"}
    assert set(body["properties"]["messaging"]["endpoints"]) == {"hub1", "hub2"}
    missing = arm.patch(ns_path(rg, "ns-missing"), {"tags": {}})
    assert_error(missing, 404, "ResourceNotFound")


def test_delete_is_202_then_204(arm, rg):
    arm.put(ns_path(rg, "ns-d"), {"location": "eastus"})
    r = arm.delete(ns_path(rg, "ns-d"))
    assert r.status_code == 202
    assert r.headers["Location"].startswith(arm.base)
    result = requests.get(r.headers["Location"], timeout=10)
    assert result.status_code in (200, 204)
    assert arm.get(ns_path(rg, "ns-d")).status_code == 404
    assert arm.delete(ns_path(rg, "ns-d")).status_code == 204


def test_missing_and_unknown_api_version(arm, rg):
    assert_error(arm.get(ns_path(rg, "x"), api_version=None), 400, "MissingApiVersionParameter")
    err = assert_error(arm.get(ns_path(rg, "x"), api_version="2019-01-01"), 400, "InvalidApiVersionParameter")
    assert "2026-03-01-preview" in err["message"] and "--skip-api-version-check" in err["message"]
    for version in ("2025-07-01-preview", "2025-10-01", "2025-11-01-preview", "2026-04-01"):
        assert arm.put(ns_path(rg, "ns-v"), {"location": "eastus"}, api_version=version).status_code in (200, 201)


def test_bad_input_errors(arm, rg):
    path = ns_path(rg, "ns-bad")
    url = arm.url(path, NS_API)
    assert_error(requests.put(url, data="{not json", headers={"Content-Type": "application/json"}, timeout=10),
                 400, "InvalidRequestContent")
    assert_error(requests.put(url, data="location=eastus", headers={"Content-Type": "text/plain"}, timeout=10),
                 415, "UnsupportedMediaType")
    assert_error(arm.put(path, {"location": 12}), 400, "InvalidRequestContent", "location")
    assert_error(arm.put(path, {"location": "eastus", "tags": {"a": 1}}), 400, "InvalidRequestContent")
    assert_error(arm.put(path, {"location": "eastus", "properties": {"messaging": {"endpoints": {"e": {}}}}}),
                 400, "InvalidRequestContent", "properties.messaging.endpoints.e.address")
    assert_error(arm.put(path, {"tags": {}}), 400, "LocationRequired", "location")
    assert_error(arm.put(path, {"location": "eastus", "identity": {"type": "Bogus"}}), 400,
                 "InvalidRequestContent", "identity.type")
    assert_error(arm.put(path, [1, 2]), 400, "InvalidRequestContent")
    for bad in ("Upper", "a", "-lead", "trail-", "x" * 65, "under_score"):
        assert_error(arm.put(ns_path(rg, bad), {"location": "eastus"}), 400, "InvalidResourceName", "name")
    assert arm.get(path).status_code == 404  # nothing half-written


def test_missing_group_and_unknown_paths(arm):
    assert_error(arm.put(ns_path("no-such-group", "ns1"), {"location": "eastus"}), 404, "ResourceGroupNotFound")
    assert_error(arm.get(ns_path("no-such-group", "ns1")), 404, "ResourceGroupNotFound")
    assert_error(arm.get(f"/subscriptions/{SUB}/bogus/path"), 404, "NotFound")
    assert_error(arm.get("/no/such/thing"), 404, "NotFound")


def test_method_not_allowed(arm, rg):
    r = arm.post(f"resourceGroups/{rg}/providers/Microsoft.DeviceRegistry/namespaces", {})
    assert_error(r, 405, "MethodNotAllowed")


def test_etags_and_conditional_requests(arm, rg):
    path = ns_path(rg, "ns-etag")
    assert_error(arm.put(path, {"location": "eastus"}, headers={"If-Match": "*"}), 412, "PreconditionFailed")
    created = arm.put(path, {"location": "eastus"}, headers={"If-None-Match": "*"})
    assert created.status_code == 201
    etag = created.headers["ETag"]
    assert_error(arm.put(path, {"location": "eastus"}, headers={"If-None-Match": "*"}), 412, "PreconditionFailed")
    assert_error(arm.put(path, {"location": "eastus"}, headers={"If-Match": '"stale"'}), 412, "PreconditionFailed")
    ok = arm.put(path, {"location": "eastus"}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.headers["ETag"] != etag
    assert_error(arm.patch(path, {"tags": {}}, headers={"If-Match": etag}), 412, "PreconditionFailed")
    assert_error(arm.delete(path, headers={"If-Match": etag}), 412, "PreconditionFailed")
    assert arm.delete(path, headers={"If-Match": ok.headers["ETag"]}).status_code == 202


def test_paging_is_stable_without_duplicates(arm, rg):
    names = [f"pg-{i:02d}" for i in range(7)]
    for n in names:
        assert arm.put(ns_path(rg, n), {"location": "eastus"}).status_code == 201
    url = arm.url(f"resourceGroups/{rg}/providers/Microsoft.DeviceRegistry/namespaces", NS_API) + "&$top=3"
    seen, pages = [], 0
    while url:
        body = requests.get(url, timeout=10).json()
        seen += [v["name"] for v in body["value"]]
        url = body.get("nextLink")
        assert url != ""
        pages += 1
    assert seen == names and pages == 3
    bad = requests.get(arm.url(f"resourceGroups/{rg}/providers/Microsoft.DeviceRegistry/namespaces", NS_API)
                       + "&$skiptoken=garbage", timeout=10)
    assert_error(bad, 400, "InvalidSkipToken")


def test_list_by_subscription_includes_group_namespaces(arm, rg):
    arm.put(ns_path(rg, "ns-sub"), {"location": "eastus"})
    url = arm.url("providers/Microsoft.DeviceRegistry/namespaces", NS_API)
    ids, link = [], url
    while link:
        body = requests.get(link, timeout=10).json()
        ids += [v["id"] for v in body["value"]]
        link = body.get("nextLink")
    assert any(i.endswith(f"{rg}/providers/Microsoft.DeviceRegistry/namespaces/ns-sub") for i in ids)


def test_resource_groups(arm):
    name = "rg-crud-" + str(int(time.time() * 1000))
    r = arm.put(f"resourceGroups/{name}", {"location": "westus", "tags": {"env": "t"}}, api_version="2024-03-01")
    assert r.status_code == 201 and r.json()["properties"]["provisioningState"] == "Succeeded"
    assert arm.put(f"resourceGroups/{name}", {"location": "westus"}, api_version="2024-03-01").status_code == 200
    assert arm.request("HEAD", f"resourceGroups/{name}", "2024-03-01").status_code == 204
    assert arm.request("HEAD", "resourceGroups/none-such", "2024-03-01").status_code == 404
    assert arm.patch(f"resourceGroups/{name}", {"tags": {"x": "y"}}, api_version="2024-03-01").json()["tags"] == \
        {"x": "y"}
    arm.put(ns_path(name, "inside"), {"location": "eastus"})
    listed = arm.get(f"resourceGroups/{name}/resources", api_version="2024-03-01").json()["value"]
    assert [v["name"] for v in listed] == ["inside"]
    all_groups = arm.get("resourceGroups", api_version="2024-03-01").json()["value"]
    assert name in [g["name"] for g in all_groups]
    assert_error(arm.put(f"resourceGroups/{name}", {}, api_version="2024-03-01"), 400, "LocationRequired")
    assert_error(arm.get(f"resourceGroups/{name}", api_version="2013-01-01"), 400, "InvalidApiVersionParameter")
    d = arm.delete(f"resourceGroups/{name}", api_version="2024-03-01")
    assert d.status_code == 202 and d.headers["Location"]
    assert requests.get(d.headers["Location"], timeout=10).status_code == 200
    assert_error(arm.get(f"resourceGroups/{name}", api_version="2024-03-01"), 404, "ResourceGroupNotFound")
    # everything inside went with it
    arm.group(name)
    assert arm.get(ns_path(name, "inside")).status_code == 404


def test_front_door_surface(arm):
    subs = arm.get("/subscriptions", api_version="2022-12-01").json()["value"]
    assert subs[0]["subscriptionId"] and subs[0]["state"] == "Enabled" and subs[0]["tenantId"]
    assert arm.get(f"/subscriptions/{SUB}", api_version="2022-12-01").json()["subscriptionId"] == SUB
    providers = arm.get(f"/subscriptions/{SUB}/providers", api_version="2021-04-01").json()["value"]
    assert "Microsoft.DeviceRegistry" in [p["namespace"] for p in providers]
    one = arm.get(f"/subscriptions/{SUB}/providers/microsoft.deviceregistry", api_version="2021-04-01").json()
    types = {t["resourceType"]: t for t in one["resourceTypes"]}
    assert NS_API in types["namespaces"]["apiVersions"]
    reg = arm.post(f"/subscriptions/{SUB}/providers/Microsoft.DeviceRegistry/register", api_version="2021-04-01")
    assert reg.status_code == 200 and reg.json()["registrationState"] == "Registered"
    ops = arm.get("/providers/Microsoft.DeviceRegistry/operations", api_version=NS_API).json()["value"]
    assert any(o["name"] == "Microsoft.DeviceRegistry/namespaces/write" for o in ops)
    meta = arm.get("/metadata/endpoints", api_version="2022-09-01").json()
    assert meta["resourceManager"].startswith(arm.base) and "suffixes" in meta
    assert isinstance(arm.get("/metadata/endpoints", api_version="2019-05-01").json(), list)


def test_health_and_reset_endpoint_shape(arm):
    health = arm.get("/_emulator/health", api_version=None)
    assert health.status_code == 200 and health.json()["status"] == "healthy"


def _jwt(claims: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{enc({'alg': 'none'})}.{enc(claims)}.sig"


def test_require_auth(emulator_with):
    proc = emulator_with("--require-auth")
    arm = Arm(proc.http)
    assert_error(arm.get("resourceGroups", api_version="2024-03-01"), 401, "AuthenticationFailed")
    assert_error(arm.get("resourceGroups", api_version="2024-03-01",
                         headers={"Authorization": "Bearer not-a-jwt"}), 401, "InvalidAuthenticationToken")
    expired = _jwt({"exp": int(time.time()) - 10})
    assert_error(arm.get("resourceGroups", api_version="2024-03-01",
                         headers={"Authorization": f"Bearer {expired}"}), 401, "ExpiredAuthenticationToken")
    good = _jwt({"exp": int(time.time()) + 600, "upn": "dev@contoso.com"})
    r = arm.put("resourceGroups/authrg", {"location": "eastus"}, api_version="2024-03-01",
                headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 201 and r.json()["systemData"]["createdBy"] == "dev@contoso.com"
    # the emulator's own token endpoint issues tokens ARM accepts
    token = requests.post(proc.http + "/tenant1/oauth2/v2.0/token",
                          data={"grant_type": "client_credentials", "client_id": "app",
                                "scope": "https://management.azure.com/.default"}, timeout=10).json()
    ok = arm.get("resourceGroups", api_version="2024-03-01",
                 headers={"Authorization": f"Bearer {token['access_token']}"})
    assert ok.status_code == 200
    assert requests.get(proc.http + "/_emulator/health", timeout=5).status_code == 200  # not ARM


def test_lro_polls_mode_sees_accepted_then_succeeded(emulator_with):
    proc = emulator_with("--lro", "polls:2")
    arm = Arm(proc.http)
    arm.group("lro")
    r = arm.put(ns_path("lro", "ns-lro"), {"location": "eastus"})
    assert r.status_code == 201 and r.json()["properties"]["provisioningState"] == "Accepted"
    url = r.headers["Azure-AsyncOperation"]
    states = [requests.get(url, timeout=5).json()["status"] for _ in range(3)]
    assert states == ["Accepted", "Accepted", "Succeeded"]
    assert arm.get(ns_path("lro", "ns-lro")).json()["properties"]["provisioningState"] == "Succeeded"
    # PATCH is 202 + Location until done
    p = arm.patch(ns_path("lro", "ns-lro"), {"tags": {"k": "v"}})
    assert p.status_code == 202 and p.headers["Location"]
    results = [requests.get(p.headers["Location"], timeout=5) for _ in range(3)]
    assert [x.status_code for x in results] == [202, 202, 200]
    assert results[-1].json()["tags"] == {"k": "v"}
    # DELETE keeps the resource in Deleting until the operation completes
    d = arm.delete(ns_path("lro", "ns-lro"))
    assert d.status_code == 202
    assert arm.get(ns_path("lro", "ns-lro")).json()["properties"]["provisioningState"] == "Deleting"
    codes = [requests.get(d.headers["Location"], timeout=5).status_code for _ in range(3)]
    assert codes == [202, 202, 204]
    assert arm.get(ns_path("lro", "ns-lro")).status_code == 404


def test_lro_seconds_mode(emulator_with):
    proc = emulator_with("--lro", "seconds:0.5")
    arm = Arm(proc.http)
    arm.group("lros")
    r = arm.put(ns_path("lros", "ns-s"), {"location": "eastus"})
    assert r.json()["properties"]["provisioningState"] == "Accepted"
    time.sleep(0.7)
    assert arm.get(ns_path("lros", "ns-s")).json()["properties"]["provisioningState"] == "Succeeded"


def test_in_memory_keeps_nothing_and_reset_wipes(emulator_with):
    proc = emulator_with()
    arm = Arm(proc.http)
    arm.group("mem")
    arm.put(ns_path("mem", "ns-m"), {"location": "eastus"})
    assert requests.post(proc.http + "/_emulator/reset", timeout=5).json()["status"] == "reset"
    assert_error(arm.get(ns_path("mem", "ns-m")), 404, "ResourceGroupNotFound")
