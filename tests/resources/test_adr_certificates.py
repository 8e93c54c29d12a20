"""Device Registry certificate management over ARM: credentials, policies, BYOR, devices, revocation."""

from __future__ import annotations

import subprocess

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.adr_setup import (
    create_namespace_with_policy,
    external_root,
    namespace_pki,
    ns_path,
    pem,
    policy_body,
    sign_byor_csr,
)
from tests.support.spec_validation import validate_response

SPEC = "deviceregistry/2026-03-01-preview/deviceregistry.json"


def test_credential_is_a_real_p384_root(arm, rg):
    body = create_namespace_with_policy(arm, rg, "ns-root")
    validate_response(SPEC, "Policies_CreateOrUpdate", 201, body)
    pki = namespace_pki(arm, rg, "ns-root")
    root = x509.load_pem_x509_certificate(pki["root"].encode())
    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey) and root.public_key().curve.name == "secp384r1"
    assert isinstance(root.signature_hash_algorithm, hashes.SHA384)
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 1
    ku = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    ica = x509.load_pem_x509_certificate(pki["policies"]["default"]["issuingCa"].encode())
    ica_bc = ica.extensions.get_extension_for_class(x509.BasicConstraints)
    assert ica_bc.value.path_length == 0 and ica.issuer == root.subject
    ica.verify_directly_issued_by(root)
    ca_config = body["properties"]["certificate"]["certificateAuthorityConfiguration"]
    assert ca_config["subject"] == ica.subject.rfc4514_string()
    assert len(ca_config["subject"]) == len("CN=") + 32
    assert ca_config["validityNotAfter"].startswith(ica.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M"))


def test_openssl_verifies_the_ica(arm, rg, tmp_path):
    create_namespace_with_policy(arm, rg, "ns-ossl")
    pki = namespace_pki(arm, rg, "ns-ossl")
    (tmp_path / "root.pem").write_text(pki["root"])
    (tmp_path / "ica.pem").write_text(pki["policies"]["default"]["issuingCa"])
    out = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "ica.pem")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_credential_examples_and_rules(arm, rg):
    ns = ns_path(rg, "ns-cred")
    arm.put(ns, {"location": "eastus"})
    r = arm.put(f"{ns}/credentials/default/policies/pol", policy_body())
    assert r.status_code == 404 and r.json()["error"]["code"] == "ParentResourceNotFound"
    assert arm.put(f"{ns}/credentials/other", {"location": "eastus"}).json()["error"]["code"] == "InvalidResourceName"
    r = arm.put(f"{ns}/credentials/default", {"location": "East US 2", "tags": {"a": "b"}, "properties": {}})
    assert r.status_code == 201
    validate_response(SPEC, "Credentials_CreateOrUpdate", 201, r.json())
    assert r.json()["name"] == "default" and r.json()["properties"]["provisioningState"] == "Succeeded"
    got = arm.get(f"{ns}/credentials/default")
    validate_response(SPEC, "Credentials_Get", 200, got.json())
    listed = arm.get(f"{ns}/credentials").json()
    validate_response(SPEC, "Credentials_ListByResourceGroup", 200, listed)
    upd = arm.patch(f"{ns}/credentials/default", {"tags": {"c": "d"}})
    assert upd.status_code == 200 and upd.json()["tags"] == {"c": "d"}
    arm.put(f"{ns}/credentials/default/policies/pol", policy_body())
    blocked = arm.delete(f"{ns}/credentials/default")
    assert blocked.status_code == 409 and "pol" in blocked.json()["error"]["message"]
    sync = arm.post(f"{ns}/credentials/default/synchronize")
    assert sync.status_code == 202 and sync.headers["Location"] and not sync.content
    assert arm.delete(f"{ns}/credentials/default/policies/pol").status_code == 202
    assert arm.delete(f"{ns}/credentials/default").status_code == 202
    assert arm.delete(f"{ns}/credentials/default").status_code == 204


