"""DPS service API over real HTTPS: SAS auth and routing, enrollments, groups, bulk, query, ADR link."""

from __future__ import annotations

import base64
import time

import pytest
import requests

from tests.support.dps_helpers import (
    DpsEnv,
    add_policy,
    create_env,
    csr_b64,
    make_ca,
    new_key_b64,
    pem,
    unique,
)
from tests.support.emulator_process import Arm
from tests.support.spec_validation import validate_response, validator_for

PREVIEW_SPEC = "dps/2025-07-01-preview/service.json"
GA_SPEC = "dps/2026-11-01/service.json"


@pytest.fixture(scope="module")
def env(emulator) -> DpsEnv:
    arm = Arm(emulator.http)
    rg = unique("rg-dps-svc-")
    arm.group(rg)
    return create_env(arm, emulator, rg)


def sym(registration_id: str, **extra) -> dict:
    return {"registrationId": registration_id, "attestation": {"type": "symmetricKey"}, **extra}


def assert_dps_error(resp: requests.Response, status: int, code: int) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["errorCode"] == code, body
    assert resp.headers["x-ms-error-code"] == str(code)
    assert not list(validator_for(PREVIEW_SPEC, "ProvisioningServiceErrorDetails").iter_errors(body))
    return body


# ---- authentication and routing ---------------------------------------------------------------------------
def test_sas_authentication_and_routing(env):
    reg = unique("auth-")
    assert_dps_error(env.service("GET", f"/enrollments/{reg}", token=""), 401, 401000)
    assert_dps_error(env.service("GET", f"/enrollments/{reg}", token=env.service_token(key=new_key_b64())), 401,
                     401000)
    assert_dps_error(env.service("GET", f"/enrollments/{reg}", token=env.service_token(expiry=int(time.time()) - 5)),
                     401, 401001)
    assert_dps_error(env.service("GET", f"/enrollments/{reg}", token=env.service_token(key_name="nobody")), 401,
                     401000)
    assert_dps_error(env.service("GET", f"/enrollments/{reg}", token="SharedAccessSignature sr=x"), 401, 401000)
    unknown = env.service("GET", f"/enrollments/{reg}", token=env.service_token(resource="nope.example.net"))
    assert_dps_error(unknown, 404, 404001)
    # the token's sr may carry a path below the host, in any case
    ok = env.service("GET", f"/enrollments/{reg}", token=env.service_token(resource=env.service_host.upper() +
                                                                              "/enrollments"))
    assert_dps_error(ok, 404, 404002)
    # routing by Host header: a token for another DPS host is refused by this one
    other = env.service("GET", f"/enrollments/{reg}", headers={"Host": f"{env.service_host}:443"},
                        token=env.service_token(resource="other.azure-devices-provisioning.localhost"))
    assert_dps_error(other, 401, 401000)
    by_host = env.service("GET", f"/enrollments/{reg}", headers={"Host": env.service_host})
    assert_dps_error(by_host, 404, 404002)
    assert_dps_error(env.service("GET", f"/enrollments/{reg}", api_version=None), 400, 400005)
    assert_dps_error(env.service("GET", f"/enrollments/{reg}", api_version="2019-03-31"), 400, 400004)
    plain = env.service("GET", f"/enrollments/{reg}", base=env.http)
    assert_dps_error(plain, 404, 404002)


