"""The emulator process with `--keystore pkcs11` against a SoftHSM2 token it has never seen."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import requests
from cryptography import x509

from tests.support.adr_setup import create_namespace_with_policy, namespace_pki, ns_path
from tests.support.emulator_process import Arm
from tests.support.pki_fixtures import SKIP_REASON, softhsm_module


@pytest.fixture()
def token(tmp_path):
    module = softhsm_module()
    tool = shutil.which("softhsm2-util")
    if module is None or tool is None:
        pytest.skip(SKIP_REASON)
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    subprocess.run([tool, "--init-token", "--free", "--label", "emu", "--pin", "4321", "--so-pin", "8765"],
                   check=True, capture_output=True, env={"SOFTHSM2_CONF": str(conf)}, timeout=60)
    return module, str(conf)


def test_pkcs11_keystore_end_to_end(tmp_path, token, emulator_with):
    module, conf = token
    args = ("--keystore", "pkcs11", "--pkcs11-module", module, "--pkcs11-token", "emu", "--pkcs11-pin", "4321")
    data = tmp_path / "data"
    proc = emulator_with(*args, data_dir=data, env={"SOFTHSM2_CONF": conf})
    arm = Arm(proc.http)
    arm.group("hsm")
    create_namespace_with_policy(arm, "hsm", "ns-hsm")
    before = namespace_pki(arm, "hsm", "ns-hsm")
    proc.stop()
    (tmp_path / "root.pem").write_text(before["root"])
    (tmp_path / "ica.pem").write_text(before["policies"]["default"]["issuingCa"])
    out = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "ica.pem")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not list(data.glob("master.key"))  # no soft master key: the keys live on the token
    # after a restart the token still holds the keys: rotating the issuer signs with the root again
    proc = emulator_with(*args, data_dir=data, env={"SOFTHSM2_CONF": conf})
    arm = Arm(proc.http)
    r = arm.post(f"{ns_path('hsm', 'ns-hsm')}/credentials/default/policies/default/revokeIssuer")
    assert r.status_code == 202
    assert requests.get(r.headers["Location"], timeout=10).status_code in (200, 204)
    after = namespace_pki(arm, "hsm", "ns-hsm")
    proc.stop()
    root = x509.load_pem_x509_certificate(after["root"].encode())
    new_ica = x509.load_pem_x509_certificate(after["policies"]["default"]["issuingCa"].encode())
    assert after["policies"]["default"]["thumbprint"] != before["policies"]["default"]["thumbprint"]
    new_ica.verify_directly_issued_by(root)


def test_pkcs11_wrong_pin_is_a_clear_start_up_error(tmp_path, token):
    import sys

    from tests.support.emulator_process import ROOT

    module, conf = token
    result = subprocess.run(
        [sys.executable, "-m", "provider", "serve", "--port", "0", "--https-port", "-1", "--mqtt-port", "-1",
         "--data-dir", str(tmp_path / "d"), "--keystore", "pkcs11", "--pkcs11-module", module,
         "--pkcs11-token", "emu", "--pkcs11-pin", "0000"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={"SOFTHSM2_CONF": conf, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "cannot open the pkcs11 key store" in result.stderr and "Traceback" not in result.stderr