def test_policy_validation(arm, rg):
    ns = ns_path(rg, "ns-pval")
    arm.put(ns, {"location": "eastus"})
    arm.put(f"{ns}/credentials/default", {"location": "eastus"})
    pol = f"{ns}/credentials/default/policies/pol"
    for days in (6, 91):
        r = arm.put(pol, policy_body(days))
        assert r.status_code == 400
        assert r.json()["error"]["target"] == "properties.certificate.leafCertificateConfiguration.validityPeriodInDays"
    bad_key = policy_body()
    bad_key["properties"]["certificate"]["certificateAuthorityConfiguration"]["keyType"] = "RSA"
    assert arm.put(pol, bad_key).json()["error"]["target"].endswith("keyType")
    assert arm.put(pol, {"properties": {}}).status_code == 400
    assert arm.put(pol, policy_body(7)).status_code == 201
    patched = arm.patch(pol, {"properties": {"certificate": {"leafCertificateConfiguration": {
        "validityPeriodInDays": 45}}}})
    assert patched.status_code == 200
    assert patched.json()["properties"]["certificate"]["leafCertificateConfiguration"]["validityPeriodInDays"] == 45
    assert arm.put(pol, policy_body(7, byor=True)).status_code == 400  # create-only
    listed = arm.get(f"{ns}/credentials/default/policies").json()
    validate_response(SPEC, "Policies_ListByResourceGroup", 200, listed)
    # 2025-11-01-preview: the policy is tracked and accepts a location and 1..90 days
    old = arm.put(f"{ns}/credentials/default/policies/oldpol", {**policy_body(1), "location": "eastus"},
                  api_version="2025-11-01-preview")
    assert old.status_code == 201 and old.json()["location"] == "eastus"


def test_revoke_issuer_rotates_the_ica(arm, rg):
    create_namespace_with_policy(arm, rg, "ns-rot")
    before = namespace_pki(arm, rg, "ns-rot")["policies"]["default"]
    r = arm.post(f"{ns_path(rg, 'ns-rot')}/credentials/default/policies/default/revokeIssuer")
    assert r.status_code == 202
    assert requests.get(r.headers["Location"], timeout=10).status_code in (200, 204)
    after = namespace_pki(arm, rg, "ns-rot")["policies"]["default"]
    assert after["thumbprint"] != before["thumbprint"]
    assert [h["status"] for h in after["history"]][:2] == ["active", "revoked"]
    policy = arm.get(f"{ns_path(rg, 'ns-rot')}/credentials/default/policies/default").json()
    new_ica = x509.load_pem_x509_certificate(after["issuingCa"].encode())
    assert policy["properties"]["certificate"]["certificateAuthorityConfiguration"]["subject"] == \
        new_ica.subject.rfc4514_string()


def test_bring_your_own_root(arm, rg):
    ns = ns_path(rg, "ns-byor")
    arm.put(ns, {"location": "eastus"})
    arm.put(f"{ns}/credentials/default", {"location": "eastus"})
    pol = f"{ns}/credentials/default/policies/byor"
    created = arm.put(pol, policy_body(30, byor=True)).json()
    byor = created["properties"]["certificate"]["certificateAuthorityConfiguration"]["bringYourOwnRoot"]
    assert byor["status"] == "PendingActivation" and "BEGIN CERTIFICATE REQUEST" in byor["certificateSigningRequest"]
    csr_pem = byor["certificateSigningRequest"]
    root_key, root = external_root()
    # rules, each with a clear 400
    cases = {
        "rsa root": None,
        "short validity": sign_byor_csr(csr_pem, root_key, root, days=100),
        "sha1": None,
        "wrong subject": sign_byor_csr(csr_pem, root_key, root, subject=x509.Name.from_rfc4514_string("CN=other")),
        "missing ski": sign_byor_csr(csr_pem, root_key, root, ski=False),
    }
    for label, cert in cases.items():
        if cert is None:
            continue
        r = arm.post(f"{pol}/activateBringYourOwnRoot", {"certificateChain": pem(cert) + pem(root)})
        assert r.status_code == 400, (label, r.text)
        assert r.json()["error"]["message"], label
    assert arm.post(f"{pol}/activateBringYourOwnRoot", {"certificateChain": "not a pem"}).status_code == 400
    assert arm.post(f"{pol}/activateBringYourOwnRoot", {}).status_code == 400
    signed = sign_byor_csr(csr_pem, root_key, root)
    ok = arm.post(f"{pol}/activateBringYourOwnRoot", {"certificateChain": pem(signed) + pem(root)})
    assert ok.status_code == 202, ok.text
    active = arm.get(pol).json()["properties"]["certificate"]["certificateAuthorityConfiguration"]
    assert active["bringYourOwnRoot"]["status"] == "Active"
    assert active["bringYourOwnRoot"]["issuingCertificateThumbprint"] == \
        signed.fingerprint(hashes.SHA1()).hex().upper()
    refused = arm.post(f"{pol}/revokeIssuer")
    assert refused.status_code == 400


