"""If-Match / If-None-Match (provider/arm/handlers.py `check_conditions`), in-process.

412 PreconditionFailed when a condition fails; a PATCH of a missing resource is the 404 that follows; a
write to a resource that is being deleted is 409 (see tests/arm/test_lro.py).
"""

from __future__ import annotations

import re

import pytest

from provider.arm.errors import ArmError
from provider.arm.handlers import check_conditions
from tests.support.arm_helpers import NS_API

MISSING = "The resource does not exist, so If-Match cannot be satisfied."
EXISTS = "The resource already exists (If-None-Match: *)."


def _precondition_failed(r, message: str) -> None:
    assert r.status_code == 412, r.get_data(as_text=True)
    assert r.json == {"error": {"code": "PreconditionFailed", "message": message}}


@pytest.fixture()
def ns(client, namespaces) -> tuple[str, str]:
    """(URL of namespace `ns-etag`, its current ETag)."""
    url = f"{namespaces}/ns-etag?api-version={NS_API}"
    r = client.put(url, json={"location": "eastus"})
    assert r.status_code == 201
    return url, r.headers["ETag"]


def test_etags_are_quoted_and_change_on_every_write(client, ns):
    url, etag = ns
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    got = client.get(url)
    assert got.headers["ETag"] == etag and got.json.get("etag", etag) == etag
    again = client.put(url, json={"location": "eastus"})
    assert again.status_code == 200 and again.headers["ETag"] != etag


def test_put_if_match_on_a_missing_resource_is_412(client, namespaces):
    for value in ("*", '"abc"'):
        r = client.put(f"{namespaces}/ns-none?api-version={NS_API}", json={"location": "eastus"},
                       headers={"If-Match": value})
        _precondition_failed(r, MISSING)
    assert client.get(f"{namespaces}/ns-none?api-version={NS_API}").status_code == 404


def test_put_if_none_match_star_creates_once_then_is_412(client, namespaces):
    url = f"{namespaces}/ns-once?api-version={NS_API}"
    assert client.put(url, json={"location": "eastus"}, headers={"If-None-Match": "*"}).status_code == 201
    _precondition_failed(client.put(url, json={"location": "eastus"}, headers={"If-None-Match": "*"}), EXISTS)
    # only `*` is a condition here; another value does not stop a replace
    assert client.put(url, json={"location": "eastus"}, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize("form", ["quoted", "bare", "weak", "star"])
def test_put_if_match_accepts_the_etag_in_every_form(client, ns, form):
    url, etag = ns
    bare = etag.strip('"')
    value = {"quoted": etag, "bare": bare, "weak": f'W/"{bare}"', "star": "*"}[form]
    r = client.put(url, json={"location": "eastus", "tags": {"f": form}}, headers={"If-Match": value})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.json["tags"] == {"f": form}


def test_a_stale_etag_is_412_for_put_patch_and_delete(client, ns):
    url, etag = ns
    stale = etag
    fresh = client.put(url, json={"location": "eastus"}, headers={"If-Match": etag}).headers["ETag"]
    message = f"The condition If-Match '{stale}' does not match the current ETag."
    _precondition_failed(client.put(url, json={"location": "eastus"}, headers={"If-Match": stale}), message)
    _precondition_failed(client.patch(url, json={"tags": {}}, headers={"If-Match": stale}), message)
    _precondition_failed(client.delete(url, headers={"If-Match": stale}), message)
    assert client.get(url).headers["ETag"] == fresh  # nothing was written
    patched = client.patch(url, json={"tags": {"p": "1"}}, headers={"If-Match": fresh})
    assert patched.status_code == 200 and patched.headers["ETag"] != fresh
    assert client.delete(url, headers={"If-Match": patched.headers["ETag"]}).status_code == 202
    assert client.get(url).status_code == 404


def test_patch_if_match_on_a_missing_resource_is_the_404(client, namespaces):
    r = client.patch(f"{namespaces}/ns-none?api-version={NS_API}", json={"tags": {}}, headers={"If-Match": "*"})
    assert r.status_code == 404 and r.json["error"]["code"] == "ResourceNotFound"


def test_delete_if_match_on_a_missing_resource_is_412_and_without_it_204(client, namespaces):
    url = f"{namespaces}/ns-none?api-version={NS_API}"
    _precondition_failed(client.delete(url, headers={"If-Match": "*"}), MISSING)
    assert client.delete(url).status_code == 204


@pytest.mark.parametrize(("existing", "if_match", "if_none_match", "method", "message"), [
    (None, "*", None, "PUT", MISSING),
    (None, "*", None, "DELETE", MISSING),
    ({"etag": '"e1"'}, '"e2"', None, "PUT", "The condition If-Match '\"e2\"' does not match the current ETag."),
    ({}, '"e1"', None, "PATCH", "The condition If-Match '\"e1\"' does not match the current ETag."),  # no etag
    ({"etag": '"e1"'}, None, "*", "PUT", EXISTS),
])
def test_check_conditions_refusals(existing, if_match, if_none_match, method, message):
    with pytest.raises(ArmError) as caught:
        check_conditions(existing, if_match, if_none_match, method)
    assert (caught.value.status, caught.value.code, caught.value.message) == (412, "PreconditionFailed", message)


@pytest.mark.parametrize(("existing", "if_match", "if_none_match", "method"), [
    (None, None, None, "PUT"),
    (None, "*", None, "PATCH"),  # the 404 follows
    (None, None, "*", "PUT"),
    ({"etag": '"e1"'}, ' "e1" ', None, "PUT"),
    ({"etag": '"e1"'}, "W/\"e1\"", None, "DELETE"),
    ({"etag": '"e1"'}, None, "*", "PATCH"),  # If-None-Match only guards a PUT
    ({"etag": '"e1"'}, None, '"e1"', "PUT"),
])
def test_check_conditions_passes(existing, if_match, if_none_match, method):
    assert check_conditions(existing, if_match, if_none_match, method) is None