# ---- individual enrollments -----------------------------------------------------------------------------
def test_individual_enrollment_lifecycle(env):
    reg = unique("ind-")
    created = env.service("PUT", f"/enrollments/{reg}", sym(reg, initialTwin={"tags": {"site": {"floor": 3}}}))
    assert created.status_code == 200, created.text
    body = created.json()
    validate_response(PREVIEW_SPEC, "IndividualEnrollment_CreateOrUpdate", 200, body)
    keys = body["attestation"]["symmetricKey"]
    assert len(base64.b64decode(keys["primaryKey"])) == 64 and keys["primaryKey"] != keys["secondaryKey"]
    assert body["provisioningStatus"] == "enabled" and body["capabilities"] == {"iotEdge": False}
    assert body["reprovisionPolicy"] == {"updateHubAssignment": True, "migrateDeviceData": True}
    got = env.service("GET", f"/enrollments/{reg}")
    assert got.status_code == 200
    validate_response(PREVIEW_SPEC, "IndividualEnrollment_Get", 200, got.json())
    assert got.json()["attestation"]["symmetricKey"] == {}  # keys only through attestationmechanism
    mechanism = env.service("POST", f"/enrollments/{reg}/attestationmechanism")
    assert mechanism.status_code == 200 and mechanism.json()["symmetricKey"] == keys
    # If-Match: a stale etag is refused, the current one (or *) accepted; keys survive a GET-modify-PUT
    stale = env.service("PUT", f"/enrollments/{reg}", got.json(), headers={"If-Match": '"stale"'})
    assert_dps_error(stale, 412, 412000)
    updated = env.service("PUT", f"/enrollments/{reg}", {**got.json(), "provisioningStatus": "disabled"},
                          headers={"If-Match": got.json()["etag"]})
    assert updated.status_code == 200, updated.text
    assert updated.json()["etag"] != got.json()["etag"]
    assert updated.json()["attestation"]["symmetricKey"] == keys
    assert updated.json()["createdDateTimeUtc"] == body["createdDateTimeUtc"]
    assert_dps_error(env.service("DELETE", f"/enrollments/{reg}", headers={"If-Match": got.json()["etag"]}), 412,
                     412000)
    deleted = env.service("DELETE", f"/enrollments/{reg}", headers={"If-Match": "*"})
    assert deleted.status_code == 204 and not deleted.content
    assert_dps_error(env.service("GET", f"/enrollments/{reg}"), 404, 404002)
    assert_dps_error(env.service("DELETE", f"/enrollments/{reg}"), 404, 404002)
    assert_dps_error(env.service("PUT", f"/enrollments/{reg}", sym(reg), headers={"If-Match": '"x"'}), 412, 412000)


@pytest.mark.parametrize("body,code", [
    ({"registrationId": "other-id", "attestation": {"type": "symmetricKey"}}, 400007),
    ({"attestation": {"type": "symmetricKey"}}, 400006),
    ({"registrationId": "{id}"}, 400006),
    ({"registrationId": "{id}", "attestation": {"type": "magic"}}, 400006),
    ({"registrationId": "{id}", "attestation": {"type": "symmetricKey", "symmetricKey": {"primaryKey": "c2hvcnQ="}}},
     400006),
    ({"registrationId": "{id}", "attestation": {"type": "x509", "x509": {"clientCertificates": {"primary": {
        "certificate": "not a certificate"}}}}}, 400006),
    ({"registrationId": "{id}", "attestation": {"type": "symmetricKey"}, "allocationPolicy": "random"}, 400006),
    ({"registrationId": "{id}", "attestation": {"type": "symmetricKey"}, "iotHubs": ["elsewhere.azure-devices.net"]},
     400030),
    ({"registrationId": "{id}", "attestation": {"type": "symmetricKey"}, "credentialPolicyName": "missing"}, 400012),
    ({"registrationId": "{id}", "attestation": {"type": "symmetricKey"}, "certificatePolicyName": "default"}, 400015),
    ({"registrationId": "{id}", "attestation": {"type": "symmetricKey"}, "deviceId": "x", "credentialPolicyName":
      "default"}, 400049),
    ([1, 2], 400001),
])
def test_invalid_enrollments(env, body, code):
    reg = unique("inv-")
    if isinstance(body, dict):
        body = {k: (reg if v == "{id}" else v) for k, v in body.items()}
    assert_dps_error(env.service("PUT", f"/enrollments/{reg}", body), 400, code)


