"""Provisioning throughput: devices registering through the emulated DPS with a P-384 CSR over HTTPS.

One run measures, on the same CSRs:

* dps/https   — N devices register (PUT .../register, then GET the operation) against a real
                emulator process with an on-disk store, from C concurrent clients that each keep
                one HTTPS connection alive (a `requests.Session` per thread). Each registration
                attests with a group-derived SAS key, allocates a hub, creates the ADR device and
                the hub device, signs the CSR and commits it all in one transaction;
* pki/inproc  — `Pki.issue_leaf` in-process, one thread (`bench/issuance.py`'s issuer): the
                signing core alone, no HTTP, no DPS;
* cfssl/https — the peer: `cfssl serve` (Debian's golang-cfssl) with a P-384 CA, signing the
                same CSRs through `POST /api/v1/cfssl/sign` over HTTPS (the emulator's TLS
                certificate), with the same C keep-alive clients. Skipped, with a message, when
                `cfssl` is not installed (`apt-get install -y golang-cfssl`).

The DPS figure is end-to-end provisioning and does strictly more work per device than cfssl's
signing; the ratios say what that costs. Usage:
    .venv/bin/python bench/provision.py [--count N] [--clients C] [--no-peer]
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from tests.dps_helpers import create_env, new_key_b64  # noqa: E402
from tests.emulator_process import Arm, EmulatorProcess  # noqa: E402

from bench.issuance import pki_issuer  # noqa: E402
from provider.dps.sas import derive_device_key, generate_sas  # noqa: E402
from provider.keystore.backends import open_keystore  # noqa: E402
from provider.pki import Pki  # noqa: E402
from provider.store import Store  # noqa: E402

API = "2025-07-01-preview"


def make_devices(count: int, prefix: str = "bench") -> list[tuple[str, str, str]]:
    """(registration id, base64 DER CSR, PEM CSR) with fresh P-384 keys."""
    devices = []
    for index in range(count):
        registration_id = f"{prefix}-{index:05d}"
        key = ec.generate_private_key(ec.SECP384R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, registration_id)]))
               .sign(key, hashes.SHA384()))
        devices.append((registration_id, base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode(),
                        csr.public_bytes(serialization.Encoding.PEM).decode()))
    return devices


def run_clients(items: list, clients: int, work: Callable[[requests.Session, object], None]) -> tuple[float, list]:
    """Run `work(session, item)` over `items` from `clients` threads; (wall seconds, latencies)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    queue = list(reversed(items))

    def worker() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if not queue or errors:
                        return
                    item = queue.pop()
                began = time.perf_counter()
                try:
                    work(session, item)
                except Exception as exc:  # report and stop the run, never hang
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    return
                spent = time.perf_counter() - began
                with lock:
                    latencies.append(spent)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} request(s) failed; first: {errors[0]}")
    return wall, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def bench_dps(devices: list, clients: int, workdir: Path) -> tuple[dict, EmulatorProcess]:
    """Provision every device through the emulator; the process stays up for the cfssl peer's TLS files."""
    emulator = EmulatorProcess(data_dir=workdir / "emulator").start()
    arm = Arm(emulator.http)
    arm.group("rg-bench")
    env = create_env(arm, emulator, "rg-bench")
    group_key = new_key_b64()
    env.put_enrollment({"enrollmentGroupId": "bench", "attestation": {"type": "symmetricKey", "symmetricKey": {
        "primaryKey": group_key}}, "credentialPolicyName": env.policy}, group=True)
    expiry = int(time.time()) + 3600
    tokens = {reg: generate_sas(f"{env.id_scope}/registrations/{reg}", derive_device_key(group_key, reg),
                                "registration", expiry) for reg, _, _ in devices}
    base = f"{env.https}/{env.id_scope}/registrations"

    def register(session: requests.Session, device) -> None:
        reg, csr, _ = device
        headers = {"Authorization": tokens[reg]}
        r = session.put(f"{base}/{reg}/register?api-version={API}", json={"registrationId": reg, "csr": csr},
                        headers=headers, verify=env.ca_file, timeout=60)
        if r.status_code != 202:
            raise RuntimeError(f"register {reg}: {r.status_code} {r.text[:200]}")
        # the emulator completes inside the PUT (see provider/dps/registration.py): poll at once
        polled = session.get(f"{base}/{reg}/operations/{r.json()['operationId']}?api-version={API}",
                             headers=headers, verify=env.ca_file, timeout=60)
        body = polled.json()
        if polled.status_code != 200 or len(body["registrationState"]["issuedCertificateChain"]) != 3:
            raise RuntimeError(f"poll {reg}: {polled.status_code} {polled.text[:200]}")

    warm = make_devices(clients * 2, "warm")
    tokens.update({reg: generate_sas(f"{env.id_scope}/registrations/{reg}", derive_device_key(group_key, reg),
                                     "registration", expiry) for reg, _, _ in warm})
    run_clients(warm, clients, register)
    wall, latencies = run_clients(devices, clients, register)
    return {"rate": len(devices) / wall, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "mean": statistics.fmean(latencies)}, emulator


