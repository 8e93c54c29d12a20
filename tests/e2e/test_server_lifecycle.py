"""The server process itself: a restart keeps what a data directory holds, SIGINT stops it cleanly, and
HTTPS is served with the development CA that `adr-emulator ca-cert` prints."""

from __future__ import annotations

import signal
import subprocess
import sys

import requests
from cryptography import x509

from tests.support.adr_setup import ns_path
from tests.support.emulator_process import ROOT, Arm


def test_restart_keeps_resources(tmp_path, emulator_with):
    proc = emulator_with(data_dir=tmp_path)
    arm = Arm(proc.http)
    arm.group("persist")
    created = arm.put(ns_path("persist", "ns-keep"), {"location": "eastus", "tags": {"k": "v"}}).json()
    proc.stop()
    proc = emulator_with(data_dir=tmp_path)
    arm = Arm(proc.http)
    again = arm.get(ns_path("persist", "ns-keep"))
    assert again.status_code == 200 and again.json() == created
    proc.stop()
    assert (tmp_path / "emulator.db").exists()


def test_sigterm_stops_cleanly(emulator_with):
    proc = emulator_with()
    assert proc.stop(signal.SIGINT) == 0


def test_https_with_the_dev_ca_and_ca_cert_command(tmp_path, emulator_with):
    proc = emulator_with(data_dir=tmp_path)
    printed = subprocess.run([sys.executable, "-m", "provider", "ca-cert", "--data-dir", str(tmp_path)],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert printed == (tmp_path / "tls" / "ca.pem").read_text()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(printed)
    for base in (proc.https, proc.https_localhost):  # IP SAN and DNS SAN
        r = requests.get(f"{base}/subscriptions?api-version=2022-12-01", verify=str(ca_file), timeout=10)
        assert r.status_code == 200
    arm = Arm(proc.https)
    arm.s.verify = str(ca_file)
    arm.s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override session.verify
    arm.group("tls")
    assert arm.put(ns_path("tls", "ns-tls"), {"location": "eastus"}).status_code == 201
    server = x509.load_pem_x509_certificate((tmp_path / "tls" / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = names.get_values_for_type(x509.DNSName)
    assert "localhost" in dns and "*.azure-devices.localhost" in dns
    assert requests.get(proc.http + "/_emulator/ca.pem", timeout=5).text == printed
    proc.stop()
    missing = subprocess.run([sys.executable, "-m", "provider", "ca-cert", "--data-dir", str(tmp_path / "none")],
                             cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode == 1 and "start the emulator once" in missing.stderr