def test_malformed_json_and_unknown_paths(env):
    r = requests.put(f"{env.https}/enrollments/x?api-version=2021-10-01", data="{nope", verify=env.ca_file,
                     headers={"Authorization": env.service_token(), "Content-Type": "application/json"}, timeout=10)
    assert_dps_error(r, 400, 400001)
    assert_dps_error(env.service("PATCH", "/enrollments/x", {}), 405, 405000)
    assert_dps_error(env.service("GET", "/enrollments/x/y/z"), 404, 404000)


# ---- the ADR link ----------------------------------------------------------------------------------------
def test_adr_link_in_both_api_versions(env, arm):
    add_policy(arm, env, "second")
    reg = unique("link-")
    preview = env.service("PUT", f"/enrollments/{reg}", sym(reg, credentialPolicyName="second"))
    assert preview.status_code == 200, preview.text
    ga = env.service("GET", f"/enrollments/{reg}", api_version="2026-11-01").json()
    assert (ga["namespaceName"], ga["certificateAuthorityName"], ga["certificatePolicyName"]) == \
        (env.namespace, "default", "second")
    assert "credentialPolicyName" not in ga
    old = env.service("GET", f"/enrollments/{reg}", api_version="2021-10-01").json()
    assert not {"credentialPolicyName", "certificatePolicyName"} & set(old)
    # an old client's PUT keeps the link it cannot express
    env.service("PUT", f"/enrollments/{reg}", {**old, "provisioningStatus": "enabled"}, api_version="2021-10-01")
    assert env.service("GET", f"/enrollments/{reg}").json()["credentialPolicyName"] == "second"
    group = unique("lgrp-")
    body = {"enrollmentGroupId": group, "attestation": {"type": "symmetricKey"}, "namespaceName": env.namespace,
            "certificateAuthorityName": "issuing-1", "certificatePolicyName": "default"}
    r = env.service("PUT", f"/enrollmentGroups/{group}", body, api_version="2026-11-01")
    assert r.status_code == 200, r.text
    validate_response(GA_SPEC, "EnrollmentGroup_CreateOrUpdate", 200, r.json())
    assert r.json()["certificateAuthorityName"] == "issuing-1"
    assert env.service("GET", f"/enrollmentGroups/{group}").json()["credentialPolicyName"] == "default"
    partial = {k: v for k, v in body.items() if k != "certificateAuthorityName"}
    assert_dps_error(env.service("PUT", f"/enrollmentGroups/{group}", partial, api_version="2026-11-01"), 400,
                     400014)
    wrong_ns = {**body, "namespaceName": "some-other-ns"}
    assert_dps_error(env.service("PUT", f"/enrollmentGroups/{group}", wrong_ns, api_version="2026-11-01"), 400,
                     400012)
    bad_name = {**body, "certificatePolicyName": "-bad"}
    assert_dps_error(env.service("PUT", f"/enrollmentGroups/{group}", bad_name, api_version="2026-11-01"), 400,
                     400006)
    with_preview_field = {**body, "credentialPolicyName": "default"}
    assert_dps_error(env.service("PUT", f"/enrollmentGroups/{group}", with_preview_field, api_version="2026-11-01"),
                     400, 400015)
    unlinked = env.service("PUT", f"/enrollmentGroups/{group}", {k: v for k, v in body.items() if k not in (
        "namespaceName", "certificateAuthorityName", "certificatePolicyName")}, api_version="2026-11-01")
    assert unlinked.status_code == 200
    assert "credentialPolicyName" not in env.service("GET", f"/enrollmentGroups/{group}").json()


def test_link_needs_a_namespace_on_the_dps(emulator, arm):
    rg = unique("rg-nolink-")
    arm.group(rg)
    bare = create_env(arm, emulator, rg, link_namespace=False)
    reg = unique("nl-")
    assert_dps_error(bare.service("PUT", f"/enrollments/{reg}", sym(reg, credentialPolicyName="default")), 400,
                     400013)