def test_namespace_devices_and_revoke(arm, rg):
    create_namespace_with_policy(arm, rg, "ns-dev")
    ns = ns_path(rg, "ns-dev")
    policy_id = arm.get(f"{ns}/credentials/default/policies/default").json()["id"]
    r = arm.put(f"{ns}/devices/dev-1", {"location": "eastus", "properties": {
        "manufacturer": "Contoso", "policy": {"resourceId": policy_id}}})
    assert r.status_code == 201, r.text
    body = r.json()
    validate_response(SPEC, "NamespaceDevices_CreateOrReplace", 201, body)
    assert body["properties"]["enabled"] is True and body["etag"] and "_revocationId" not in body
    bad = arm.put(f"{ns}/devices/dev-2", {"location": "eastus", "properties": {
        "policy": {"resourceId": policy_id.replace("/default/policies/default", "/default/policies/missing")}}})
    assert bad.status_code == 404
    other_ns = arm.put(f"{ns}/devices/dev-3", {"location": "eastus", "properties": {"policy": {
        "resourceId": policy_id.replace("ns-dev", "ns-other")}}})
    assert other_ns.status_code == 400
    assert arm.put(f"{ns}/devices/dev-1", {"location": "eastus", "properties": {"manufacturer": "Other"}}) \
        .status_code == 400  # create-only
    rev = arm.post(f"{ns}/devices/dev-1/revoke", {"disable": True})
    assert rev.status_code == 202
    final = requests.get(rev.headers["Location"], timeout=10)
    assert final.status_code == 200 and final.json() == {"result": "Succeeded"}
    assert arm.get(f"{ns}/devices/dev-1").json()["properties"]["enabled"] is False
    listed = arm.get(f"{ns}/devices").json()
    validate_response(SPEC, "NamespaceDevices_ListByResourceGroup", 200, listed)


def test_deleting_a_namespace_destroys_its_keys(arm, rg):
    create_namespace_with_policy(arm, rg, "ns-del")
    assert arm.delete(ns_path(rg, "ns-del")).status_code == 202
    assert arm.get(f"{ns_path(rg, 'ns-del')}/credentials/default").status_code == 404


def test_no_private_key_in_any_response(arm, rg):
    create_namespace_with_policy(arm, rg, "ns-secret")
    texts = [arm.get(ns_path(rg, "ns-secret")).text,
             arm.get(f"{ns_path(rg, 'ns-secret')}/credentials/default").text,
             arm.get(f"{ns_path(rg, 'ns-secret')}/credentials/default/policies/default").text,
             requests.get(arm.base + "/_emulator/health", timeout=5).text]
    uuid = arm.get(ns_path(rg, "ns-secret")).json()["properties"]["uuid"]
    texts.append(requests.get(f"{arm.base}/_emulator/namespaces/{uuid}/ca", timeout=5).text)
    for text in texts:
        assert "PRIVATE KEY" not in text


def test_private_keys_never_in_the_database_or_log(tmp_path, emulator_with):
    """Search the SQLite file and the log for each CA key's private scalar."""
    from tests.support.emulator_process import Arm

    proc = emulator_with("--log-level", "DEBUG", data_dir=tmp_path)
    arm = Arm(proc.http)
    arm.group("secrets")
    create_namespace_with_policy(arm, "secrets", "ns-s")
    proc.stop()
    # Reopen the key store in-process to learn the private scalars, then search the bytes.
    from provider.config import Config
    from provider.state import Emulator

    emu = Emulator(Config(data_dir=tmp_path, https_port=-1, mqtt_port=-1))
    keys = emu.keystore.list_keys()
    assert len(keys) >= 2
    scalars: list[bytes] = []
    for info in keys:
        private = emu.keystore._load(info.key_id)  # test-only peek at the unwrapped key
        number = private.private_numbers().private_value
        scalars.append(number.to_bytes((private.curve.key_size + 7) // 8, "big"))
        scalars.append(private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    emu.store.close()
    blobs = [p.read_bytes() for p in tmp_path.glob("emulator.db*")]
    log = "".join(proc.output).encode()
    for scalar in scalars:
        for blob in [*blobs, log]:
            assert scalar not in blob
