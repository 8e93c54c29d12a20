"""IoT Hub service API over HTTPS: devices with etags, twins, SAS authorisation and routing."""

from __future__ import annotations

import time

import pytest
import requests

from provider.dps.sas import generate_sas
from tests.support.dps_helpers import create_env, csr_b64, new_key_b64, unique

HUB_API = "2025-08-01-preview"
SERVICE_API = "2021-04-12"


class Hub:
    """A hub created over ARM, and a service client signing with one of its policies."""

    def __init__(self, arm, emulator, rg: str, name: str | None = None) -> None:
        self.name = name or unique("svc")
        path = f"resourceGroups/{rg}/providers/Microsoft.Devices/IotHubs/{self.name}"
        r = arm.put(path, {"location": "eastus", "sku": {"name": "S1", "capacity": 1}, "properties": {}},
                    api_version=HUB_API)
        assert r.status_code == 201, r.text
        self.host = r.json()["properties"]["hostName"]
        self.keys = {p["keyName"]: p for p in arm.post(f"{path}/listkeys", api_version=HUB_API).json()["value"]}
        self.base = emulator.https
        self.ca = emulator.ca_file
        self.http = emulator.http

    def token(self, policy: str = "iothubowner", key: str | None = None, resource: str | None = None,
              expiry: int | None = None) -> str:
        return generate_sas(resource or self.host, key or self.keys[policy]["primaryKey"], policy, expiry)

    def call(self, method: str, path: str, body=None, *, token: str | None = None, headers: dict | None = None,
             api_version: str | None = SERVICE_API, base: str | None = None) -> requests.Response:
        all_headers = {"Authorization": self.token() if token is None else token, **(headers or {})}
        if not all_headers["Authorization"]:
            del all_headers["Authorization"]
        query = f"?api-version={api_version}" if api_version else ""
        return requests.request(method, f"{base or self.base}{path}{query}", json=body, headers=all_headers,
                                verify=self.ca, timeout=30)


def error_code(resp: requests.Response) -> str:
    body = resp.json()
    assert set(body) == {"Message", "ExceptionMessage"}, body
    code = body["Message"].split(";", 1)[0].removeprefix("ErrorCode:")
    assert resp.headers.get("iothub-errorcode") == code
    return code


@pytest.fixture()
def hub(arm, emulator, rg) -> Hub:
    return Hub(arm, emulator, rg)


def test_device_crud_with_etags(hub):
    r = hub.call("PUT", "/devices/dev-1", {"deviceId": "dev-1"})
    assert r.status_code == 200, r.text
    device = r.json()
    assert device["deviceId"] == "dev-1" and device["status"] == "enabled"
    assert device["authentication"]["type"] == "sas" and device["authentication"]["symmetricKey"]["primaryKey"]
    assert device["connectionState"] == "Disconnected" and r.headers["ETag"] == f'"{device["etag"]}"'
    # an existing device needs If-Match to be replaced
    again = hub.call("PUT", "/devices/dev-1", {"deviceId": "dev-1"})
    assert again.status_code == 409 and error_code(again) == "DeviceAlreadyExists"
    stale = hub.call("PUT", "/devices/dev-1", {"deviceId": "dev-1", "status": "disabled"}, headers={"If-Match": '"x"'})
    assert stale.status_code == 412 and error_code(stale) == "PreconditionFailed"
    updated = hub.call("PUT", "/devices/dev-1", {**device, "status": "disabled"},
                       headers={"If-Match": f'"{device["etag"]}"'})
    assert updated.status_code == 200, updated.text
    assert updated.json()["status"] == "disabled" and updated.json()["etag"] != device["etag"]
    assert updated.json()["authentication"]["symmetricKey"] == device["authentication"]["symmetricKey"]
    assert hub.call("PUT", "/devices/dev-1", {"status": "enabled"}, headers={"If-Match": "*"}).status_code == 200
    got = hub.call("GET", "/devices/dev-1")
    assert got.status_code == 200 and got.json()["status"] == "enabled"
    hub.call("PUT", "/devices/dev-2", {"authentication": {"type": "selfSigned", "x509Thumbprint": {
        "primaryThumbprint": "AB" * 20}}})
    listed = hub.call("GET", "/devices")
    assert [d["deviceId"] for d in listed.json()] == ["dev-1", "dev-2"]
    assert listed.json()[1]["authentication"]["x509Thumbprint"]["primaryThumbprint"] == "AB" * 20
    # delete with a stale etag fails, with * succeeds, then 404
    assert hub.call("DELETE", "/devices/dev-1", headers={"If-Match": '"old"'}).status_code == 412
    assert hub.call("DELETE", "/devices/dev-1", headers={"If-Match": "*"}).status_code == 204
    missing = hub.call("GET", "/devices/dev-1")
    assert missing.status_code == 404 and error_code(missing) == "DeviceNotFound"