# ---- groups, bulk, query -------------------------------------------------------------------------------
def test_enrollment_groups_x509_and_symmetric(env):
    _, ca = make_ca(unique("grp ca "))
    group = unique("xg-")
    body = {"enrollmentGroupId": group, "attestation": {"type": "x509", "x509": {"signingCertificates": {
        "primary": {"certificate": pem(ca)}}}}, "allocationPolicy": "hashed", "iotHubs": [env.hub_host]}
    r = env.service("PUT", f"/enrollmentGroups/{group}", body)
    assert r.status_code == 200, r.text
    got = env.service("GET", f"/enrollmentGroups/{group}")
    validate_response(PREVIEW_SPEC, "EnrollmentGroup_Get", 200, got.json())
    primary = got.json()["attestation"]["x509"]["signingCertificates"]["primary"]
    assert "certificate" not in primary and primary["info"]["subjectName"] == ca.subject.rfc4514_string()
    mechanism = env.service("POST", f"/enrollmentGroups/{group}/attestationmechanism").json()
    assert mechanism["x509"]["signingCertificates"]["primary"]["certificate"] == pem(ca)
    client_certs = {"enrollmentGroupId": group, "attestation": {"type": "x509", "x509": {"clientCertificates": {
        "primary": {"certificate": pem(ca)}}}}}
    assert_dps_error(env.service("PUT", f"/enrollmentGroups/{group}", client_certs), 400, 400006)
    tpm = {"enrollmentGroupId": group, "attestation": {"type": "tpm", "tpm": {"endorsementKey": "AAAA"}}}
    assert_dps_error(env.service("PUT", f"/enrollmentGroups/{group}", tpm), 400, 400006)
    assert env.service("DELETE", f"/enrollmentGroups/{group}").status_code == 204


