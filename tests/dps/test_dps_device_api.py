"""DPS device API over real HTTPS: attestation, hub allocation, ADR certificate issuance, errors.

Every test talks to the emulator over HTTPS the way a device does (SAS tokens, TLS client
certificates, base64 DER CSRs) and checks the results through the public APIs: the DPS service
API, the IoT Hub service API and ARM.
"""

from __future__ import annotations

import base64
import os
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store

from provider.dps.sas import generate_sas
from provider.pki.verify import revocation_id_of
from tests.support.adr_setup import ns_path
from tests.support.dps_helpers import (
    add_policy,
    chain_from,
    create_env,
    csr_b64,
    group_device_key,
    make_ca,
    make_device_cert,
    new_key_b64,
    openssl_verify,
    pem,
    unique,
    write_client_files,
)
from tests.support.emulator_process import ROOT, Arm
from tests.support.spec_validation import validate_response, validator_for

DEVICE_SPEC = "dps/2025-07-01-preview/device.json"
ADR_API = "2026-03-01-preview"


@pytest.fixture(scope="module")
def env(emulator):
    arm = Arm(emulator.http)
    rg = unique("rg-dps-dev-")
    arm.group(rg)
    return create_env(arm, emulator, rg)


def sym_enrollment(env, registration_id: str, policy: str | None = "default", **extra) -> str:
    key = new_key_b64()
    body = {"registrationId": registration_id, "attestation": {"type": "symmetricKey",
                                                                "symmetricKey": {"primaryKey": key}}, **extra}
    if policy:
        body["credentialPolicyName"] = policy
    env.put_enrollment(body)
    return key


def sym_group(env, group_id: str, policy: str | None = "default", **extra) -> str:
    key = new_key_b64()
    body = {"enrollmentGroupId": group_id, "attestation": {"type": "symmetricKey",
                                                           "symmetricKey": {"primaryKey": key}}, **extra}
    if policy:
        body["credentialPolicyName"] = policy
    env.put_enrollment(body, group=True)
    return key


def assert_dps_error(resp: requests.Response, status: int, code: int) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["errorCode"] == code, body
    assert resp.headers["x-ms-error-code"] == str(code)
    assert body["trackingId"] and body["message"] and body["timestampUtc"].endswith("Z")
    errors = list(validator_for(DEVICE_SPEC, "ProvisioningServiceErrorDetails").iter_errors(body))
    assert not errors, errors
    return body


def verify_issued(env, operation: dict, registration_id: str) -> x509.Certificate:
    """The chain is [leaf, ICA, root], ends at the namespace root and verifies two ways."""
    chain = chain_from(operation)
    assert len(chain) == 3
    leaf, ica, root = chain
    assert root.public_bytes(serialization.Encoding.PEM).decode() == env.root_pem
    assert ica.public_bytes(serialization.Encoding.PEM).decode() == env.ica_pem
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == registration_id
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.signature_hash_algorithm.name == "sha384"
    result = openssl_verify(env.root_pem, env.ica_pem, leaf)
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result.stdout + result.stderr
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    verifier = (PolicyBuilder().store(Store([root])).time(datetime.now(UTC))
                .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
                .build_client_verifier())
    verified = verifier.verify(leaf, [ica])
    assert verified.chain[-1] == root
    return leaf


def adr_device(arm, env, name: str) -> requests.Response:
    return arm.get(f"{ns_path(env.rg, env.namespace)}/devices/{name}", api_version=ADR_API)


# ---- symmetric key ---------------------------------------------------------------------------------
def test_symmetric_individual_with_csr_issues_chain_and_creates_devices(env, arm):
    reg = unique("sym-")
    key = sym_enrollment(env, reg)
    r = env.register(reg, key=key, csr=csr_b64(reg)[1])
    assert r.status_code == 202, r.text
    validate_response(DEVICE_SPEC, "RuntimeRegistration_RegisterDeviceAndIssueCertificate", 202, r.json())
    assert r.headers["Location"].endswith(f"/{env.id_scope}/registrations/{reg}/register")
    polled = env.poll(reg, r.json()["operationId"], key=key)
    assert polled.status_code == 200
    op = polled.json()
    validate_response(DEVICE_SPEC, "RuntimeRegistration_OperationStatusLookup", 200, op)
    state = op["registrationState"]
    assert state["assignedHub"] == env.hub_host and state["deviceId"] == reg
    assert state["status"] == "assigned" and state["substatus"] == "initialAssignment"
    assert state["symmetricKey"] == {}
    verify_issued(env, op, reg)
    hub_device = env.hub_device(reg)
    assert hub_device.status_code == 200, hub_device.text
    assert hub_device.json()["authentication"]["type"] == "certificateAuthority"
    device = adr_device(arm, env, reg)
    assert device.status_code == 200, device.text
    assert device.json()["properties"]["policy"]["resourceId"].lower().endswith("/policies/default")
    assert device.json()["properties"]["enabled"] is True