def test_device_validation_errors(hub):
    bad_auth = hub.call("PUT", "/devices/d1", {"authentication": {"type": "magic"}})
    assert bad_auth.status_code == 400 and error_code(bad_auth) == "ArgumentInvalid"
    mismatch = hub.call("PUT", "/devices/d1", {"deviceId": "other"})
    assert mismatch.status_code == 400
    not_json = requests.put(f"{hub.base}/devices/d1?api-version={SERVICE_API}", data=b"{nope",
                            headers={"Authorization": hub.token()}, verify=hub.ca, timeout=30)
    assert not_json.status_code == 400 and error_code(not_json) == "ArgumentInvalid"
    assert hub.call("GET", "/devices/d1", api_version=None).status_code == 400
    old = hub.call("GET", "/devices/d1", api_version="2018-06-30")
    assert old.status_code == 400 and error_code(old) == "InvalidProtocolVersion"
    assert hub.call("GET", "/devices/d1", api_version="2025-08-01-preview").status_code == 404
    unknown_path = hub.call("GET", "/devices/d1/nothing/here")
    assert unknown_path.status_code == 404 and error_code(unknown_path) == "NotFound"


def test_twins_tags_desired_and_etag(hub):
    hub.call("PUT", "/devices/tw-1", {})
    twin = hub.call("GET", "/twins/tw-1")
    assert twin.status_code == 200
    body = twin.json()
    assert body["deviceId"] == "tw-1" and body["tags"] == {}
    assert body["properties"]["desired"]["$version"] == 1 and body["properties"]["reported"]["$version"] == 1
    r = hub.call("PATCH", "/twins/tw-1", {"tags": {"site": "a"}, "properties": {"desired": {"interval": 5,
                                                                                          "mode": {"x": 1}}}})
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["tags"] == {"site": "a"}
    assert after["properties"]["desired"]["interval"] == 5 and after["properties"]["desired"]["$version"] == 2
    r = hub.call("PATCH", "/twins/tw-1", {"properties": {"desired": {"mode": None}}},
                 headers={"If-Match": f'"{after["etag"]}"'})
    assert r.status_code == 200 and "mode" not in r.json()["properties"]["desired"]
    stale = hub.call("PATCH", "/twins/tw-1", {"tags": {"b": 1}}, headers={"If-Match": '"nope"'})
    assert stale.status_code == 412
    assert hub.call("GET", "/twins/nobody").status_code == 404
    assert hub.call("PATCH", "/twins/tw-1", [1, 2]).status_code == 400


def test_sas_authorisation_errors(hub):
    hub.call("PUT", "/devices/auth-1", {})
    no_header = hub.call("GET", "/devices/auth-1", token="")
    assert no_header.status_code == 401 and error_code(no_header) == "IotHubUnauthorizedAccess"
    wrong_key = hub.call("GET", "/devices/auth-1", token=hub.token(key=new_key_b64()))
    assert wrong_key.status_code == 401
    expired = hub.call("GET", "/devices/auth-1", token=hub.token(expiry=int(time.time()) - 10))
    assert expired.status_code == 401 and "expired" in expired.json()["Message"]
    unknown_policy = hub.call("GET", "/devices/auth-1",
                              token=generate_sas(hub.host, hub.keys["iothubowner"]["primaryKey"], "nobody"))
    assert unknown_policy.status_code == 401
    no_skn = hub.call("GET", "/devices/auth-1", token=generate_sas(hub.host, hub.keys["iothubowner"]["primaryKey"]))
    assert no_skn.status_code == 401
    assert hub.call("GET", "/devices/auth-1", token="Bearer abc").status_code == 401
    # the rights of the policy matter: registryRead may read but not write, service may not touch the registry
    assert hub.call("GET", "/devices/auth-1", token=hub.token("registryRead")).status_code == 200
    write = hub.call("PUT", "/devices/auth-2", {}, token=hub.token("registryRead"))
    assert write.status_code == 401 and "RegistryWrite" in write.json()["Message"]
    assert hub.call("GET", "/devices/auth-1", token=hub.token("service")).status_code == 401
    assert hub.call("GET", "/twins/auth-1", token=hub.token("service")).status_code == 200
    assert hub.call("PUT", "/devices/auth-2", {}, token=hub.token("registryReadWrite")).status_code == 200
    # the secondary key works as well
    secondary = hub.token(key=hub.keys["iothubowner"]["secondaryKey"])
    assert hub.call("GET", "/devices/auth-1", token=secondary).status_code == 200


