"""The GA Device Registry model (api-version 2026-11-01): certificate authorities and certificate
policies over HTTP, and the chain they issue through DPS to a hub that trusts it."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from provider.hub import auth as hub_auth
from tests.support.adr_setup import external_root, pem, sign_byor_csr
from tests.support.arm_helpers import assert_error, full_id, hub_path, ns_path, unique
from tests.support.dps_helpers import DpsEnv, csr_b64, group_device_key, new_key_b64, openssl_verify
from tests.support.ga_setup import (
    GA,
    HUB_NEWEST,
    ca_path,
    create_ga_env,
    make_ica,
    make_namespace,
    make_policy,
    make_root,
    pki_view,
)


def test_root_and_microsoft_ica_shapes_and_rpc(arm, rg):
    make_namespace(arm, rg, "ns-ga")
    root = make_root(arm, rg, "ns-ga")
    props = root["properties"]
    assert root["type"] == "Microsoft.DeviceRegistry/namespaces/certificateAuthorities"
    assert props["subject"] == "CN=root-ca" and props["keyType"] == "ECC" and props["uuid"]
    assert props["validityNotBefore"] < props["validityNotAfter"] and props["provisioningState"] == "Succeeded"
    r = make_ica(arm, rg, "ns-ga", "fleet-ica", root["id"])
    assert r.status_code == 201 and r.headers["Azure-AsyncOperation"], r.text
    ica = r.json()
    assert ica["properties"]["issuer"] == {"issuerType": "Microsoft", "certificateAuthorityResourceId": root["id"]}
    assert ica["properties"]["subject"] == "CN=fleet-ica"
    view = pki_view(arm, rg, "ns-ga")["certificateAuthorities"]
    ica_cert = x509.load_pem_x509_certificate(view["fleet-ica"]["certificate"].encode())
    root_cert = x509.load_pem_x509_certificate(view["root-ca"]["certificate"].encode())
    assert ica_cert.issuer == root_cert.subject and ica_cert.extensions.get_extension_for_class(
        x509.BasicConstraints).value.path_length == 0
    # GET, list, PATCH tags, etag
    got = arm.get(ca_path(rg, "ns-ga", "fleet-ica"), api_version=GA)
    assert got.status_code == 200 and got.headers["ETag"]
    listed = arm.get(f"{ns_path(rg, 'ns-ga')}/certificateAuthorities", api_version=GA).json()["value"]
    assert [c["name"] for c in listed] == ["root-ca", "fleet-ica"]
    patched = arm.patch(ca_path(rg, "ns-ga", "fleet-ica"), {"tags": {"env": "test"}}, api_version=GA)
    assert patched.status_code in (200, 202)
    assert arm.get(ca_path(rg, "ns-ga", "fleet-ica"), api_version=GA).json()["tags"] == {"env": "test"}
    stale = arm.put(ca_path(rg, "ns-ga", "fleet-ica"), ica | {"properties": ica["properties"]}, api_version=GA,
                    headers={"If-Match": '"stale"'})
    assert_error(stale, 412, "PreconditionFailed")
    # the preview api-version knows no certificate authorities
    assert_error(arm.get(ca_path(rg, "ns-ga", "root-ca")), 400, "InvalidApiVersionParameter")


def test_bad_certificate_authorities_are_refused(arm, rg):
    make_namespace(arm, rg, "ns-bad")
    make_namespace(arm, rg, "ns-other")
    root = make_root(arm, rg, "ns-bad")
    other_root = make_root(arm, rg, "ns-other")
    ica = make_ica(arm, rg, "ns-bad", "ica-one", root["id"]).json()
    target = "properties.issuer.certificateAuthorityResourceId"
    assert_error(make_ica(arm, rg, "ns-bad", "ica-x", full_id(ns_path(rg, "ns-bad"))), 400,
                 "LinkedInvalidPropertyId", target)
    assert_error(make_ica(arm, rg, "ns-bad", "ica-x", root["id"] + "-missing"), 404, "LinkedResourceNotFound", target)
    assert_error(make_ica(arm, rg, "ns-bad", "ica-x", other_root["id"]), 400, "InvalidRequestContent", target)
    assert_error(make_ica(arm, rg, "ns-bad", "ica-x", ica["id"]), 400, "InvalidRequestContent", target)
    no_issuer = arm.put(ca_path(rg, "ns-bad", "ica-x"), {"location": "eastus", "properties": {
        "certificateAuthorityType": "ICA", "keyType": "ECC"}}, api_version=GA)
    assert_error(no_issuer, 400, "InvalidRequestContent", "properties.issuer")
    rsa = arm.put(ca_path(rg, "ns-bad", "ica-x"), {"location": "eastus", "properties": {
        "certificateAuthorityType": "Root", "keyType": "RSA"}}, api_version=GA)
    assert_error(rsa, 400, "InvalidRequestContent")
    changed = arm.put(ca_path(rg, "ns-bad", "root-ca"), {"location": "eastus", "properties": {
        "certificateAuthorityType": "ICA", "keyType": "ECC", "issuer": {"issuerType": "External"}}}, api_version=GA)
    assert_error(changed, 400, "InvalidRequestContent", "properties.certificateAuthorityType")
    # actions that do not apply
    assert_error(arm.post(f"{ca_path(rg, 'ns-bad', 'root-ca')}/revokeAndRotate", api_version=GA), 400,
                 "OperationNotAllowed")
    assert_error(arm.post(f"{ca_path(rg, 'ns-bad', 'ica-one')}/activate", {"certificateChain": "x"}, api_version=GA),
                 400, "OperationNotAllowed")
    # delete guards: a Root that signs ICAs, a CA that policies use
    assert_error(arm.delete(ca_path(rg, "ns-bad", "root-ca"), api_version=GA), 409, "Conflict")
    assert make_policy(arm, rg, "ns-bad", "ica-one", "pol-one").status_code == 201
    assert_error(arm.delete(ca_path(rg, "ns-bad", "ica-one"), api_version=GA), 409, "Conflict", "certificatePolicies")
    assert_error(make_policy(arm, rg, "ns-bad", "ica-one", "pol-two", days=0), 400, "InvalidRequestContent")
    assert arm.delete(f"{ca_path(rg, 'ns-bad', 'ica-one')}/certificatePolicies/pol-one",
                      api_version=GA).status_code in (200, 202, 204)
    assert arm.delete(ca_path(rg, "ns-bad", "ica-one"), api_version=GA).status_code in (200, 202)
    assert arm.delete(ca_path(rg, "ns-bad", "root-ca"), api_version=GA).status_code in (200, 202)


def test_external_ica_activation_rules_and_renewal(arm, rg):
    make_namespace(arm, rg, "ns-ext")
    r = make_ica(arm, rg, "ns-ext", "ext-ica")
    assert r.status_code == 201, r.text
    issuer = r.json()["properties"]["issuer"]
    assert issuer["status"] == "PendingActivation" and "thumbprint" not in issuer
    csr = issuer["certificateSigningRequest"]
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert x509.load_pem_x509_csr(csr.encode()).subject.rfc4514_string() == "CN=ext-ica"
    activate = f"{ca_path(rg, 'ns-ext', 'ext-ica')}/activate"
    root_key, root_cert = external_root()
    _, unrelated = external_root()
    signed = sign_byor_csr(csr, root_key, root_cert)
    # each broken rule is a 400 naming it (the same rules as the preview's Bring Your Own Root)
    for chain, code in ((pem(unrelated) + pem(root_cert), "CertificateKeyMismatch"),
                        (pem(root_cert) + pem(signed), "CertificateKeyMismatch"),
                        (pem(signed), "InvalidCertificateChain"),
                        ("not a certificate", "InvalidCertificateChain")):
        assert_error(arm.post(activate, {"certificateChain": chain}, api_version=GA), 400, code, "certificateChain")
    assert arm.get(ca_path(rg, "ns-ext", "ext-ica"), api_version=GA).json()["properties"]["issuer"]["status"] == \
        "PendingActivation"
    ok = arm.post(activate, {"certificateChain": pem(signed) + pem(root_cert)}, api_version=GA)
    assert ok.status_code in (202, 204), ok.text
    issuer = arm.get(ca_path(rg, "ns-ext", "ext-ica"), api_version=GA).json()["properties"]["issuer"]
    assert issuer["status"] == "Active" and len(issuer["thumbprint"]) == 40
    # renewal: a PUT starts it (new CSR, the active certificate keeps signing), activate installs it
    again = make_ica(arm, rg, "ns-ext", "ext-ica")
    renewing = again.json()["properties"]["issuer"]
    assert renewing["status"] == "ActiveButPendingRenewal" and renewing["certificateSigningRequest"] != csr
    renewed = sign_byor_csr(renewing["certificateSigningRequest"], root_key, root_cert)
    assert arm.post(activate, {"certificateChain": pem(renewed) + pem(root_cert)},
                    api_version=GA).status_code in (202, 204)
    final = arm.get(ca_path(rg, "ns-ext", "ext-ica"), api_version=GA).json()["properties"]["issuer"]
    assert final["status"] == "Active" and final["thumbprint"] != issuer["thumbprint"]


# ---- the whole GA chain -------------------------------------------------------------------------------
@pytest.fixture()
def ga_env(arm, emulator, rg) -> DpsEnv:
    return create_ga_env(arm, emulator, rg)


def test_links_made_by_the_namespace_show_on_hub_and_dps(arm, ga_env):
    hub = arm.get(hub_path(ga_env.rg, ga_env.hub_name), api_version=HUB_NEWEST).json()
    assert hub["properties"]["deviceRegistry"]["namespaceResourceId"] == ga_env.namespace_id
    assert hub["properties"]["deviceRegistry"]["linkingProperties"] == {"state": "Success"}
    dps = arm.get(ga_env.dps_path, api_version=GA).json()
    [link] = dps["properties"]["deviceRegistryNamespaces"]
    assert link["resourceId"] == ga_env.namespace_id and link["linkingState"] == "Succeeded"
    assert link["authenticationType"] == "SystemAssigned"


def test_ga_chain_from_enrollment_to_hub_and_rotation(arm, emulator, ga_env):
    # the policy's CA reached the linked hub without a sync call, named by its CA id
    certs = arm.get(f"{hub_path(ga_env.rg, ga_env.hub_name)}/certificates", api_version=HUB_NEWEST).json()["value"]
    synced = {c["name"]: c["properties"] for c in certs}
    assert synced["adr-ca-fleet-ica"]["certificateAuthorityResourceId"].endswith("/certificateAuthorities/fleet-ica")
    assert synced["adr-ca-fleet-ica"]["isVerified"] is True and "policyResourceId" not in synced["adr-ca-fleet-ica"]
    # a 2026-11-01 enrollment group names the GA policy; unknown names are DPS errors
    group_key = new_key_b64()
    body = {"enrollmentGroupId": "ga-group", "attestation": {"type": "symmetricKey", "symmetricKey": {
        "primaryKey": group_key, "secondaryKey": group_key}}, "namespaceName": "ns-chain",
        "certificateAuthorityName": "fleet-ica", "certificatePolicyName": "fleet"}
    stored = ga_env.put_enrollment(body, group=True, api_version=GA)
    assert (stored["certificateAuthorityName"], stored["certificatePolicyName"]) == ("fleet-ica", "fleet")
    wrong = ga_env.service("PUT", "/enrollmentGroups/ga-bad", {**body, "enrollmentGroupId": "ga-bad",
                                                                "certificatePolicyName": "nope"}, api_version=GA)
    assert wrong.status_code == 400 and wrong.json()["errorCode"] == 400012, wrong.text
    # register with a CSR: leaf -> ICA -> root, valid for the policy's 20 days, verified by openssl
    registration = unique("ga-dev-")
    key = group_device_key(group_key, registration)
    operation = ga_env.provision(registration, key=key, csr=csr_b64(registration)[1])
    chain = [x509.load_der_x509_certificate(base64.b64decode(c))
             for c in operation["registrationState"]["issuedCertificateChain"]]
    assert len(chain) == 3 and chain[0].subject.rfc4514_string() == f"CN={registration}"
    assert (chain[0].not_valid_after_utc - chain[0].not_valid_before_utc).days in (19, 20)
    verify = openssl_verify(ga_env.root_pem, ga_env.ica_pem, chain[0])
    assert verify.returncode == 0, verify.stdout + verify.stderr
    ders = [c.public_bytes(Encoding.DER) for c in chain]
    hub_doc = emulator.emu.hub.by_name(ga_env.hub_name)
    auth = hub_auth.authenticate_device(emulator.emu, hub_doc, registration, sas_token=None, chain_der=ders)
    assert auth.method == "x509" and auth.adr_issued
    # revokeAndRotate: a new CA certificate reaches the hub; the old chain is refused
    rotated = arm.post(f"{ca_path(ga_env.rg, 'ns-chain', 'fleet-ica')}/revokeAndRotate", api_version=GA)
    assert rotated.status_code in (202, 204), rotated.text
    certs = arm.get(f"{hub_path(ga_env.rg, ga_env.hub_name)}/certificates", api_version=HUB_NEWEST).json()["value"]
    new_thumb = next(c["properties"]["thumbprint"] for c in certs if c["name"] == "adr-ca-fleet-ica")
    assert new_thumb != synced["adr-ca-fleet-ica"]["thumbprint"]
    with pytest.raises(hub_auth.AuthRefused):
        hub_auth.authenticate_device(emulator.emu, emulator.emu.hub.by_name(ga_env.hub_name), registration,
                                     sas_token=None, chain_der=ders)
    # the device registers again and gets a chain from the new CA, which the hub accepts
    again = ga_env.provision(registration, key=key, csr=csr_b64(registration)[1])
    new_ders = [base64.b64decode(c) for c in again["registrationState"]["issuedCertificateChain"]]
    assert hub_auth.authenticate_device(emulator.emu, emulator.emu.hub.by_name(ga_env.hub_name), registration,
                                        sas_token=None, chain_der=new_ders).method == "x509"
    # the ADR device: 2026-11-01 devices have no `policy`; the preview versions show the GA policy it uses
    device_path = f"{ns_path(ga_env.rg, 'ns-chain')}/devices/{registration}"
    ga_device = arm.get(device_path, api_version=GA).json()
    assert ga_device["properties"]["enabled"] is True and "policy" not in ga_device["properties"]
    assert arm.put(device_path, {"location": "eastus", "properties": {"attributes": {"site": "a"}}},
                   api_version=GA).status_code == 200
    preview_device = arm.get(device_path).json()["properties"]
    assert preview_device["policy"]["resourceId"].endswith("/certificateAuthorities/fleet-ica/certificatePolicies/"
                                                           "fleet")
    assert preview_device["attributes"] == {"site": "a"}
    view = pki_view(arm, ga_env.rg, "ns-chain")["certificateAuthorities"]["fleet-ica"]
    assert [h["status"] for h in view["history"]].count("revoked") == 1
    assert len(view["issuedCertificates"]) == 2


def test_the_ga_template_deploys_the_chain(arm, rg):
    """arm_templates/full-setup-ga.json (languageVersion 2.0): reference() reads CA properties, and the
    hub trusts the ICA once the deployment succeeded, with no POST."""
    from tests.templates.test_deployments import deploy, ours

    template, params = ours("full-setup-ga")
    outputs = deploy(arm, rg, "ga", template, params)["properties"]["outputs"]
    assert outputs["icaSubject"]["value"] == "CN=fleet-ica" and outputs["icaValidityNotAfter"]["value"]
    hub = outputs["hubName"]["value"]
    certs = arm.get(f"{hub_path(rg, hub)}/certificates", api_version=HUB_NEWEST).json()["value"]
    assert [c["name"] for c in certs] == ["adr-ca-fleet-ica"]
    dps = arm.get(f"resourceGroups/{rg}/providers/Microsoft.Devices/provisioningServices/"
                  f"{outputs['dpsName']['value']}", api_version=GA).json()
    assert dps["properties"]["deviceRegistryNamespaces"][0]["namespaceUuid"] == outputs["namespaceUuid"]["value"]


def test_a_hub_linked_after_the_cas_exist_trusts_them(arm, rg):
    """The GA sync also follows a new link: the namespace's endpoint added after its CA and policy."""
    make_namespace(arm, rg, "ns-late")
    root = make_root(arm, rg, "ns-late")
    assert make_ica(arm, rg, "ns-late", "late-ica", root["id"]).status_code == 201
    assert make_policy(arm, rg, "ns-late", "late-ica", "late").status_code == 201
    hub_name = unique("latehub")
    hub = arm.put(hub_path(rg, hub_name), {"location": "eastus", "sku": {"name": "GEN2", "capacity": 1},
                                           "properties": {}}, api_version=HUB_NEWEST).json()
    assert arm.get(f"{hub_path(rg, hub_name)}/certificates", api_version=HUB_NEWEST).json()["value"] == []
    make_namespace(arm, rg, "ns-late", messaging={"endpoints": {"hub": {
        "endpointType": "Microsoft.Devices/IotHubs", "resourceId": hub["id"],
        "inboundCallerIdentity": {"type": "SystemAssigned"}}}})
    certs = arm.get(f"{hub_path(rg, hub_name)}/certificates", api_version=HUB_NEWEST).json()["value"]
    assert [c["name"] for c in certs] == ["adr-ca-late-ica"]
