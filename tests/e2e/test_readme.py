"""The README's shell walk-through, run as written (ports and paths adjusted), so the docs stay true."""

from __future__ import annotations

import re
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.emulator_process import ROOT


def readme_block(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def run_walkthrough(heading: str, tmp_path, emulator_with,
                    replacements: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A README shell block against a fresh emulator (its ports, this checkout's templates and CLI)."""
    script = readme_block(heading)
    for old, new in (replacements or {}).items():
        script = script.replace(old, new)
    emu = emulator_with(data_dir=tmp_path / ".adr-emulator")
    http_port = emu.http.rsplit(":", 1)[1]
    https_port = emu.https.rsplit(":", 1)[1]
    script = (script.replace("127.0.0.1:7780", f"127.0.0.1:{http_port}")
              .replace("localhost:7443", f"localhost:{https_port}")
              .replace("arm_templates/", f"{ROOT}/arm_templates/")
              .replace(".venv/bin/adr-emulator", f"{sys.executable} -m provider"))
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def test_provision_a_device_from_the_shell(tmp_path, emulator_with):
    result = run_walkthrough("### Provision a device from the shell", tmp_path, emulator_with)
    assert "cert-00: OK" in result.stdout  # openssl verify of the issued chain
    assert '"name": "sensor-001"' in result.stdout  # the ADR device
    assert (tmp_path / "sensor-001.key.pem").stat().st_mode & 0o777 == 0o600


def test_first_walk_through_with_curl(tmp_path, emulator_with):
    script = readme_block("### A first walk-through with curl")
    emu = emulator_with(data_dir=tmp_path / ".adr-emulator")
    script = script.replace("127.0.0.1:7780", f"127.0.0.1:{emu.http.rsplit(':', 1)[1]}")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("-----BEGIN CERTIFICATE-----") >= 2  # root + issuing CA in PEM
    assert '"provisioningState": "Succeeded"' in result.stdout and '"error"' not in result.stdout


def test_several_emulators_side_by_side(tmp_path):
    """The README's side-by-side block, run twice in one shell: two emulators on free ports."""
    block = readme_block("### Several emulators side by side").replace(
        ".venv/bin/adr-emulator", f"{sys.executable} -m provider")
    second = block.replace("emu-a", "emu-b").replace("a.log", "b.log").replace("ARM=", "ARM2=")
    script = (block.replace("/tmp/emu-a", str(tmp_path / "emu-a"))
              + second.replace("/tmp/emu-b", str(tmp_path / "emu-b"))
              + 'curl -sf "$ARM/_emulator/health" && curl -sf "$ARM2/_emulator/health"\n'
              + 'test "$ARM" != "$ARM2"\nkill %1 %2\n')
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.count('"status": "healthy"') == 2


def test_provision_a_device_with_the_ga_model(tmp_path, emulator_with):
    result = run_walkthrough("### The same with the GA model (api-version 2026-11-01)", tmp_path, emulator_with)
    assert "ga-00: OK" in result.stdout  # openssl verify: leaf <- ICA <- root
    assert '"certificatePolicyName": "fleet"' in result.stdout


def test_provision_a_tpm_device(tmp_path, emulator_with):
    from tests.support.swtpm import port_pair, require_tpm2_openssl, require_tpm_stack  # lazy: the TPM stack

    require_tpm_stack()
    require_tpm2_openssl()
    port, control = port_pair()
    heading = "### Provision a TPM device (swtpm)"
    original = readme_block(heading)
    assert "port=2321" in original and "port=2322" in original and "127.0.0.1/2321" in original
    result = run_walkthrough(heading, tmp_path, emulator_with,
                             {"port=2321": f"port={port}", "port=2322": f"port={control}",
                              "127.0.0.1/2321": f"127.0.0.1/{port}"})
    assert "tpm-cert-00: OK" in result.stdout
    assert (tmp_path / "tpm-001.key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tpm-001.tss.pem").read_text().startswith("-----BEGIN TSS2 PRIVATE KEY-----")
    renewed = x509.load_pem_x509_certificate((tmp_path / "tpm-001.chain.pem").read_bytes())
    assert renewed.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode() in result.stdout
