"""Device-certificate issuance throughput: the PKI (soft and PKCS#11 key stores) against bare `cryptography`.

Every run builds N P-384 CSRs up front (base64 DER, as DPS forwards them), then times:

* bare           — what any Python CA must do at minimum: load + verify the CSR, build + sign the
                   certificate with `x509.CertificateBuilder` and a key object in memory;
* bare+check     — the same plus one ECDSA verification of the new certificate, which the PKI
                   does on purpose (it never returns a certificate whose signature it has not
                   checked), so this is the like-for-like ceiling for the PKI;
* pki/soft       — `Pki.issue_leaf` with the soft key store on an on-disk SQLite store;
* pki/pkcs11     — the same with SoftHSM2 (skipped when the module or softhsm2-util is missing).

Usage: .venv/bin/python bench/issuance.py [--count N] [--no-pkcs11]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier  # noqa: E402

from provider.keystore.backends import open_keystore  # noqa: E402
from provider.pki import REVOCATION_ID_OID, Pki  # noqa: E402
from provider.store import Store  # noqa: E402

POLICY = (
    "/subscriptions/s/resourcegroups/g/providers/microsoft.deviceregistry/namespaces/n/credentials/default/policies/p"
)
CREDENTIAL = "/subscriptions/s/resourcegroups/g/providers/microsoft.deviceregistry/namespaces/n/credentials/default"
SOFTHSM_MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")


def make_csrs(count: int) -> list[tuple[str, str]]:
    """(device id, base64 DER CSR) pairs with fresh P-384 keys."""
    result = []
    for index in range(count):
        device_id = f"device-{index:05d}"
        key = ec.generate_private_key(ec.SECP384R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
            .sign(key, hashes.SHA384())
        )
        result.append((device_id, base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode("ascii")))
    return result


def bare_issuer(check: bool) -> Callable[[str, str], bytes]:
    """The minimal equivalent with cryptography alone (same profile as the PKI's leaves)."""
    issuer_key = ec.generate_private_key(ec.SECP384R1())
    issuer_public = issuer_key.public_key()
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "0123456789abcdef0123456789abcdef")])
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public)
    revocation_oid = ObjectIdentifier(REVOCATION_ID_OID)

    def issue(device_id: str, csr_b64: str) -> bytes:
        csr = x509.load_der_x509_csr(base64.b64decode(csr_b64))
        if not csr.is_signature_valid:
            raise ValueError("bad CSR")
        public_key = csr.public_key()
        now = datetime.now(UTC).replace(microsecond=0)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
            .issuer_name(issuer_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(aki, critical=False)
            .add_extension(x509.UnrecognizedExtension(revocation_oid, b"\x0c\x05rev-1"), critical=False)
            .sign(issuer_key, hashes.SHA384())
        )
        if check:
            issuer_public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA384()))
        return cert.public_bytes(serialization.Encoding.DER)

    return issue


def pki_issuer(pki: Pki) -> Callable[[str, str], bytes]:
    pki.create_root_ca(CREDENTIAL, "Bench Root")
    pki.create_issuing_ca(POLICY, CREDENTIAL)

    def issue(device_id: str, csr_b64: str) -> bytes:
        return pki.issue_leaf(POLICY, csr_b64, device_id, 30, "rev-1").leaf_der

    return issue


def measure(contenders: dict[str, Callable[[str, str], bytes]], csrs: list[tuple[str, str]]) -> dict[str, float]:
    """Certificates per second for each contender, interleaved in rounds of 100 CSRs.

    Interleaving spreads CPU-frequency drift and noisy neighbours evenly over all contenders, so
    the ratios stay meaningful on a shared machine even when the absolute figures move.
    """
    for issue in contenders.values():  # warm caches (issuer context, unwrapped key, code paths)
        for device_id, csr in csrs[:20]:
            issue(device_id, csr)
    spent = dict.fromkeys(contenders, 0.0)
    for start in range(0, len(csrs), 100):
        chunk = csrs[start : start + 100]
        for name, issue in contenders.items():
            began = time.perf_counter()
            for device_id, csr in chunk:
                issue(device_id, csr)
            spent[name] += time.perf_counter() - began
    return {name: len(csrs) / seconds for name, seconds in spent.items()}


def softhsm_token(workdir: Path) -> tuple[str, str, str] | None:
    """Initialise a throw-away SoftHSM2 token; (module, label, pin) or None if unavailable."""
    module = next((path for path in SOFTHSM_MODULES if os.path.exists(path)), None)
    tool = shutil.which("softhsm2-util")
    if module is None or tool is None:
        return None
    tokens = workdir / "tokens"
    tokens.mkdir()
    conf = workdir / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [tool, "--init-token", "--free", "--label", "bench", "--pin", "1234", "--so-pin", "5678"],
        check=True,
        capture_output=True,
    )
    return module, "bench", "1234"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="certificates per measurement (default 2000)")
    parser.add_argument("--no-pkcs11", action="store_true", help="skip the SoftHSM2 measurement")
    args = parser.parse_args(argv)

    print(f"building {args.count} P-384 CSRs ...", flush=True)
    csrs = make_csrs(args.count)
    with tempfile.TemporaryDirectory(prefix="adr-bench-") as tmp:
        workdir = Path(tmp)
        contenders = {"bare": bare_issuer(check=False), "bare+check": bare_issuer(check=True)}
        opened: list = []

        soft_dir = workdir / "soft"
        store = Store(soft_dir / "emulator.db")
        keystore = open_keystore(backend="soft", store=store, data_dir=soft_dir)
        contenders["pki/soft"] = pki_issuer(Pki(store, keystore))
        opened.append((keystore, store))

        token = None if args.no_pkcs11 else softhsm_token(workdir)
        if token is not None:
            module, label, pin = token
            hsm_dir = workdir / "pkcs11"
            store = Store(hsm_dir / "emulator.db")
            keystore = open_keystore(
                backend="pkcs11",
                store=store,
                data_dir=hsm_dir,
                pkcs11_module=module,
                pkcs11_token=label,
                pkcs11_pin=pin,
            )
            contenders["pki/pkcs11"] = pki_issuer(Pki(store, keystore))
            opened.append((keystore, store))

        print(f"issuing {args.count} certificates with each of: {', '.join(contenders)} ...", flush=True)
        results = measure(contenders, csrs)
        for keystore, store in opened:
            keystore.close()
            store.close()

    bare, ceiling = results["bare"], results["bare+check"]
    print(f"\n{'measurement':<14}{'certs/s':>10}{'vs bare':>10}{'vs bare+check':>15}")
    for name, value in results.items():
        print(f"{name:<14}{value:>10.1f}{value / bare:>10.0%}{value / ceiling:>15.0%}")
    if "pki/pkcs11" not in results:
        print("pki/pkcs11: skipped (" + ("--no-pkcs11" if args.no_pkcs11 else "SoftHSM2 not installed") + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