def test_query_pages_with_continuation(emulator, arm):
    rg = unique("rg-query-")
    arm.group(rg)
    env = create_env(arm, emulator, rg)
    ids = [unique(f"q{i}-") for i in range(5)]
    for reg in ids:
        env.put_enrollment(sym(reg))
    seen, continuation, pages = [], None, 0
    while True:
        headers = {"x-ms-max-item-count": "2", **({"x-ms-continuation": continuation} if continuation else {})}
        r = env.service("POST", "/enrollments/query", {"query": "SELECT * FROM enrollments"}, headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["x-ms-item-type"] == "Enrollment" and r.headers["x-ms-max-item-count"] == "2"
        assert all(item["attestation"]["symmetricKey"] == {} for item in r.json())
        seen += [item["registrationId"] for item in r.json()]
        pages += 1
        continuation = r.headers.get("x-ms-continuation")
        if not continuation:
            break
    assert seen == ids and pages == 3
    assert_dps_error(env.service("POST", "/enrollments/query", {}), 400, 400008)
    assert_dps_error(env.service("POST", "/enrollments/query", {"query": "SELECT * FROM x WHERE y = 1"}), 400,
                     400008)
    assert_dps_error(env.service("POST", "/enrollments/query", {"query": "*"}, headers={"x-ms-continuation": "@@"}),
                     400, 400008)
    assert_dps_error(env.service("POST", "/enrollments/query", {"query": "*"}, headers={"x-ms-max-item-count": "0"}),
                     400, 400008)
    groups = env.service("POST", "/enrollmentGroups/query", {"query": "*"})
    assert groups.status_code == 200 and groups.json() == [] and groups.headers["x-ms-item-type"] == "EnrollmentGroup"


def test_bulk_operations(env):
    a, b, c = unique("b1-"), unique("b2-"), unique("b3-")
    r = env.service("POST", "/enrollments", {"mode": "create", "enrollments": [sym(a), sym(b), {"registrationId": c}]})
    assert r.status_code == 200, r.text
    validate_response(PREVIEW_SPEC, "IndividualEnrollment_RunBulkOperation", 200, r.json())
    result = r.json()
    assert result["isSuccessful"] is False
    assert [(e["registrationId"], e["errorCode"]) for e in result["errors"]] == [(c, 400006)]
    again = env.service("POST", "/enrollments", {"mode": "create", "enrollments": [sym(a)]}).json()
    assert again["errors"][0]["errorCode"] == 409001
    etag = env.service("GET", f"/enrollments/{a}").json()["etag"]
    update = env.service("POST", "/enrollments", {"mode": "updateIfMatchETag", "enrollments": [
        {**sym(a), "etag": etag, "provisioningStatus": "disabled"}, {**sym(b), "etag": '"old"'}]}).json()
    assert [(e["registrationId"], e["errorCode"]) for e in update["errors"]] == [(b, 412000)]
    assert env.service("GET", f"/enrollments/{a}").json()["provisioningStatus"] == "disabled"
    deleted = env.service("POST", "/enrollments", {"mode": "delete", "enrollments": [sym(a), sym(b)]}).json()
    assert deleted == {"isSuccessful": True, "errors": []}
    too_many = {"mode": "create", "enrollments": [sym(unique("m-")) for _ in range(11)]}
    assert_dps_error(env.service("POST", "/enrollments", too_many), 400, 400009)
    assert_dps_error(env.service("POST", "/enrollments", {"mode": "merge", "enrollments": [sym(a)]}), 400, 400001)
    group = unique("bg-")
    groups = env.service("POST", "/enrollmentGroups", {"mode": "update", "enrollmentGroups": [
        {"enrollmentGroupId": group, "attestation": {"type": "symmetricKey"}}]})
    assert groups.json() == {"isSuccessful": True, "errors": []}


# ---- registration states ----------------------------------------------------------------------------------
def test_registration_states(env):
    reg = unique("state-")
    key = env.put_enrollment(sym(reg, credentialPolicyName="default"))["attestation"]["symmetricKey"]["primaryKey"]
    assert_dps_error(env.service("GET", f"/registrations/{reg}"), 404, 404003)
    env.provision(reg, key=key, csr=csr_b64(reg)[1])
    state = env.service("GET", f"/registrations/{reg}")
    assert state.status_code == 200
    validate_response(PREVIEW_SPEC, "DeviceRegistrationState_Get", 200, state.json())
    body = state.json()
    assert body["assignedHub"] == env.hub_host and body["status"] == "assigned"
    assert body["issuedCertificate"]["policyResourceId"].lower().endswith("/policies/default")
    assert "issuedCertificateChain" not in body
    assert env.service("GET", f"/enrollments/{reg}").json()["registrationState"]["etag"] == body["etag"]
    assert_dps_error(env.service("DELETE", f"/registrations/{reg}", headers={"If-Match": '"nope"'}), 412, 412000)
    assert env.service("DELETE", f"/registrations/{reg}", headers={"If-Match": body["etag"]}).status_code == 204
    assert_dps_error(env.service("GET", f"/registrations/{reg}"), 404, 404003)
    assert_dps_error(env.service("POST", f"/registrations/{unique('nogroup-')}/query"), 404, 404002)


def test_rights_of_a_read_only_policy(emulator, arm):
    rg = unique("rg-rights-")
    arm.group(rg)
    env = create_env(arm, emulator, rg)
    dps = arm.get(env.dps_path, api_version="2025-02-01-preview").json()
    reader_key = new_key_b64()
    props = dps["properties"]
    props["authorizationPolicies"] = [
        {"keyName": "provisioningserviceowner", "rights": "ServiceConfig, DeviceConnect, EnrollmentWrite",
         "primaryKey": env.owner_key, "secondaryKey": new_key_b64()},
        {"keyName": "reader", "rights": "EnrollmentRead", "primaryKey": reader_key, "secondaryKey": new_key_b64()}]
    r = arm.put(env.dps_path, {k: dps[k] for k in ("location", "sku", "identity", "properties")},
                api_version="2025-02-01-preview")
    assert r.status_code == 200, r.text
    reg = unique("ro-")
    env.put_enrollment(sym(reg))
    token = env.service_token(key=reader_key, key_name="reader")
    assert env.service("GET", f"/enrollments/{reg}", token=token).status_code == 200
    assert_dps_error(env.service("DELETE", f"/enrollments/{reg}", token=token), 401, 401005)
    assert_dps_error(env.service("GET", f"/registrations/{reg}", token=token), 401, 401005)
