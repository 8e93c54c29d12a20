"""Helpers that build Device Registry setups over plain HTTP, shared by several test modules."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

API = "2026-03-01-preview"


def ns_path(rg: str, ns: str) -> str:
    return f"resourceGroups/{rg}/providers/Microsoft.DeviceRegistry/namespaces/{ns}"


def policy_body(days: int = 30, byor: bool = False) -> dict:
    ca: dict = {"keyType": "ECC"}
    if byor:
        ca["bringYourOwnRoot"] = {"enabled": True}
    return {"properties": {"certificate": {"certificateAuthorityConfiguration": ca,
                                           "leafCertificateConfiguration": {"validityPeriodInDays": days}}}}


def create_namespace_with_policy(arm, rg: str, ns: str, policy: str = "default", days: int = 30) -> dict:
    """Namespace, credential and one policy; returns the policy body."""
    assert arm.put(ns_path(rg, ns), {"location": "eastus", "identity": {"type": "SystemAssigned"}}).status_code == 201
    r = arm.put(f"{ns_path(rg, ns)}/credentials/default", {"location": "eastus"})
    assert r.status_code == 201, r.text
    r = arm.put(f"{ns_path(rg, ns)}/credentials/default/policies/{policy}", policy_body(days))
    assert r.status_code == 201, r.text
    return r.json()


def namespace_pki(arm, rg: str, ns: str) -> dict:
    doc = arm.get(ns_path(rg, ns)).json()
    r = arm.get(f"/_emulator/namespaces/{doc['properties']['uuid']}/ca", api_version=None)
    assert r.status_code == 200, r.text
    return r.json()


def make_csr(common_name: str, curve: ec.EllipticCurve | None = None):
    key = ec.generate_private_key(curve or ec.SECP384R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA384()))
    return key, csr


def external_root(path_length: int = 1, days: int = 3650, key=None, hash_alg=None, ski: bool = True,
                  key_usage: bool = True):
    """A user's own root CA for Bring Your Own Root tests."""
    key = key or ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Contoso external root")])
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True))
    if key_usage:
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                      content_commitment=False, key_encipherment=False,
                                                      data_encipherment=False, key_agreement=False,
                                                      encipher_only=False, decipher_only=False), critical=True)
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return key, builder.sign(key, hash_alg or hashes.SHA384())


def sign_byor_csr(csr_pem: str, root_key, root_cert, days: int = 730, hash_alg=None, subject=None,
                  ski: bool = True) -> x509.Certificate:
    """Sign the service's BYOR CSR as the user's root would (an issuing CA, pathLen 0)."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject or csr.subject).issuer_name(root_cert.subject)
               .public_key(csr.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_cert.public_key()),
                              critical=False))
    if ski:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
    return builder.sign(root_key, hash_alg or hashes.SHA384())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()