def test_symmetric_individual_without_csr_and_token_without_skn(env):
    reg = unique("sym-nocsr-")
    key = sym_enrollment(env, reg, policy=None)
    op = env.provision(reg, token=env.device_token(reg, key, skn=None))
    assert "issuedCertificateChain" not in op["registrationState"]
    auth = env.hub_device(reg).json()["authentication"]
    assert auth["type"] == "sas" and auth["symmetricKey"]["primaryKey"] == key


def test_symmetric_group_with_and_without_csr(env, arm):
    group = unique("grp-")
    group_key = sym_group(env, group)
    with_csr, without = unique("gdev-"), unique("gdev-")
    op = env.provision(with_csr, key=group_device_key(group_key, with_csr), csr=csr_b64(with_csr)[1])
    assert op["registrationState"]["symmetricKey"] == {"enrollmentGroupId": group}
    verify_issued(env, op, with_csr)
    assert env.hub_device(with_csr).json()["authentication"]["type"] == "certificateAuthority"
    device_key = group_device_key(group_key, without)
    op2 = env.provision(without, key=device_key)
    assert "issuedCertificateChain" not in op2["registrationState"]
    assert env.hub_device(without).json()["authentication"]["symmetricKey"]["primaryKey"] == device_key
    assert adr_device(arm, env, without).status_code == 200  # linked enrollment: ADR device even without a CSR
    states = env.service("POST", f"/registrations/{group}/query")
    assert states.status_code == 200
    assert sorted(s["registrationId"] for s in states.json()) == sorted([with_csr, without])
    # the group key itself (not derived) does not authenticate a member
    assert_dps_error(env.register(unique("gdev-"), key=group_key), 401, 401003)


def test_renewal_issues_a_new_certificate_and_records_it(env):
    reg = unique("renew-")
    key = sym_enrollment(env, reg)
    first = chain_from(env.provision(reg, key=key, csr=csr_b64(reg)[1]))[0]
    record1 = env.service("GET", f"/registrations/{reg}").json()
    second_op = env.provision(reg, key=key, csr=csr_b64(reg)[1])
    second = chain_from(second_op)[0]
    assert second.serial_number != first.serial_number and second.public_key() != first.public_key()
    assert second_op["registrationState"]["deviceId"] == reg
    record2 = env.service("GET", f"/registrations/{reg}").json()
    assert record2["createdDateTimeUtc"] == record1["createdDateTimeUtc"]
    assert int(record2["issuedCertificate"]["serialNumber"], 16) == second.serial_number
    assert record2["issuedCertificate"]["notAfterUtc"] == second.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    # re-registering without a CSR keeps the last issuance on record
    env.provision(reg, key=key)
    assert env.service("GET", f"/registrations/{reg}").json()["issuedCertificate"] == record2["issuedCertificate"]


def test_revoked_device_gets_a_certificate_with_the_new_revocation_id(env, arm):
    reg = unique("rev-")
    key = sym_enrollment(env, reg)
    before = chain_from(env.provision(reg, key=key, csr=csr_b64(reg)[1]))[0]
    r = arm.post(f"{ns_path(env.rg, env.namespace)}/devices/{reg}/revoke", {}, api_version=ADR_API)
    assert r.status_code in (200, 202), r.text
    after = chain_from(env.provision(reg, key=key, csr=csr_b64(reg)[1]))[0]
    assert revocation_id_of(before) and revocation_id_of(after) and revocation_id_of(before) != revocation_id_of(after)


