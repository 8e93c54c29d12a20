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

from bench._common import BARE_DPS, process_cpu_seconds, start_script  # noqa: E402
from bench.issuance import bare_issuer, pki_issuer  # noqa: E402
from provider.dps.sas import derive_device_key, generate_sas  # noqa: E402
from provider.keystore.backends import open_keystore  # noqa: E402
from provider.pki import Pki  # noqa: E402
from provider.store import Store  # noqa: E402
from tests.support.dps_helpers import create_env, new_key_b64  # noqa: E402
from tests.support.emulator_process import Arm, EmulatorProcess  # noqa: E402
from tests.support.emulator_thread import EmulatorThread  # noqa: E402

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


def registrar(base: str, tokens: dict[str, str], ca_file: str, check_chain: bool) -> Callable:
    """One device's registration as a DPS client makes it: PUT register with the CSR, then GET the operation."""

    def register(session: requests.Session, device) -> None:
        reg, csr, _ = device
        headers = {"Authorization": tokens[reg]}
        r = session.put(f"{base}/{reg}/register?api-version={API}", json={"registrationId": reg, "csr": csr},
                        headers=headers, verify=ca_file, timeout=60)
        if r.status_code != 202:
            raise RuntimeError(f"register {reg}: {r.status_code} {r.text[:200]}")
        # the emulator completes inside the PUT (see provider/dps/registration.py): poll at once
        polled = session.get(f"{base}/{reg}/operations/{r.json()['operationId']}?api-version={API}",
                             headers=headers, verify=ca_file, timeout=60)
        body = polled.json()
        if polled.status_code != 200 or (check_chain and len(body["registrationState"]["issuedCertificateChain"]) != 3):
            raise RuntimeError(f"poll {reg}: {polled.status_code} {polled.text[:200]}")

    return register


def measured(pid: int, items: list, clients: int, work: Callable) -> dict:
    """Rate, latencies and the server's CPU per item (utime + stime of `pid` over the run)."""
    cpu = process_cpu_seconds(pid)
    wall, latencies = run_clients(items, clients, work)
    cpu = process_cpu_seconds(pid) - cpu
    return {"rate": len(items) / wall, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
            "mean": statistics.fmean(latencies), "cpu_us": cpu / len(items) * 1e6}


def group_tokens(env, group_key: str, devices: list) -> dict[str, str]:
    expiry = int(time.time()) + 3600
    return {reg: generate_sas(f"{env.id_scope}/registrations/{reg}", derive_device_key(group_key, reg),
                              "registration", expiry) for reg, _, _ in devices}


def provisioning_env(arm: Arm, emulator) -> tuple[object, str]:
    arm.group("rg-bench")
    env = create_env(arm, emulator, "rg-bench")
    group_key = new_key_b64()
    env.put_enrollment({"enrollmentGroupId": "bench", "attestation": {"type": "symmetricKey", "symmetricKey": {
        "primaryKey": group_key}}, "credentialPolicyName": env.policy}, group=True)
    return env, group_key


def bench_dps(devices: list, clients: int, workdir: Path) -> tuple[dict, EmulatorProcess]:
    """Provision every device through the emulator; the process stays up for the peers' TLS files."""
    emulator = EmulatorProcess(data_dir=workdir / "emulator").start()
    env, group_key = provisioning_env(Arm(emulator.http), emulator)
    warm = make_devices(clients * 2, "warm")
    tokens = group_tokens(env, group_key, devices + warm)
    register = registrar(f"{env.https}/{env.id_scope}/registrations", tokens, env.ca_file, check_chain=True)
    run_clients(warm, clients, register)
    return measured(emulator.proc.pid, devices, clients, register), emulator


def bench_bare_http(devices: list, clients: int, tls_dir: Path) -> dict:
    """The same clients and requests against a bare Flask app on the emulator's listener stack."""
    proc, port = start_script(BARE_DPS, str(tls_dir / "server.pem"), str(tls_dir / "server.key"))
    try:
        tokens = {reg: "SharedAccessSignature sr=x&sig=y&se=1" for reg, _, _ in devices}
        register = registrar(f"https://localhost:{port}/0ne0000000/registrations", tokens, str(tls_dir / "ca.pem"),
                             check_chain=False)
        run_clients(devices[: clients * 4], clients, register)
        return measured(proc.pid, devices, clients, register)
    finally:
        proc.terminate()
        proc.wait(10)


