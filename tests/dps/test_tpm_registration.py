"""TPM attestation end to end over real HTTPS with a real swtpm: enroll the EK through the service API,
get the authenticationKey challenge, import it in the TPM, register with a SAS the TPM signs, get the
issued chain (openssl verifies it) and the hub device; plus the refusals."""

from __future__ import annotations

import base64
import hashlib
import hmac
import signal
import subprocess
import sys

import pytest
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.swtpm import (
    device_in_swtpm,
    openssl_with_tpm2,
    require_tpm2_openssl,
    require_tpm_stack,
    running_swtpm,
)

require_tpm_stack()

from provider.dps.sas import signed_sas  # noqa: E402
from provider.dps.tpm import parse_challenge, registration_id_for  # noqa: E402
from provider.tpm_device import DeviceTpm, open_device_tpm  # noqa: E402
from tests.dps.test_dps_device_api import assert_dps_error, verify_issued  # noqa: E402
from tests.support.dps_helpers import create_env, csr_b64, openssl_verify, pem, unique  # noqa: E402
from tests.support.emulator_process import ROOT, Arm  # noqa: E402


@pytest.fixture(scope="module")
def env(emulator):
    arm = Arm(emulator.http)
    rg = unique("rg-dps-tpm-")
    arm.group(rg)
    return create_env(arm, emulator, rg)


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> DeviceTpm:
    with device_in_swtpm(tmp_path_factory.mktemp("swtpm")) as opened:
        yield opened


def tpm_body(device: DeviceTpm, registration_id: str, **extra) -> dict:
    return {"registrationId": registration_id,
            "tpm": {"endorsementKey": device.endorsement_key_b64, "storageRootKey": device.storage_root_key_b64},
            **extra}


def enroll(env, device: DeviceTpm, registration_id: str, **extra) -> None:
    env.put_enrollment({"registrationId": registration_id, "credentialPolicyName": "default",
                        "attestation": {"type": "tpm", "tpm": {"endorsementKey": device.endorsement_key_b64}},
                        **extra})


def challenge(env, device: DeviceTpm, registration_id: str) -> str:
    r = env.register(registration_id, body=tpm_body(device, registration_id))
    assert r.status_code == 401, r.text
    return r.json()["authenticationKey"]


def tpm_token(env, device: DeviceTpm, key, registration_id: str) -> str:
    return signed_sas(f"{env.id_scope}/registrations/{registration_id}", lambda data: device.hmac(key, data),
                      "registration")


def test_register_with_a_real_tpm_issues_a_chain_and_a_hub_identity(env, device):
    reg = unique("tpm-")
    enroll(env, device, reg)
    key = device.import_challenge(challenge(env, device, reg))
    try:
        token = tpm_token(env, device, key, reg)
    finally:
        device.esapi.flush_context(key)
    operation = env.provision(reg, token=token, body=tpm_body(device, reg), csr=csr_b64(reg)[1])
    state = operation["registrationState"]
    assert state["status"] == "assigned" and state["deviceId"] == reg and state["assignedHub"] == env.hub_host
    verify_issued(env, operation, reg)
    # the hub key comes back wrapped for this TPM; once imported it signs what the hub checks
    hub_key = device.import_challenge(state["tpm"]["authenticationKey"])
    try:
        hub_device = env.hub_device(reg).json()
        assert hub_device["authentication"]["type"] == "certificateAuthority"
        parse_challenge(base64.b64decode(state["tpm"]["authenticationKey"]))
    finally:
        device.esapi.flush_context(hub_key)


def test_without_a_csr_the_hub_device_uses_the_key_in_the_tpm(env, device):
    reg = unique("tpm-sas-")
    enroll(env, device, reg, credentialPolicyName=None)
    key = device.import_challenge(challenge(env, device, reg))
    token = tpm_token(env, device, key, reg)
    device.esapi.flush_context(key)
    state = env.provision(reg, token=token, body=tpm_body(device, reg))["registrationState"]
    hub_key = device.import_challenge(state["tpm"]["authenticationKey"])
    signed = device.hmac(hub_key, b"probe")
    device.esapi.flush_context(hub_key)
    hub_device = env.hub_device(reg).json()
    assert hub_device["authentication"]["type"] == "sas"
    stored = base64.b64decode(hub_device["authentication"]["symmetricKey"]["primaryKey"])
    assert hmac.new(stored, b"probe", hashlib.sha256).digest() == signed