# ---- X.509 ------------------------------------------------------------------------------------------
def test_x509_individual_with_and_without_csr(env, tmp_path):
    reg = unique("x509-")
    key, cert = make_device_cert(reg)
    env.put_enrollment({"registrationId": reg, "credentialPolicyName": "default",
                        "attestation": {"type": "x509", "x509": {"clientCertificates": {"primary": {
                            "certificate": pem(cert)}}}}})
    client = write_client_files(tmp_path, reg, key, [cert])
    with requests.Session() as s:
        op = env.provision(reg, cert=client, session=s)
        state = op["registrationState"]
        assert state["x509"]["certificateInfo"]["subjectName"] == f"CN={reg}"
        assert "issuedCertificateChain" not in state
        assert env.hub_device(reg).json()["authentication"]["type"] == "selfSigned"
        op2 = env.provision(reg, cert=client, csr=csr_b64(reg)[1], session=s)
    verify_issued(env, op2, reg)
    assert env.hub_device(reg).json()["authentication"]["type"] == "certificateAuthority"


def test_x509_group_with_and_without_csr_through_an_intermediate(env, tmp_path):
    root_key, root = make_ca(unique("Contoso root "))
    ica_key, ica = make_ca(unique("Contoso ica "), issuer=root, issuer_key=root_key)
    group = unique("xgrp-")
    env.put_enrollment({"enrollmentGroupId": group, "credentialPolicyName": "default",
                        "attestation": {"type": "x509", "x509": {"signingCertificates": {"primary": {
                            "certificate": pem(root)}}}}}, group=True)
    for with_csr in (False, True):
        reg = unique("xdev-")
        key, cert = make_device_cert(reg, issuer=ica, issuer_key=ica_key)
        client = write_client_files(tmp_path, reg, key, [cert, ica])
        with requests.Session() as s:
            op = env.provision(reg, cert=client, csr=csr_b64(reg)[1] if with_csr else None, session=s)
        x = op["registrationState"]["x509"]
        assert x["enrollmentGroupId"] == group
        assert x["signingCertificateInfo"]["subjectName"] == root.subject.rfc4514_string()
        if with_csr:
            verify_issued(env, op, reg)
        else:
            assert "issuedCertificateChain" not in op["registrationState"]
        assert env.hub_device(reg).json()["authentication"]["type"] == "certificateAuthority"


def test_x509_refusals(env, tmp_path):
    reg = unique("xbad-")
    key, cert = make_device_cert(reg)
    env.put_enrollment({"registrationId": reg, "attestation": {"type": "x509", "x509": {"clientCertificates": {
        "primary": {"certificate": pem(cert)}}}}})
    other_key, other = make_device_cert(reg)  # same CN, not the enrolled certificate
    env.put_enrollment({"registrationId": unique("holder-"), "attestation": {"type": "x509", "x509": {
        "clientCertificates": {"primary": {"certificate": pem(other)}}}}})  # so that TLS accepts it
    with requests.Session() as s:
        assert_dps_error(env.register(reg, cert=write_client_files(tmp_path, "o", other_key, [other]), session=s),
                         401, 401004)
    with requests.Session() as s:  # CN is not the registration id in the path
        resp = env.register("someone-else", cert=write_client_files(tmp_path, "k", key, [cert]), session=s,
                            body={"registrationId": "someone-else"})
        assert_dps_error(resp, 401, 401004)


# ---- refusals: enrollment, ADR, hub, CSR -----------------------------------------------------------------
def test_csr_without_linked_policy_is_refused(env):
    reg = unique("nopol-")
    key = sym_enrollment(env, reg, policy=None)
    body = assert_dps_error(env.register(reg, key=key, csr=csr_b64(reg)[1]), 400, 400011)
    assert "not linked" in body["message"]
    assert env.hub_device(reg).status_code == 404  # nothing was written


