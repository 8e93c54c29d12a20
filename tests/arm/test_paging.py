"""Collection paging (provider/arm/paging.py): `$top`, the opaque `$skiptoken` and `nextLink`, in-process."""

from __future__ import annotations

import base64
import re

import pytest

from provider.arm.errors import ArmError
from provider.arm.paging import DEFAULT_PAGE_SIZE, decode_skiptoken, encode_skiptoken
from tests.support.arm_helpers import NS_API


def _create(client, collection: str, names: list[str]) -> None:
    for name in names:
        r = client.put(f"{collection}/{name}?api-version={NS_API}", json={"location": "eastus"})
        assert r.status_code == 201, r.get_data(as_text=True)


def _local(link: str) -> str:
    assert link.startswith("http://localhost/"), link  # the host the caller used
    return link.removeprefix("http://localhost")


def test_skiptoken_encoding_round_trips():
    assert encode_skiptoken(42) == "c2VxOjQy"  # base64url("seq:42") without padding
    assert decode_skiptoken("c2VxOjQy") == 42
    assert decode_skiptoken(None) == 0 and decode_skiptoken("") == 0
    for bad in ("garbage", base64.urlsafe_b64encode(b"row:1").decode(), "c2VxOng"):  # "seq:x"
        with pytest.raises(ArmError) as caught:
            decode_skiptoken(bad)
        assert (caught.value.status, caught.value.code) == (400, "InvalidSkipToken")


def test_top_pages_with_next_links_until_the_last_page(client, namespaces):
    names = [f"pg-{i}" for i in range(5)]
    _create(client, namespaces, names)
    link = f"{namespaces}?api-version={NS_API}&$top=2"
    pages = []
    while link:
        r = client.get(link)
        assert r.status_code == 200, r.get_data(as_text=True)
        pages.append([v["name"] for v in r.json["value"]])
        next_link = r.json.get("nextLink")
        if next_link is not None:
            token = re.search(r"\$skiptoken=([^&]+)", next_link).group(1)
            assert next_link == f"http://localhost{namespaces}?api-version={NS_API}&$skiptoken={token}&$top=2"
            assert base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().startswith("seq:")
            link = _local(next_link)
        else:
            assert set(r.json) == {"value"}  # no nextLink key at all on the last page
            link = None
    assert pages == [["pg-0", "pg-1"], ["pg-2", "pg-3"], ["pg-4"]]


def test_a_full_last_page_has_no_next_link(client, namespaces):
    _create(client, namespaces, ["full-a", "full-b"])
    r = client.get(f"{namespaces}?api-version={NS_API}&$top=2")
    assert [v["name"] for v in r.json["value"]] == ["full-a", "full-b"] and "nextLink" not in r.json


def test_pages_do_not_shift_when_resources_come_and_go_between_them(client, namespaces):
    _create(client, namespaces, ["st-a", "st-b", "st-c", "st-d"])
    first = client.get(f"{namespaces}?api-version={NS_API}&$top=2").json
    assert [v["name"] for v in first["value"]] == ["st-a", "st-b"]
    assert client.delete(f"{namespaces}/st-a?api-version={NS_API}").status_code == 202
    _create(client, namespaces, ["st-e"])
    second = client.get(_local(first["nextLink"])).json
    assert [v["name"] for v in second["value"]] == ["st-c", "st-d"]
    third = client.get(_local(second["nextLink"])).json
    assert [v["name"] for v in third["value"]] == ["st-e"] and "nextLink" not in third


def test_the_default_page_is_100_and_its_link_carries_no_top(client, group):
    collection = f"{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
    for i in range(DEFAULT_PAGE_SIZE + 1):
        r = client.put(f"{collection}/id-{i:03d}?api-version=2023-01-31", json={"location": "eastus"})
        assert r.status_code == 201, r.get_data(as_text=True)
    first = client.get(f"{collection}?api-version=2023-01-31").json
    assert DEFAULT_PAGE_SIZE == 100 and len(first["value"]) == 100
    assert first["value"][0]["name"] == "id-000" and first["value"][-1]["name"] == "id-099"
    assert "$top" not in first["nextLink"]
    second = client.get(_local(first["nextLink"])).json
    assert [v["name"] for v in second["value"]] == ["id-100"] and "nextLink" not in second


@pytest.mark.parametrize(("query", "code", "message", "target"), [
    ("$top=0", "InvalidParameter", "$top must be a positive integer.", "$top"),
    ("$top=-3", "InvalidParameter", "$top must be a positive integer.", "$top"),
    ("$top=two", "InvalidParameter", "The value 'two' of $top is not a valid integer.", "$top"),
    ("$skiptoken=garbage", "InvalidSkipToken", "The $skiptoken is not valid; use the nextLink the service returned.",
     None),
])
def test_bad_paging_parameters_are_400(client, namespaces, query, code, message, target):
    r = client.get(f"{namespaces}?api-version={NS_API}&{query}")
    assert r.status_code == 400
    expected = {"code": code, "message": message, **({"target": target} if target else {})}
    assert r.json == {"error": expected}
