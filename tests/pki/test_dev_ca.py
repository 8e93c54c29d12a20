"""The development CA users are told to trust: name-constrained to what the emulator serves, short-lived
server certificates issued at every start, its key 0600 in a 0700 directory."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from provider import devca


def _verify(ca: x509.Certificate, leaf: x509.Certificate, name: x509.DNSName | x509.IPAddress) -> None:
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(name)
    verifier.verify(leaf, [])


def _forge(ca_key, ca: x509.Certificate, san: x509.GeneralName) -> x509.Certificate:
    """What someone who read `ca.key` could sign: a server certificate for any name."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def test_the_ca_is_name_constrained_and_short_lived(tmp_path):
    files = devca.ensure_tls_files(tmp_path, "localhost", "localhost")
    ca = x509.load_pem_x509_certificate(files.ca_pem.read_bytes())
    server = x509.load_pem_x509_certificates(files.cert_pem.read_bytes())[0]
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert {n.value for n in constraints.value.permitted_subtrees} == {
        "localhost", ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")}
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days <= 366
    assert (server.not_valid_after_utc - server.not_valid_before_utc).days <= 8
    # the emulator's own names verify, forged ones for other hosts do not
    for name in (x509.DNSName("localhost"), x509.DNSName("myhub.azure-devices.localhost"),
                 x509.IPAddress(ipaddress.ip_address("127.0.0.1"))):
        _verify(ca, server, name)
    ca_key = serialization.load_pem_private_key((tmp_path / "tls" / "ca.key").read_bytes(), None)
    for san, name in ((x509.DNSName("login.microsoftonline.com"), x509.DNSName("login.microsoftonline.com")),
                      (x509.DNSName("example.com"), x509.DNSName("example.com")),
                      (x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                       x509.IPAddress(ipaddress.ip_address("10.0.0.1")))):
        with pytest.raises(VerificationError):
            _verify(ca, _forge(ca_key, ca, san), name)
    forged_local = _forge(ca_key, ca, x509.DNSName("other.localhost"))
    _verify(ca, forged_local, x509.DNSName("other.localhost"))  # (within what the CA may certify)


def test_files_and_directory_are_private(tmp_path):
    devca.ensure_tls_files(tmp_path, "localhost", "localhost")
    folder = tmp_path / "tls"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("ca.key", "server.key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600


def test_the_server_certificate_is_issued_anew_and_the_ca_kept(tmp_path):
    first = devca.ensure_tls_files(tmp_path, "localhost", "localhost")
    ca_before, cert_before = first.ca_pem.read_bytes(), first.cert_pem.read_bytes()
    second = devca.ensure_tls_files(tmp_path, "localhost", "localhost")
    assert second.ca_pem.read_bytes() == ca_before and second.cert_pem.read_bytes() != cert_before
    # other names: a CA constrained to them replaces the old one
    third = devca.ensure_tls_files(tmp_path, "emulator.test", "emulator.test")
    ca = x509.load_pem_x509_certificate(third.ca_pem.read_bytes())
    permitted = {n.value for n in ca.extensions.get_extension_for_class(x509.NameConstraints).value.permitted_subtrees}
    assert "emulator.test" in permitted and third.ca_pem.read_bytes() != ca_before


def test_an_unconstrained_ca_from_an_older_emulator_is_replaced(tmp_path):
    folder = tmp_path / "tls"
    folder.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old dev CA")])
    now = dt.datetime.now(dt.UTC)
    old = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
           .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
           .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(old.public_bytes(serialization.Encoding.PEM))
    (folder / "ca.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    files = devca.ensure_tls_files(tmp_path, "localhost", "localhost")
    ca = x509.load_pem_x509_certificate(files.ca_pem.read_bytes())
    assert ca.subject != old.subject or ca.serial_number != 1
    assert ca.extensions.get_extension_for_class(x509.NameConstraints)