def test_disabled_enrollment_and_disabled_adr_device(env, arm):
    reg = unique("dis-")
    key = sym_enrollment(env, reg, provisioningStatus="disabled")
    assert_dps_error(env.register(reg, key=key, csr=csr_b64(reg)[1]), 403, 403001)
    reg2 = unique("adrdis-")
    key2 = sym_enrollment(env, reg2)
    env.provision(reg2, key=key2, csr=csr_b64(reg2)[1])
    r = arm.post(f"{ns_path(env.rg, env.namespace)}/devices/{reg2}/revoke", {"disable": True}, api_version=ADR_API)
    assert r.status_code in (200, 202), r.text
    body = assert_dps_error(env.register(reg2, key=key2, csr=csr_b64(reg2)[1]), 403, 403002)
    assert reg2 in body["message"]


@pytest.mark.parametrize("case,code", [
    ("bad-signature", 400043), ("cn-mismatch", 400044), ("rsa-1024", 400045), ("p256", 400045),
    ("not-base64", 400041), ("truncated", 400042)])
def test_malformed_csrs_have_their_own_errors(env, case, code):
    reg = unique("csr-")
    key = sym_enrollment(env, reg)
    if case == "bad-signature":
        _, csr = csr_b64(reg)
        der = bytearray(base64.b64decode(csr))
        der[-5] ^= 0x55
        csr = base64.b64encode(bytes(der)).decode()
    elif case == "cn-mismatch":
        csr = csr_b64("not-" + reg)[1]
    elif case == "rsa-1024":
        csr = csr_b64(reg, key=rsa.generate_private_key(65537, 1024), hash_alg=hashes.SHA256())[1]
    elif case == "p256":
        csr = csr_b64(reg, key=ec.generate_private_key(ec.SECP256R1()))[1]
    elif case == "not-base64":
        csr = "this is not base64!!"
    else:
        csr = csr_b64(reg)[1][:120]
    body = assert_dps_error(env.register(reg, key=key, csr=csr), 400, code)
    assert body["info"]["reason"]
    assert env.hub_device(reg).status_code == 404 and env.service("GET", f"/registrations/{reg}").status_code == 404


def test_assigned_hub_not_linked_and_unknown_tpm(env, arm, emulator):
    env2 = create_env(arm, emulator, env.rg)
    reg = unique("static-")
    key = sym_enrollment(env2, reg, iotHubHostName=env2.hub_host, allocationPolicy="static")
    # unlink the enrollment's hub: link the DPS to the first environment's hub only
    owner = arm.post(f"resourceGroups/{env.rg}/providers/Microsoft.Devices/IotHubs/{env.hub_name}/listkeys",
                     api_version="2025-08-01-preview").json()["value"][0]
    dps = arm.get(env2.dps_path, api_version="2025-02-01-preview").json()
    dps["properties"]["iotHubs"] = [{"connectionString": f"HostName={env.hub_host};SharedAccessKeyName="
                                                         f"{owner['keyName']};SharedAccessKey={owner['primaryKey']}",
                                     "location": "eastus"}]
    r = arm.put(env2.dps_path, {k: dps[k] for k in ("location", "sku", "identity", "properties")},
                api_version="2025-02-01-preview")
    assert r.status_code == 200, r.text
    body = assert_dps_error(env2.register(reg, key=key, csr=csr_b64(reg)[1]), 400, 400030)
    assert env2.hub_host in body["message"]
    # a TPM's keys for a registration whose enrollment is not a TPM enrollment: no challenge
    assert_dps_error(env2.register(reg, body={"registrationId": reg, "tpm": {"endorsementKey": "AAAA"}}),
                     401, 401003)


# ---- refusals: request shape and SAS ------------------------------------------------------------------------
def test_bad_requests(env):
    reg = unique("bad-")
    key = sym_enrollment(env, reg)
    assert_dps_error(env.register(reg, key=key, body={"registrationId": "other"}), 400, 400002)
    assert_dps_error(env.register(reg, key=key, body={}), 400, 400002)
    r = env.session.put(env.device_url(reg), data="{not json", headers={"Authorization": env.device_token(reg, key)},
                        verify=env.ca_file, timeout=10)
    assert_dps_error(r, 400, 400001)
    big = {"registrationId": reg, "payload": {"x": "y" * 70_000}}
    assert_dps_error(env.register(reg, key=key, body=big), 413, 413000)
    assert_dps_error(env.register(reg, key=key, api_version="2018-01-01"), 400, 400004)
    unknown = env.session.put(env.device_url(reg, scope="0ne00000000"), json={"registrationId": reg},
                              headers={"Authorization": env.device_token(reg, key, scope="0ne00000000")},
                              verify=env.ca_file, timeout=10)
    assert_dps_error(unknown, 404, 404001)
    assert_dps_error(env.register(reg), 401, 401000)  # no credentials at all
    assert_dps_error(env.poll(reg, "5.0.nope", key=key), 404, 404004)
    wrong_method = env.session.delete(env.device_url(reg), verify=env.ca_file, timeout=10)
    assert_dps_error(wrong_method, 405, 405000)