def bench_inprocess(devices: list, workdir: Path) -> float:
    store = Store(workdir / "inproc" / "emulator.db")
    keystore = open_keystore(backend="soft", store=store, data_dir=workdir / "inproc")
    issue = pki_issuer(Pki(store, keystore))
    for reg, csr, _ in devices[:20]:
        issue(reg, csr)
    began = time.perf_counter()
    for reg, csr, _ in devices:
        issue(reg, csr)
    rate = len(devices) / (time.perf_counter() - began)
    keystore.close()
    store.close()
    return rate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _p384_ca(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cfssl bench CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA384()))
    cert_file, key_file = folder / "ca.pem", folder / "ca-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def bench_cfssl(devices: list, clients: int, workdir: Path, tls_dir: Path) -> dict | None:
    binary = shutil.which("cfssl")
    if binary is None:
        return None
    folder = workdir / "cfssl"
    folder.mkdir()
    ca_cert, ca_key = _p384_ca(folder)
    config = folder / "config.json"
    config.write_text(json.dumps({"signing": {"default": {"expiry": "720h",
                                                          "usages": ["digital signature", "client auth"]}}}))
    port = _free_port()
    proc = subprocess.Popen([binary, "serve", "-address", "127.0.0.1", "-port", str(port), "-ca", str(ca_cert),
                             "-ca-key", str(ca_key), "-config", str(config), "-tls-cert", str(tls_dir / "server.pem"),
                             "-tls-key", str(tls_dir / "server.key"), "-loglevel", "5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"https://localhost:{port}/api/v1/cfssl/sign"
    ca_file = str(tls_dir / "ca.pem")
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("cfssl serve did not start") from None
                time.sleep(0.1)

        def sign(session: requests.Session, device) -> None:
            r = session.post(url, json={"certificate_request": device[2]}, verify=ca_file, timeout=60)
            if r.status_code != 200 or not r.json().get("success"):
                raise RuntimeError(f"cfssl sign: {r.status_code} {r.text[:200]}")

        run_clients(devices[: clients * 2], clients, sign)
        wall, latencies = run_clients(devices, clients, sign)
        return {"rate": len(devices) / wall, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="devices (default 2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients (default 8)")
    parser.add_argument("--no-peer", action="store_true", help="skip the cfssl measurement")
    args = parser.parse_args(argv)

    print(f"building {args.count} P-384 CSRs ...", flush=True)
    devices = make_devices(args.count)
    with tempfile.TemporaryDirectory(prefix="adr-bench-provision-") as tmp:
        workdir = Path(tmp)
        print(f"provisioning {args.count} devices through DPS over HTTPS with {args.clients} clients ...", flush=True)
        dps, emulator = bench_dps(devices, args.clients, workdir)
        try:
            print("issuing in-process (Pki.issue_leaf, one thread) ...", flush=True)
            inproc = bench_inprocess(devices, workdir)
            peer = None
            if not args.no_peer:
                print(f"signing with cfssl serve over HTTPS with {args.clients} clients ...", flush=True)
                peer = bench_cfssl(devices, args.clients, workdir, workdir / "emulator" / "tls")
        finally:
            emulator.stop()

    print(f"\n{'measurement':<13}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'dps/https':<13}{dps['rate']:>9.1f}{dps['p50'] * 1000:>9.1f}{dps['p99'] * 1000:>9.1f}")
    print(f"{'pki/inproc':<13}{inproc:>9.1f}{'-':>9}{'-':>9}")
    if peer is not None:
        print(f"{'cfssl/https':<13}{peer['rate']:>9.1f}{peer['p50'] * 1000:>9.1f}{peer['p99'] * 1000:>9.1f}")
        print(f"\ndps/https   vs cfssl/https: {dps['rate'] / peer['rate']:.2f}x "
              "(DPS provisions: attestation, allocation, ADR + hub devices, issuance, one commit)")
        print(f"pki/inproc  vs cfssl/https: {inproc / peer['rate']:.2f}x")
    elif args.no_peer:
        print("\ncfssl/https: skipped (--no-peer)")
    else:
        print("\ncfssl/https: skipped (cfssl not installed: apt-get install -y golang-cfssl)")
    print(f"dps/https   vs pki/inproc:  {dps['rate'] / inproc:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
