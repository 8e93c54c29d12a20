"""The development CA and the TLS server certificate the emulator serves HTTPS and MQTT with.

Created in `<data-dir>/tls/` (a 0700 directory): `ca.pem` (users trust this), `ca.key`,
`server.pem` and `server.key` (the keys 0600: the TLS stack needs them as files).

Trusting the CA must not let whoever reads `ca.key` impersonate any host, so the CA is
name-constrained (RFC 5280, critical) to what the emulator serves: `localhost` and its
subdomains, the advertised host, the host-name suffix (`{hub}.azure-devices.{suffix}`...),
127.0.0.0/8 and ::1. It lives a year and is replaced when it nears its end or when its
constraints no longer cover the configured names. The server certificate is short-lived and
issued anew at every start.

This is a transport credential for a local tool, not part of the emulated PKI: the namespace and
policy CA keys live in the key store and never touch disk unwrapped.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

SERVER_VALIDITY_DAYS = 7
CA_VALIDITY_DAYS = 365
CA_RENEW_BEFORE_DAYS = 30
LOOPBACK_NETWORKS = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True)
class TlsFiles:
    ca_pem: Path
    cert_pem: Path
    key_pem: Path


def server_names(public_host: str, suffix: str) -> list[str]:
    names = ["localhost", "127.0.0.1", "::1", public_host,
             f"*.azure-devices.{suffix}", f"*.azure-devices-provisioning.{suffix}"]
    return sorted(set(names))


def permitted_names(public_host: str, suffix: str) -> tuple[list[str], list[str]]:
    """(DNS names, IP networks) the development CA may certify: each DNS name with its subdomains."""
    dns, networks = {"localhost", suffix.lower().strip(".")}, set(LOOPBACK_NETWORKS)
    try:
        networks.add(str(ipaddress.ip_network(public_host)))
    except ValueError:
        dns.add(public_host.lower())
    return sorted(dns), sorted(networks)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def ensure_tls_files(data_dir: Path | None, public_host: str, suffix: str) -> TlsFiles:
    """Create (or reuse) the dev CA and a server certificate for `server_names`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = (data_dir / "tls") if data_dir else Path(tempfile.mkdtemp(prefix="adr-emulator-tls-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    ca_pem, ca_key_pem = folder / "ca.pem", folder / "ca.key"
    cert_pem, key_pem, names_file = folder / "server.pem", folder / "server.key", folder / "server.names"
    names = server_names(public_host, suffix)
    dns, networks = permitted_names(public_host, suffix)
    constraints = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_network(n))
                                                           for n in networks],
        excluded_subtrees=None)
    now = dt.datetime.now(dt.UTC)

    ca_cert = ca_key = None
    if ca_pem.exists() and ca_key_pem.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_pem.read_bytes(), None)
        if not _still_good(ca_cert, constraints, now):
            ca_cert = ca_key = None  # unconstrained (older emulators), constrained to other names, or near its end
    if ca_cert is None or ca_key is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "adr-emulator development CA"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "adr-emulator")])
        ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca_cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_VALIDITY_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(constraints, critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(ca_key_pem, ca_key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
        ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    names_file.unlink(missing_ok=True)  # (written by older emulators; the certificate is issued anew anyway)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, public_host)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=SERVER_VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                     crl_sign=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_pem, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    pem = serialization.Encoding.PEM
    cert_pem.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    return TlsFiles(ca_pem, cert_pem, key_pem)


def _still_good(ca_cert: x509.Certificate, constraints: x509.NameConstraints, now: dt.datetime) -> bool:
    """The stored CA can stay: it carries exactly these name constraints and is not near its end."""
    current = next((ext.value for ext in ca_cert.extensions if ext.oid == constraints.oid), None)
    return current == constraints and ca_cert.not_valid_after_utc > now + dt.timedelta(days=CA_RENEW_BEFORE_DAYS)