def test_sas_refusals(env):
    reg = unique("sas-")
    key = sym_enrollment(env, reg)
    expired = env.device_token(reg, key, expiry=int(time.time()) - 10)
    assert_dps_error(env.register(reg, token=expired), 401, 401001)
    forged = env.device_token(reg, new_key_b64())
    assert_dps_error(env.register(reg, token=forged), 401, 401000)
    wrong_scope = env.device_token(reg, key, scope="0ne99999999")
    body = assert_dps_error(env.register(reg, token=wrong_scope), 401, 401000)
    assert "0ne99999999" in body["message"]
    assert_dps_error(env.register(reg, token="SharedAccessSignature garbage"), 401, 401000)
    assert_dps_error(env.register(reg, token=env.device_token(reg, key, skn="iothubowner")), 401, 401000)
    assert_dps_error(env.register(unique("nobody-"), key=key), 401, 401003)


def test_status_lookup(env):
    reg = unique("lookup-")
    key = sym_enrollment(env, reg)
    lookup_url = env.device_url(reg, suffix="")
    headers = {"Authorization": env.device_token(reg, key)}
    r = env.session.post(lookup_url, json={"registrationId": reg}, headers=headers, verify=env.ca_file, timeout=10)
    assert_dps_error(r, 404, 404003)
    env.provision(reg, key=key, csr=csr_b64(reg)[1])
    r = env.session.post(lookup_url, json={"registrationId": reg}, headers=headers, verify=env.ca_file, timeout=10)
    assert r.status_code == 200, r.text
    validate_response(DEVICE_SPEC, "RuntimeRegistration_DeviceRegistrationStatusLookup", 200, r.json())
    assert r.json()["assignedHub"] == env.hub_host and "issuedCertificateChain" not in r.json()
    r = env.session.post(lookup_url, json={"registrationId": reg, "csr": csr_b64(reg)[1]}, headers=headers,
                         verify=env.ca_file, timeout=10)
    assert_dps_error(r, 400, 400010)


def test_plain_http_and_every_device_api_version(env):
    reg = unique("http-")
    key = sym_enrollment(env, reg, policy=None)
    for version in ("2019-03-31", "2021-06-01", "2021-10-01", "2025-07-01-preview", "2026-04-01", "2026-11-01"):
        r = env.session.put(env.device_url(reg, api_version=version, base=env.http), json={"registrationId": reg},
                            headers={"Authorization": env.device_token(reg, key)}, timeout=10)
        assert r.status_code == 202, (version, r.text)


def test_second_policy_and_2026_reference(env, arm):
    add_policy(arm, env, "fleet", days=7)
    reg = unique("ga-")
    key = new_key_b64()
    r = env.service("PUT", f"/enrollments/{reg}", {
        "registrationId": reg, "attestation": {"type": "symmetricKey", "symmetricKey": {"primaryKey": key}},
        "namespaceName": env.namespace, "certificateAuthorityName": "ca-one", "certificatePolicyName": "fleet"},
        api_version="2026-11-01")
    assert r.status_code == 200, r.text
    leaf = chain_from(env.provision(reg, key=key, csr=csr_b64(reg)[1]))[0]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert timedelta(days=7) <= lifetime <= timedelta(days=7, minutes=2)
    assert leaf.issuer != x509.load_pem_x509_certificate(env.ica_pem.encode()).subject  # the other policy's ICA