def crypto_floor_us(devices: list) -> float:
    """CPU per certificate of the honest minimum: load + verify the CSR, sign, verify the new signature."""
    issue = bare_issuer(check=True)
    sample = devices[: min(len(devices), 500)]
    for reg, csr, _ in sample[:20]:
        issue(reg, csr)
    began = time.thread_time()
    for reg, csr, _ in sample:
        issue(reg, csr)
    return (time.thread_time() - began) / len(sample) * 1e6


def statements_per_registration(devices: list, workdir: Path) -> float:
    """SQL statements the server runs per registration (register + poll), counted in an in-process emulator
    with an on-disk store (sqlite3's trace callback sees every statement, sqlite-utils' included)."""
    emulator = EmulatorThread(in_memory=False, data_dir=workdir / "counted").start()
    try:
        env, group_key = provisioning_env(Arm(emulator.http), emulator)
        sample = devices[:50]
        register = registrar(f"{env.https}/{env.id_scope}/registrations", group_tokens(env, group_key, sample),
                             env.ca_file, check_chain=True)
        run_clients(sample[:5], 1, register)
        counted = [0]
        emulator.emu.store.db.conn.set_trace_callback(lambda _sql: counted.__setitem__(0, counted[0] + 1))
        run_clients(sample[5:], 1, register)
        emulator.emu.store.db.conn.set_trace_callback(None)
        return counted[0] / len(sample[5:])
    finally:
        emulator.stop()


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
        return measured(proc.pid, devices, clients, sign)
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
        tls_dir = workdir / "emulator" / "tls"
        try:
            print("the same requests against a bare Flask app on the emulator's listener stack ...", flush=True)
            bare = bench_bare_http(devices, args.clients, tls_dir)
            print("issuing in-process (Pki.issue_leaf, one thread) and the crypto floor ...", flush=True)
            inproc = bench_inprocess(devices, workdir)
            floor = crypto_floor_us(devices)
            peer = None
            if not args.no_peer:
                print(f"signing with cfssl serve over HTTPS with {args.clients} clients ...", flush=True)
                peer = bench_cfssl(devices, args.clients, workdir, tls_dir)
        finally:
            emulator.stop()
        print("counting SQL statements per registration (in-process emulator) ...", flush=True)
        statements = statements_per_registration(devices, workdir)

    print(f"\n{'measurement':<13}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'server CPU us':>15}")
    rows = [("dps/https", dps), ("bare/https", bare)] + ([("cfssl/https", peer)] if peer else [])
    for name, row in rows:
        print(f"{name:<13}{row['rate']:>9.1f}{row['p50'] * 1000:>9.1f}{row['p99'] * 1000:>9.1f}{row['cpu_us']:>15.0f}")
    print(f"{'pki/inproc':<13}{inproc:>9.1f}{'-':>9}{'-':>9}{'-':>15}")
    print()
    print(f"server CPU per registration: {dps['cpu_us']:.0f} us")
    if peer is not None:
        print(f"cfssl server CPU per sign: {peer['cpu_us']:.0f} us")
    print(f"crypto floor per registration: {floor:.0f} us")
    print(f"bare HTTP floor per registration: {bare['cpu_us']:.0f} us")
    print(f"client-bound ceiling: {bare['rate']:.1f} registrations/s")
    print(f"SQL statements per registration: {statements:.1f}")
    print()
    beyond = dps["cpu_us"] - floor - bare["cpu_us"]
    if peer is not None:
        print(f"target N < M (cheaper per certificate than cfssl): {dps['cpu_us']:.0f} vs {peer['cpu_us']:.0f} us "
              f"-> {'met' if dps['cpu_us'] < peer['cpu_us'] else 'NOT met'}")
        print(f"dps/https   vs cfssl/https: {dps['rate'] / peer['rate']:.2f}x "
              "(DPS provisions: attestation, allocation, ADR + hub devices, issuance, one commit)")
    elif args.no_peer:
        print("cfssl/https: skipped (--no-peer)")
    else:
        print("cfssl/https: skipped (cfssl not installed: apt-get install -y golang-cfssl)")
    verdict = "met" if beyond <= 300 else "NOT met"
    print(f"target N - F - H <= 300 us (DPS logic and store): {beyond:.0f} us -> {verdict}")
    ratio = dps["rate"] / bare["rate"]
    print(f"target rate >= 0.9 x ceiling: {ratio:.2f} -> {'met' if ratio >= 0.9 else 'NOT met'}")
    print(f"target p99 < 50 ms: {dps['p99'] * 1000:.1f} ms -> {'met' if dps['p99'] < 0.05 else 'NOT met'}")
    print(f"dps/https   vs pki/inproc:  {dps['rate'] / inproc:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
