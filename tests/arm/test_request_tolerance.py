"""ARM's tolerance of real-world request paths, over the real HTTP and HTTPS listeners.

Raw request lines are sent with `http.client` so that nothing on the client side cleans the path:
`GET //metadata/endpoints` is what az sends when a cloud's `resourceManager` ends in `/`.
"""

from __future__ import annotations

import http.client
import json
import ssl
import uuid
from urllib.parse import urlsplit

import pytest

from tests.support.emulator_process import SUB

NS_API = "2026-03-01-preview"


def raw(emulator, scheme: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    base = urlsplit(emulator.http if scheme == "http" else emulator.https)
    if scheme == "http":
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
    else:
        context = ssl.create_default_context(cafile=emulator.ca_file)
        conn = http.client.HTTPSConnection(base.hostname, base.port, timeout=30, context=context)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    return resp.status, (json.loads(text) if text.strip() else {})


@pytest.fixture(scope="module")
def namespace(emulator) -> tuple[str, str]:
    group = f"rg-tol-{uuid.uuid4().hex[:8]}"
    status, _ = raw(emulator, "http", "PUT", f"/subscriptions/{SUB}/resourceGroups/{group}?api-version=2024-03-01",
                    {"location": "eastus"})
    assert status in (200, 201)
    name = f"ns-{uuid.uuid4().hex[:6]}"
    status, body = raw(emulator, "http", "PUT", f"/subscriptions/{SUB}/resourceGroups/{group}/providers/"
                       f"Microsoft.DeviceRegistry/namespaces/{name}?api-version={NS_API}", {"location": "eastus"})
    assert status in (200, 201), body
    return group, name


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_leading_double_slash_reaches_the_app(emulator, scheme):
    status, body = raw(emulator, scheme, "GET", "//metadata/endpoints?api-version=2022-09-01")
    assert status == 200, body
    assert body["resourceManager"].endswith("/") and body["authentication"]["loginEndpoint"]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("shape", [
    "//subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.DeviceRegistry/namespaces/{n}",
    "/subscriptions//{s}/resourceGroups/{g}//providers/Microsoft.DeviceRegistry/namespaces/{n}",
    "/SUBSCRIPTIONS/{s}/RESOURCEGROUPS/{g}/PROVIDERS/MICROSOFT.DEVICEREGISTRY/NAMESPACES/{n}",
    "/Subscriptions/{s}/ResourceGroups/{g}/Providers/Microsoft.DeviceRegistry/Namespaces/{n}",
    "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.DeviceRegistry/namespaces/{n}/",
])
def test_resource_paths_in_every_shape(emulator, namespace, scheme, shape):
    group, name = namespace
    path = shape.format(s=SUB, g=group, n=name) + f"?api-version={NS_API}"
    status, body = raw(emulator, scheme, "GET", path)
    assert status == 200, (path, body)
    # the stored casing of the id, whatever casing the caller used
    assert body["id"] == (f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.DeviceRegistry/"
                          f"namespaces/{name}")


@pytest.mark.parametrize("path", [
    "/SUBSCRIPTIONS/{s}/resourcegroups?api-version=2024-03-01",
    "/Subscriptions/{s}/Providers?api-version=2024-03-01",
    "//subscriptions/{s}/locations?api-version=2022-12-01",
    "/PROVIDERS/Microsoft.DeviceRegistry?api-version=2021-04-01",
])
def test_front_door_paths_in_every_shape(emulator, path):
    status, body = raw(emulator, "http", "GET", path.format(s=SUB))
    assert status == 200, (path, body)


def test_upper_case_path_writes_and_lists(emulator, namespace):
    group, name = namespace
    base = f"/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/{group}/PROVIDERS/MICROSOFT.DEVICEREGISTRY/NAMESPACES/{name}"
    status, body = raw(emulator, "https", "PATCH", f"{base}?api-version={NS_API}", {"tags": {"shape": "upper"}})
    assert status in (200, 202), body
    status, listing = raw(emulator, "http", "GET", f"/subscriptions/{SUB}/resourceGroups/{group}/providers/"
                          f"Microsoft.DeviceRegistry/namespaces?api-version={NS_API}")
    assert status == 200 and [n["tags"] for n in listing["value"]] == [{"shape": "upper"}]


def test_unknown_path_is_still_an_arm_404(emulator):
    status, body = raw(emulator, "http", "GET", f"//SUBSCRIPTIONS/{SUB}/nothing-here?api-version=2024-03-01")
    assert status == 404 and body["error"]["code"] == "NotFound"