# ---- concurrency, restart, CLI -------------------------------------------------------------------------------
def test_fifty_concurrent_registrations_of_one_id(env, arm):
    reg = unique("conc-")
    key = sym_enrollment(env, reg)
    csrs = [csr_b64(reg)[1] for _ in range(50)]

    def one(csr: str) -> tuple[int, int]:
        with requests.Session() as s:
            r = env.register(reg, key=key, csr=csr, session=s)
            if r.status_code != 202:
                return r.status_code, 0
            return r.status_code, env.poll(reg, r.json()["operationId"], key=key, session=s).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, csrs))
    assert results == [(202, 200)] * 50
    assert env.hub_device(reg).status_code == 200
    devices = arm.get(f"{ns_path(env.rg, env.namespace)}/devices", api_version=ADR_API).json()["value"]
    assert [d["name"] for d in devices].count(reg) == 1


def test_restart_between_register_and_poll_loses_nothing(tmp_path, emulator_with):
    data = tmp_path / "data"
    first = emulator_with(data_dir=data)
    arm = Arm(first.http)
    arm.group("rg-restart")
    env = create_env(arm, first, "rg-restart")
    reg = unique("restart-")
    key = sym_enrollment(env, reg)
    r = env.register(reg, key=key, csr=csr_b64(reg)[1])
    assert r.status_code == 202, r.text
    operation = r.json()["operationId"]
    first.stop(signal.SIGKILL)  # no clean shutdown: what was answered must already be durable
    second = emulator_with(data_dir=data)
    env.https, env.http, env.ca_file = second.https, second.http, second.ca_file
    env.session = requests.Session()
    polled = env.poll(reg, operation, key=key)
    assert polled.status_code == 200, polled.text
    assert polled.json()["status"] == "assigned"
    verify_issued(env, polled.json(), reg)
    assert env.hub_device(reg).status_code == 200


