"""Long-running operations (provider/arm/lro.py): the `--lro` modes, status bodies and result URLs, in-process."""

from __future__ import annotations

import re

import pytest

from provider.arm.lro import LroMode
from tests.support.arm_helpers import NS_API, SUB

STATUS_URL = re.compile(rf"^http://localhost(/subscriptions/{SUB}/providers/Microsoft\.DeviceRegistry/locations/eastus/"
                        rf"operation(Statuses|Results)/([0-9a-f-]{{36}}))\?api-version={NS_API}$")


def _local(url: str) -> tuple[str, str]:
    """(path with query, operation id) of an Azure-AsyncOperation or Location URL."""
    match = STATUS_URL.match(url)
    assert match, url
    return url.removeprefix("http://localhost"), match.group(3)


@pytest.mark.parametrize(("text", "mode", "immediate"), [
    ("immediate", LroMode("immediate"), True),
    ("", LroMode("immediate"), True),
    ("POLLS:2", LroMode("polls", 2.0), False),
    ("polls:0", LroMode("polls", 0.0), True),
    ("seconds:0.5", LroMode("seconds", 0.5), False),
])
def test_lro_modes_parse(text, mode, immediate):
    assert LroMode.parse(text) == mode
    assert LroMode.parse(text).immediate is immediate


@pytest.mark.parametrize("text", ["sometimes", "polls:1.5", "polls:-1", "seconds:", "seconds:x", "polls"])
def test_bad_lro_modes_are_refused(text):
    with pytest.raises(ValueError, match="--lro must be 'immediate', 'polls:N' or 'seconds:S'"):
        LroMode.parse(text)


def test_immediate_mode_reports_succeeded_at_once(client, namespaces):
    r = client.put(f"{namespaces}/ns-now?api-version={NS_API}", json={"location": "eastus"})
    assert r.status_code == 201 and r.json["properties"]["provisioningState"] == "Succeeded"
    assert r.headers["Retry-After"] == "0"
    path, op_id = _local(r.headers["Azure-AsyncOperation"])
    status = client.get(path)
    assert status.status_code == 200 and "Retry-After" not in status.headers
    body = status.json
    assert set(body) == {"id", "name", "status", "startTime", "endTime", "percentComplete", "resourceId"}
    assert body["id"] == path.split("?")[0] and body["name"] == op_id
    assert (body["status"], body["percentComplete"]) == ("Succeeded", 100)
    assert body["resourceId"] == f"{namespaces}/ns-now"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", body["startTime"])
    assert body["endTime"] >= body["startTime"]


@pytest.mark.emulator_config(lro="polls:2")
def test_polls_mode_put_is_accepted_for_two_polls_then_succeeded(client, namespaces):
    r = client.put(f"{namespaces}/ns-slow?api-version={NS_API}", json={"location": "eastus"})
    assert r.status_code == 201 and r.json["properties"]["provisioningState"] == "Accepted"
    assert r.headers["Retry-After"] == "1" and "Location" not in r.headers
    path, _ = _local(r.headers["Azure-AsyncOperation"])
    polled = [client.get(path) for _ in range(4)]
    assert [p.json["status"] for p in polled] == ["Accepted", "Accepted", "Succeeded", "Succeeded"]
    assert [p.json["percentComplete"] for p in polled] == [50, 50, 100, 100]
    assert [p.headers.get("Retry-After") for p in polled] == ["1", "1", None, None]
    assert ["endTime" in p.json for p in polled] == [False, False, True, True]
    got = client.get(f"{namespaces}/ns-slow?api-version={NS_API}")
    assert got.json["properties"]["provisioningState"] == "Succeeded"


@pytest.mark.emulator_config(lro="polls:2")
def test_polls_mode_patch_answers_202_then_the_resource(client, namespaces):
    client.put(f"{namespaces}/ns-patch?api-version={NS_API}", json={"location": "eastus"})
    r = client.patch(f"{namespaces}/ns-patch?api-version={NS_API}", json={"tags": {"k": "v"}})
    assert r.status_code == 202 and r.get_data() == b""
    assert "Azure-AsyncOperation" not in r.headers
    path, _ = _local(r.headers["Location"])
    results = [client.get(path) for _ in range(3)]
    assert [x.status_code for x in results] == [202, 202, 200]
    assert results[0].headers["Location"] == r.headers["Location"]
    assert results[-1].json["tags"] == {"k": "v"}
    assert results[-1].json["properties"]["provisioningState"] == "Succeeded"


@pytest.mark.emulator_config(lro="polls:2")
def test_polls_mode_delete_keeps_the_resource_deleting_and_refuses_a_put_with_409(client, namespaces):
    client.put(f"{namespaces}/ns-del?api-version={NS_API}", json={"location": "eastus"})
    d = client.delete(f"{namespaces}/ns-del?api-version={NS_API}")
    assert d.status_code == 202
    status_path, status_id = _local(d.headers["Azure-AsyncOperation"])
    result_path, result_id = _local(d.headers["Location"])
    assert status_id == result_id
    assert client.get(f"{namespaces}/ns-del?api-version={NS_API}").json["properties"]["provisioningState"] == \
        "Deleting"
    refused = client.put(f"{namespaces}/ns-del?api-version={NS_API}", json={"location": "eastus"})
    assert refused.status_code == 409
    assert refused.json == {"error": {"code": "Conflict",
                                      "message": f"The resource '{namespaces}/ns-del' is being deleted."}}
    assert [client.get(result_path).status_code for _ in range(3)] == [202, 202, 204]
    assert client.get(status_path).json["status"] == "Succeeded"
    assert client.get(f"{namespaces}/ns-del?api-version={NS_API}").status_code == 404


def test_an_unknown_operation_is_404(client):
    for kind in ("operationStatuses", "operationResults"):
        r = client.get(f"/subscriptions/{SUB}/providers/Microsoft.DeviceRegistry/locations/eastus/{kind}/nope"
                       f"?api-version={NS_API}")
        assert r.status_code == 404
        assert r.json == {"error": {"code": "OperationNotFound", "message": "The operation 'nope' was not found."}}