def test_refusals(env, device, tmp_path):
    reg = unique("tpm-bad-")
    enroll(env, device, reg)
    # another TPM's EK
    with running_swtpm(tmp_path / "other") as tcti:
        other = open_device_tpm(tcti)
        other_body = tpm_body(other, reg)
        other.close()
    assert_dps_error(env.register(reg, body=other_body), 401, 401000)
    # malformed keys
    bad = tpm_body(device, reg)
    bad["tpm"]["storageRootKey"] = base64.b64encode(b"\x00\x05abc").decode()
    assert_dps_error(env.register(reg, body=bad), 400, 400023)
    assert_dps_error(env.register(reg, body={"registrationId": reg, "tpm": "x"}), 400, 400001)
    # a SAS before any challenge, then a wrong one
    key = device.import_challenge(challenge(env, device, reg))
    wrong = signed_sas(f"{env.id_scope}/registrations/{reg}", lambda data: b"\x00" * 32, "registration")
    assert_dps_error(env.register(reg, token=wrong, body=tpm_body(device, reg)), 401, 401000)
    # a replayed (older) challenge: a newer one replaced its key
    old_token = tpm_token(env, device, key, reg)
    device.esapi.flush_context(key)
    challenge(env, device, reg)
    assert_dps_error(env.register(reg, token=old_token, body=tpm_body(device, reg)), 401, 401000)
    # a disabled enrollment: the challenge is answered, the registration refused
    enroll(env, device, reg, provisioningStatus="disabled")
    key = device.import_challenge(challenge(env, device, reg))
    token = tpm_token(env, device, key, reg)
    device.esapi.flush_context(key)
    assert_dps_error(env.register(reg, token=token, body=tpm_body(device, reg)), 403, 403001)


def test_a_sas_without_a_challenge_is_refused(env, device):
    reg = unique("tpm-none-")
    enroll(env, device, reg)
    token = signed_sas(f"{env.id_scope}/registrations/{reg}", lambda data: b"\x01" * 32, "registration")
    body = assert_dps_error(env.register(reg, token=token, body=tpm_body(device, reg)), 401, 401000)
    assert "challenge" in body["message"]


def test_a_restart_between_the_challenge_and_the_register(tmp_path, emulator_with, device):
    data = tmp_path / "data"
    first = emulator_with(data_dir=data)
    arm = Arm(first.http)
    arm.group("rg-tpm-restart")
    env = create_env(arm, first, "rg-tpm-restart")
    reg = unique("tpm-restart-")
    enroll(env, device, reg)
    key = device.import_challenge(challenge(env, device, reg))
    token = tpm_token(env, device, key, reg)
    device.esapi.flush_context(key)
    first.stop(signal.SIGKILL)  # the challenge's key must already be durable
    second = emulator_with(data_dir=data)
    env.https, env.http, env.ca_file = second.https, second.http, second.ca_file
    env.session = requests.Session()
    operation = env.provision(reg, token=token, body=tpm_body(device, reg), csr=csr_b64(reg)[1])
    verify_issued(env, operation, reg)


def test_the_service_api_refuses_keys_that_are_not_tpm_storage_keys(env, device):
    reg = unique("tpm-enroll-")
    for ek, message in (("AAAA", "not a valid TPM2B_PUBLIC"), ("not base64!", "not a valid TPM2B_PUBLIC")):
        r = env.service("PUT", f"/enrollments/{reg}", {"registrationId": reg,
                                                         "attestation": {"type": "tpm", "tpm": {"endorsementKey": ek}}})
        assert r.status_code == 400 and r.json()["errorCode"] == 400006 and message in r.json()["message"], r.text
    r = env.service("PUT", f"/enrollments/{reg}", {"registrationId": reg, "attestation": {"type": "tpm", "tpm": {
        "endorsementKey": device.endorsement_key_b64, "storageRootKey": device.storage_root_key_b64}}})
    assert r.status_code == 200, r.text
    assert r.json()["attestation"]["tpm"]["endorsementKey"] == device.endorsement_key_b64
    assert "_tpmChallenge" not in r.text
    challenge(env, device, reg)
    assert "_tpmChallenge" not in env.service("GET", f"/enrollments/{reg}").text