def test_routing_by_host_header_or_sr(arm, emulator, rg):
    first, second = Hub(arm, emulator, rg), Hub(arm, emulator, rg)
    first.call("PUT", "/devices/only-first", {})
    # 127.0.0.1: the token's sr picks the hub
    assert first.call("GET", "/devices/only-first").status_code == 200
    assert second.call("GET", "/devices/only-first").status_code == 404
    # a Host header naming the hub wins over sr (a token for another hub is then refused)
    port = emulator.https.rsplit(":", 1)[1]
    via_host = requests.get(f"{emulator.https}/devices/only-first?api-version={SERVICE_API}",
                            headers={"Host": f"{first.host}:{port}", "Authorization": first.token()},
                            verify=emulator.ca_file, timeout=30)
    assert via_host.status_code == 200, via_host.text
    mixed = requests.get(f"{emulator.https}/devices/only-first?api-version={SERVICE_API}",
                         headers={"Host": first.host, "Authorization": second.token()}, verify=emulator.ca_file,
                         timeout=30)
    assert mixed.status_code == 401
    nowhere = first.call("GET", "/devices/x", token=generate_sas("nohub.azure-devices.localhost", new_key_b64(),
                                                                 "iothubowner"))
    assert nowhere.status_code == 404 and error_code(nowhere) == "IotHubNotFound"


def test_dps_created_devices_appear(arm, emulator, rg):
    env = create_env(arm, emulator, rg)
    group_key = new_key_b64()
    env.put_enrollment({"enrollmentGroupId": unique("g"), "credentialPolicyName": env.policy,
                        "attestation": {"type": "symmetricKey",
                                        "symmetricKey": {"primaryKey": group_key, "secondaryKey": new_key_b64()}}},
                       group=True)
    from provider.dps.sas import derive_device_key

    reg = unique("dp-")
    _, csr = csr_b64(reg)
    env.provision(reg, key=derive_device_key(group_key, reg), csr=csr)
    token = generate_sas(env.hub_host, env.hub_owner_key, "iothubowner")
    r = requests.get(f"{env.https}/devices/{reg}?api-version={SERVICE_API}", headers={"Authorization": token},
                     verify=env.ca_file, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["authentication"]["type"] == "certificateAuthority" and r.json()["status"] == "enabled"
    twin = requests.get(f"{env.https}/twins/{reg}?api-version={SERVICE_API}", headers={"Authorization": token},
                        verify=env.ca_file, timeout=30)
    assert twin.status_code == 200 and twin.json()["authenticationType"] == "certificateAuthority"


def test_emulator_inspection_endpoints(hub):
    r = requests.get(f"{hub.http}/_emulator/hubs/{hub.name}/devices/nobody/messages", timeout=10)
    assert r.status_code == 200 and r.json()["count"] == 0 and r.json()["messages"] == []
    assert requests.get(f"{hub.http}/_emulator/hubs/nohub/devices/x/messages", timeout=10).status_code == 404
    conns = requests.get(f"{hub.http}/_emulator/hubs/{hub.name}/connections", timeout=10)
    assert conns.status_code == 200 and conns.json()["connections"] == []
    # the direct-method API answers DeviceNotOnline for a device without a connection
    hub.call("PUT", "/devices/m-1", {})
    offline = hub.call("POST", "/twins/m-1/methods", {"methodName": "reboot"})
    assert offline.status_code == 404 and error_code(offline) == "DeviceNotOnline"


def test_clock_endpoint(emulator):
    clock = f"{emulator.http}/_emulator/clock"
    base = requests.get(clock, timeout=10).json()
    assert base["offsetSeconds"] == 0
    try:
        moved = requests.post(clock, json={"advanceSeconds": 3600}, timeout=10).json()
        assert moved["offsetSeconds"] == 3600 and moved["now"] > base["now"]
        assert requests.post(clock, json={"offsetSeconds": "x"}, timeout=10).status_code == 400
        assert requests.post(clock, json={}, timeout=10).status_code == 400
    finally:
        assert requests.post(clock, json={"offsetSeconds": 0}, timeout=10).json()["offsetSeconds"] == 0
