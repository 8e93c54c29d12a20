"""Helpers shared by the key store and PKI tests: a SoftHSM2 token, CSRs, external roots, a clock.

The SoftHSM2 token is created once per test process: SoftHSM reads `SOFTHSM2_CONF` only when the
PKCS#11 library is first initialised, and python-pkcs11 keeps one library instance per process.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SOFTHSM_CANDIDATES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
TOKEN_LABEL = "t"
TOKEN_PIN = "1234"


def softhsm_module() -> str | None:
    for candidate in SOFTHSM_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    try:
        found = subprocess.run(
            ["find", "/usr/lib", "-name", "libsofthsm2.so"], capture_output=True, text=True, timeout=20
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return found[0] if found else None


SKIP_REASON = "SoftHSM2 is not installed (apt-get install -y softhsm2): no libsofthsm2.so / softhsm2-util"


@functools.cache
def softhsm_token() -> tuple[str, str, str] | None:
    """(module path, token label, user PIN) of a fresh token in a temporary directory, or None."""
    module = softhsm_module()
    tool = shutil.which("softhsm2-util")
    if module is None or tool is None:
        return None
    workdir = Path(tempfile.mkdtemp(prefix="adr-softhsm-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    (workdir / "tokens").mkdir()
    conf = workdir / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {workdir / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [tool, "--init-token", "--free", "--label", TOKEN_LABEL, "--pin", TOKEN_PIN, "--so-pin", "5678"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return module, TOKEN_LABEL, TOKEN_PIN


class Clock:
    """An injectable clock that tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = (start or datetime.now(UTC)).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


def cn(value: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)])


def make_csr(
    device_id: str,
    key: object | None = None,
    *,
    hash_algorithm: hashes.HashAlgorithm | None = None,
    ca: bool = False,
) -> tuple[object, bytes]:
    """(private key, DER CSR) for `device_id`, P-384/SHA-384 unless told otherwise."""
    key = key or ec.generate_private_key(ec.SECP384R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(cn(device_id))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    csr = builder.sign(key, hash_algorithm or hashes.SHA384())  # type: ignore[arg-type]
    return key, csr.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def resign(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, algorithm: str, digest) -> x509.Certificate:
    """Re-sign a certificate with another signature algorithm (cryptography refuses to emit SHA-1)."""
    tbs = asn1_x509.TbsCertificate.load(cert.tbs_certificate_bytes)
    tbs["signature"] = algos.SignedDigestAlgorithm({"algorithm": algorithm})
    tbs_der = tbs.dump(force=True)
    signature = key.sign(tbs_der, ec.ECDSA(digest))
    der = asn1_x509.Certificate(
        {
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs_der),
            "signature_algorithm": {"algorithm": algorithm},
            "signature_value": signature,
        }
    ).dump()
    return x509.load_der_x509_certificate(der)


ICA_CONSTRAINTS = x509.BasicConstraints(ca=True, path_length=0)
# digitalSignature, keyCertSign, cRLSign
ICA_KEY_USAGE = x509.KeyUsage(True, False, False, False, False, True, True, False, False)


@dataclass
class ExternalRoot:
    """A customer's own root CA for BYOR tests."""

    key: object
    cert: x509.Certificate

    @classmethod
    def create(
        cls,
        *,
        key: object | None = None,
        path_length: int | None = 1,
        name: str = "Contoso External Root",
        now: datetime | None = None,
    ) -> ExternalRoot:
        key = key or ec.generate_private_key(ec.SECP256R1())
        now = now or datetime.now(UTC)
        public = key.public_key()  # type: ignore[attr-defined]
        cert = (
            x509.CertificateBuilder()
            .subject_name(cn(name))
            .issuer_name(cn(name))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())  # type: ignore[arg-type]
        )
        return cls(key, cert)

    def sign_csr(
        self,
        csr_pem: str,
        *,
        now: datetime | None = None,
        subject: x509.Name | None = None,
        public_key: object | None = None,
        days: int = 730,
        not_before: datetime | None = None,
        basic_constraints: x509.BasicConstraints | None = ICA_CONSTRAINTS,
        basic_constraints_critical: bool = True,
        key_usage: x509.KeyUsage | None = ICA_KEY_USAGE,
        eku: list | None = None,
        ski: bool = True,
    ) -> x509.Certificate:
        """Sign the service's CSR into an issuing-CA certificate, with knobs to break each rule."""
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
        now = now or datetime.now(UTC)
        public = public_key or csr.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject or csr.subject)
            .issuer_name(self.cert.subject)
            .public_key(public)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),  # type: ignore[attr-defined]
                critical=False,
            )
        )
        if basic_constraints is not None:
            builder = builder.add_extension(basic_constraints, critical=basic_constraints_critical)
        if key_usage is not None:
            builder = builder.add_extension(key_usage, critical=True)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        if ski:
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)  # type: ignore[arg-type]
        digest = hashes.SHA256() if isinstance(self.key, rsa.RSAPrivateKey) else hashes.SHA384()
        return builder.sign(self.key, digest)  # type: ignore[arg-type]

    def intermediate(self, *, now: datetime | None = None, path_length: int | None = 1) -> ExternalRoot:
        """An external intermediate CA signed by this root (it can then sign the service's CSR)."""
        key = ec.generate_private_key(ec.SECP384R1())
        now = now or datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(cn("Contoso External Intermediate"))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1825))
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(ICA_KEY_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),  # type: ignore[attr-defined]
                critical=False,
            )
            .sign(self.key, hashes.SHA384())  # type: ignore[arg-type]
        )
        return ExternalRoot(key, cert)

    def chain(self, signed: x509.Certificate, *, include_root: bool = True) -> str:
        return pem(signed) + (pem(self.cert) if include_root else "")


CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