def test_the_device_cli_with_a_tpm(env, tmp_path):
    """`device tpm-ek` prints what to enroll; `device register --tpm` runs both rounds and writes the chain."""
    reg = unique("tpm-cli-")
    with running_swtpm(tmp_path / "cli-tpm") as tcti:
        shown = subprocess.run([sys.executable, "-m", "provider", "device", "tpm-ek", "--tpm", tcti],
                               capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert shown.returncode == 0, shown.stderr
        fields = dict(line.split(":", 1) for line in shown.stdout.splitlines())
        assert fields["registrationId"].split()[0] == registration_id_for(fields["endorsementKey"].strip())
        env.put_enrollment({"registrationId": reg, "credentialPolicyName": "default", "attestation": {
            "type": "tpm", "tpm": {"endorsementKey": fields["endorsementKey"].strip()}}})
        key_out, chain_out = tmp_path / "dev.key.pem", tmp_path / "dev.chain.pem"
        result = subprocess.run(
            [sys.executable, "-m", "provider", "device", "register", "--dps", env.https, "--id-scope", env.id_scope,
             "--registration-id", reg, "--tpm", tcti, "--csr-key-out", str(key_out), "--chain-out", str(chain_out),
             "--ca-file", env.ca_file], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"deviceId:    {reg}" in result.stdout
    pems = chain_out.read_text().split("-----END CERTIFICATE-----")[:-1]
    assert len(pems) == 3
    leaf, ica, root = (tmp_path / f"c{i}.pem" for i in range(3))
    for path, text in zip((leaf, ica, root), pems, strict=True):
        path.write_text(text.strip() + "\n-----END CERTIFICATE-----\n")
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(root), "-untrusted", str(ica), str(leaf)],
                              capture_output=True, text=True, timeout=30)
    assert verified.returncode == 0 and verified.stdout.strip().endswith(": OK"), verified.stdout + verified.stderr


def test_renewal_is_another_challenge_and_register(env, device):
    """Re-registration with a new CSR: a new challenge, a new leaf for the same device, the old one replaced."""
    reg = unique("tpm-renew-")
    enroll(env, device, reg)
    leaves = []
    for _ in range(2):
        key = device.import_challenge(challenge(env, device, reg))
        token = tpm_token(env, device, key, reg)
        device.esapi.flush_context(key)
        operation = env.provision(reg, token=token, body=tpm_body(device, reg), csr=csr_b64(reg)[1])
        assert operation["registrationState"]["deviceId"] == reg
        leaves.append(verify_issued(env, operation, reg))
    assert leaves[0].serial_number != leaves[1].serial_number
    assert leaves[0].public_key() != leaves[1].public_key()
    registration = env.service("GET", f"/registrations/{reg}").json()
    assert registration["issuedCertificate"]["serialNumber"].lstrip("0") == f"{leaves[1].serial_number:X}".lstrip("0")


def test_the_device_cli_with_the_certificate_key_in_the_tpm(env, tmp_path):
    """`device register --tpm --tpm-key`: the TPM creates the key and signs the CSR; the key file holds only the
    SRK-wrapped blob, the leaf certifies the TPM's key, and the TPM (through tpm2-openssl) signs with it."""
    require_tpm2_openssl()
    reg = unique("tpm-key-")
    with running_swtpm(tmp_path / "key-tpm") as tcti:
        device = open_device_tpm(tcti)
        enroll(env, device, reg)
        device.close()
        key_out, chain_out = tmp_path / "dev.key.pem", tmp_path / "dev.chain.pem"
        result = subprocess.run(
            [sys.executable, "-m", "provider", "device", "register", "--dps", env.https, "--id-scope", env.id_scope,
             "--registration-id", reg, "--tpm", tcti, "--tpm-key", "--csr-key-out", str(key_out),
             "--chain-out", str(chain_out), "--ca-file", env.ca_file], capture_output=True, text=True, timeout=60,
            cwd=ROOT)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "only this TPM can load it" in result.stdout
        blob = key_out.read_text()
        assert blob.startswith("-----BEGIN TSS2 PRIVATE KEY-----") and "BEGIN PRIVATE KEY" not in blob
        assert key_out.stat().st_mode & 0o777 == 0o600
        with pytest.raises(ValueError):
            serialization.load_pem_private_key(blob.encode(), None)  # no software key in the file
        leaf, ica, root = x509.load_pem_x509_certificates(chain_out.read_bytes())
        assert openssl_verify(pem(root), pem(ica), leaf).returncode == 0
        public = openssl_with_tpm2(tcti, "pkey", "-in", str(key_out), "-pubout")
        assert public.returncode == 0, public.stderr
        assert public.stdout == leaf.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        message = tmp_path / "message"
        message.write_bytes(b"signed in the TPM")
        signed = openssl_with_tpm2(tcti, "dgst", "-sha384", "-sign", str(key_out), str(message))
        assert signed.returncode == 0, signed.stderr
    leaf.public_key().verify(signed.stdout, message.read_bytes(), ec.ECDSA(hashes.SHA384()))
    with pytest.raises(InvalidSignature):
        leaf.public_key().verify(signed.stdout, b"another message", ec.ECDSA(hashes.SHA384()))


def test_tpm_key_needs_a_tpm(tmp_path):
    result = subprocess.run([sys.executable, "-m", "provider", "device", "register", "--dps", "https://localhost:1",
                             "--id-scope", "0ne00000000", "--registration-id", "x", "--key", "AAAA", "--tpm-key"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2 and "--tpm-key needs --tpm" in result.stderr