@pytest.mark.process  # the `adr-emulator device register` CLI as a process
def test_device_register_cli(env, tmp_path):
    group = unique("cli-")
    group_key = sym_group(env, group)
    reg = unique("clidev-")
    key_out, chain_out = tmp_path / "dev.key.pem", tmp_path / "dev.chain.pem"
    result = subprocess.run(
        [sys.executable, "-m", "provider", "device", "register", "--dps", env.https, "--id-scope", env.id_scope,
         "--registration-id", reg, "--key", group_key, "--group-key", "--csr-key-out", str(key_out),
         "--chain-out", str(chain_out), "--ca-file", env.ca_file],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"assignedHub: {env.hub_host}" in result.stdout and f"deviceId:    {reg}" in result.stdout
    assert group_key not in result.stdout + result.stderr
    assert stat.S_IMODE(os.stat(key_out).st_mode) == 0o600
    chain = x509.load_pem_x509_certificates(chain_out.read_bytes())
    key = serialization.load_pem_private_key(key_out.read_bytes(), None)
    assert chain[0].public_key() == key.public_key() and len(chain) == 3
    verify_issued(env, {"registrationState": {"issuedCertificateChain": [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]}}, reg)
    bad = subprocess.run(
        [sys.executable, "-m", "provider", "device", "register", "--dps", env.https, "--id-scope", env.id_scope,
         "--registration-id", reg, "--key", new_key_b64(), "--ca-file", env.ca_file],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 1 and "401" in bad.stderr


# ---- allocation -----------------------------------------------------------------------------------------------
def _link_hubs(arm, env, hubs: list[tuple[str, str, dict]]) -> None:
    """Link the DPS to (hub name, location, extra entry fields) hubs of the env's group."""
    entries = []
    for name, location, extra in hubs:
        path = f"resourceGroups/{env.rg}/providers/Microsoft.Devices/IotHubs/{name}"
        owner = arm.post(f"{path}/listkeys", api_version="2025-08-01-preview").json()["value"][0]
        host = arm.get(path, api_version="2025-08-01-preview").json()["properties"]["hostName"]
        entries.append({"connectionString": f"HostName={host};SharedAccessKeyName={owner['keyName']};"
                                            f"SharedAccessKey={owner['primaryKey']}", "location": location, **extra})
    dps = arm.get(env.dps_path, api_version="2025-02-01-preview").json()
    dps["properties"]["iotHubs"] = entries
    r = arm.put(env.dps_path, {k: dps[k] for k in ("location", "sku", "identity", "properties")},
                api_version="2025-02-01-preview")
    assert r.status_code == 200, r.text


def test_allocation_policies_and_reprovisioning(emulator, arm):
    rg = unique("rg-alloc-")
    arm.group(rg)
    env = create_env(arm, emulator, rg)
    west = unique("hubw")
    r = arm.put(f"resourceGroups/{rg}/providers/Microsoft.Devices/IotHubs/{west}",
                {"location": "westus", "sku": {"name": "S1", "capacity": 1}}, api_version="2025-08-01-preview")
    assert r.status_code == 201, r.text
    west_host = r.json()["properties"]["hostName"]
    _link_hubs(arm, env, [(env.hub_name, "eastus", {"allocationWeight": 1}), (west, "westus", {"allocationWeight": 3})])
    group_key = sym_group(env, unique("hashed-"), policy=None,
                          initialTwin={"tags": {"site": {"floor": 3}}, "properties": {"desired": {"rate": 5}}})
    assigned = {}
    for i in range(40):
        reg = f"{unique('h')}-{i}"
        assigned[reg] = env.provision(reg, key=group_device_key(group_key, reg))["registrationState"]["assignedHub"]
    counts = {host: list(assigned.values()).count(host) for host in (env.hub_host, west_host)}
    assert counts[west_host] > counts[env.hub_host] > 0, counts  # weighted 3:1, both used
    reg, host = next(iter(assigned.items()))
    again = env.provision(reg, key=group_device_key(group_key, reg))["registrationState"]
    assert again["assignedHub"] == host and again["deviceId"] == reg  # deterministic per registration id
    twin = requests.get(f"{env.https}/twins/{reg}?api-version=2021-04-12", verify=env.ca_file, timeout=10, headers={
        "Authorization": generate_sas(host, env.hub_owner_key if host == env.hub_host else _owner_key(arm, rg, west),
                                      "iothubowner")})
    assert twin.status_code == 200, twin.text
    assert twin.json()["tags"] == {"site": {"floor": 3}} and twin.json()["properties"]["desired"]["rate"] == 5
    geo_key = sym_group(env, unique("geo-"), policy=None, allocationPolicy="geoLatency")
    for i in range(5):
        reg = f"{unique('g')}-{i}"
        assert env.provision(reg, key=group_device_key(geo_key, reg))["registrationState"]["assignedHub"] == \
            env.hub_host  # the DPS is in eastus
    # static to the west hub, then moved back by a changed enrollment: migrated, same device id
    reg = unique("mover-")
    key = sym_enrollment(env, reg, policy=None, allocationPolicy="static", iotHubHostName=west_host)
    first = env.provision(reg, key=key)["registrationState"]
    assert first["assignedHub"] == west_host and first["substatus"] == "initialAssignment"
    env.put_enrollment({"registrationId": reg, "attestation": {"type": "symmetricKey", "symmetricKey": {
        "primaryKey": key}}, "allocationPolicy": "static", "iotHubHostName": env.hub_host})
    moved = env.provision(reg, key=key)["registrationState"]
    assert moved["assignedHub"] == env.hub_host and moved["substatus"] == "deviceDataMigrated"
    assert moved["deviceId"] == first["deviceId"] and moved["createdDateTimeUtc"] == first["createdDateTimeUtc"]
    gone = requests.get(f"{env.https}/devices/{reg}?api-version=2021-04-12", verify=env.ca_file, timeout=10,
                        headers={"Authorization": generate_sas(west_host, _owner_key(arm, rg, west), "iothubowner")})
    assert gone.status_code == 404  # the device left the previous hub
    # updateHubAssignment=false keeps the current hub
    env.put_enrollment({"registrationId": reg, "attestation": {"type": "symmetricKey", "symmetricKey": {
        "primaryKey": key}}, "allocationPolicy": "static", "iotHubHostName": west_host,
        "reprovisionPolicy": {"updateHubAssignment": False, "migrateDeviceData": True}})
    assert env.provision(reg, key=key)["registrationState"]["assignedHub"] == env.hub_host


def _owner_key(arm, rg: str, hub: str) -> str:
    path = f"resourceGroups/{rg}/providers/Microsoft.Devices/IotHubs/{hub}"
    return arm.post(f"{path}/listkeys", api_version="2025-08-01-preview").json()["value"][0]["primaryKey"]
