"""The PKI: certificate profiles, CSR rules, rotation, revocation, expiry and BYOR activation.

Everything runs on the soft key store; `test_pkcs11_smoke` repeats the main path on SoftHSM2.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier, SignatureAlgorithmOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, VerificationError
from cryptography.x509.verification import Store as TrustStore

from provider.keystore.backends import open_keystore
from provider.keystore.soft import MASTER_KEY_ENV
from provider.pki import REVOCATION_ID_OID, CaRecord, IssuedChain, Pki, PkiError
from provider.store import Store
from tests.support.pki_fixtures import (
    CLIENT_AUTH,
    SERVER_AUTH,
    SKIP_REASON,
    Clock,
    ExternalRoot,
    cn,
    make_csr,
    pem,
    resign,
    softhsm_token,
)

CRED = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.DeviceRegistry/namespaces/ns/credentials/default"
POLICY = CRED + "/policies/default"
BYOR = CRED + "/policies/byor"


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def pki(clock, monkeypatch) -> Pki:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    store = Store(None)
    return Pki(store, open_keystore(backend="soft", store=store, data_dir=None), clock=clock)


@pytest.fixture()
def managed(pki) -> tuple[CaRecord, CaRecord]:
    return pki.create_root_ca(CRED, "Contoso Root"), pki.create_issuing_ca(POLICY, CRED)


def cert_of(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def ext(cert: x509.Certificate, cls):
    return cert.extensions.get_extension_for_class(cls)


def issue(pki: Pki, device_id: str = "device-1", *, policy: str = POLICY, days: int = 30, rev: str = "rev-1"):
    _, der = make_csr(device_id)
    return pki.issue_leaf(policy, base64.b64encode(der).decode(), device_id, days, rev)


def check(pki: Pki, chain_der: list[bytes], trusted: list[bytes], device_id: str, rev: str | None = "rev-1", **kw):
    """`Pki.verify_device_chain` with the test's usual arguments."""
    pki.verify_device_chain(chain_der, trusted, device_id=device_id, current_revocation_id=rev, **kw)


def assert_common_ca_profile(cert: x509.Certificate) -> None:
    assert cert.version is x509.Version.v3
    assert cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA384
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP384R1)
    assert cert.serial_number >= 2**64
    ski = ext(cert, x509.SubjectKeyIdentifier)
    assert not ski.critical
    assert ski.value.digest == x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


# -- CA profiles -------------------------------------------------------------------------------------------


def test_root_ca_profile(pki, clock):
    root = pki.create_root_ca(CRED, "Contoso Root")
    assert (root.owner, root.kind, root.status) == (CRED.lower(), "root", "active")
    assert root.csr_pem is None and root.external_chain_pem is None
    cert = cert_of(root.certificate_der)
    assert_common_ca_profile(cert)
    assert root.subject == "CN=Contoso Root" == cert.subject.rfc4514_string()
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 1
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    aki = ext(cert, x509.AuthorityKeyIdentifier)
    assert aki.value.key_identifier == ext(cert, x509.SubjectKeyIdentifier).value.digest
    assert cert.not_valid_before_utc == clock() - timedelta(minutes=1)
    assert cert.not_valid_after_utc == clock() + timedelta(days=3650)
    assert (root.not_before, root.not_after) == (cert.not_valid_before_utc, cert.not_valid_after_utc)
    assert root.thumbprint == hashlib.sha1(root.certificate_der).hexdigest().upper()  # noqa: S324
    assert x509.load_pem_x509_certificate(root.certificate_pem.encode()) == cert
    assert pki.keystore.public_key(root.key_id).public_numbers() == cert.public_key().public_numbers()


def test_validity_past_2049_uses_generalized_time(pki, clock):
    root = pki.create_root_ca(CRED, "Long-lived Root", validity_days=40 * 365)
    assert root.not_after == clock() + timedelta(days=40 * 365)
    assert root.not_after.year >= 2050
    assert cert_of(root.certificate_der).not_valid_after_utc == root.not_after
    validity = asn1_x509.Certificate.load(root.certificate_der)["tbs_certificate"]["validity"]
    assert validity["not_before"].name == "utc_time" and validity["not_after"].name == "general_time"


def test_issuing_ca_profile(pki, managed):
    root, ica = managed
    assert (ica.kind, ica.status, ica.owner) == ("issuing", "active", POLICY.lower())
    cert, root_cert = cert_of(ica.certificate_der), cert_of(root.certificate_der)
    assert_common_ca_profile(cert)
    cert.verify_directly_issued_by(root_cert)
    name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert len(name) == 32 and all(c in "0123456789abcdef" for c in name)
    assert ica.subject == f"CN={name}"
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign and usage.value.digital_signature
    aki = ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == ext(root_cert, x509.SubjectKeyIdentifier).value.digest
    assert cert.not_valid_after_utc <= root_cert.not_valid_after_utc
    assert pki.root_for(POLICY) == root


def test_owner_rules(pki, managed):
    with pytest.raises(PkiError) as caught:
        pki.create_root_ca(CRED.upper(), "Again")  # owners are case-insensitive ARM ids
    assert caught.value.code == "CaAlreadyExists"
    with pytest.raises(PkiError) as caught:
        pki.create_issuing_ca(POLICY, CRED)
    assert caught.value.code == "CaAlreadyExists"
    with pytest.raises(PkiError) as caught:
        pki.create_issuing_ca(CRED + "/policies/other", CRED + "/nothing-here")
    assert caught.value.code == "RootCaNotFound"
    assert pki.active_ca(POLICY.upper()) == managed[1]
    with pytest.raises(PkiError) as caught:
        pki.create_byor_request(POLICY)  # a managed policy cannot switch to an external root
    assert caught.value.code == "OperationNotAllowed"


# -- device certificates -----------------------------------------------------------------------------------


def test_leaf_profile_and_chain(pki, managed, clock):
    root, ica = managed
    chain = issue(pki, "device-1", days=30, rev="rev-abc")
    assert isinstance(chain, IssuedChain)
    leaf = cert_of(chain.leaf_der)
    ica_cert = cert_of(ica.certificate_der)
    assert chain.chain_der() == [chain.leaf_der, ica.certificate_der, root.certificate_der]
    assert [base64.b64decode(item) for item in chain.chain_b64()] == chain.chain_der()
    assert [
        c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(chain.chain_pem().encode())
    ] == chain.chain_der()

    assert leaf.version is x509.Version.v3
    assert leaf.subject == cn("device-1") and leaf.issuer == ica_cert.subject
    assert leaf.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA384
    leaf.verify_directly_issued_by(ica_cert)
    assert leaf.serial_number == chain.serial >= 2**64
    constraints = ext(leaf, x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usage = ext(leaf, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not (usage.value.key_cert_sign or usage.value.crl_sign or usage.value.key_encipherment)
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ext(leaf, x509.SubjectKeyIdentifier).value.digest == (
        x509.SubjectKeyIdentifier.from_public_key(leaf.public_key()).digest
    )
    assert ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier == (
        ext(ica_cert, x509.SubjectKeyIdentifier).value.digest
    )
    revocation = leaf.extensions.get_extension_for_oid(ObjectIdentifier(REVOCATION_ID_OID))
    assert not revocation.critical
    assert revocation.value.value == b"\x0c\x07rev-abc"  # UTF8String
    assert Pki.revocation_id_of(chain.leaf_der) == "rev-abc"
    assert Pki.revocation_id_of(ica.certificate_der) is None
    assert leaf.not_valid_before_utc == chain.not_before == clock() - timedelta(minutes=1)
    assert leaf.not_valid_after_utc == chain.not_after == clock() + timedelta(days=30)

    [record] = pki.issued_certificates(device_id="device-1")
    assert record == {
        "serial": f"{chain.serial:X}",
        "device_id": "device-1",
        "policy_owner": POLICY.lower(),
        "issuer_thumbprint": ica.thumbprint,
        "thumbprint": hashlib.sha1(chain.leaf_der).hexdigest().upper(),  # noqa: S324
        "not_before": chain.not_before.isoformat().replace("+00:00", "Z"),
        "not_after": chain.not_after.isoformat().replace("+00:00", "Z"),
        "status": "active",
        "revocation_id": "rev-abc",
    }
    assert pki.issued_certificates(policy_owner=POLICY.upper()) == [record]
    json.dumps(record)  # the internal views serialise these rows as they are


def test_a_signature_from_the_wrong_key_is_caught(pki, managed, monkeypatch):
    impostor = ec.generate_private_key(ec.SECP384R1())

    def wrong_sign(key_id: str, data: bytes, hash_name: str = "sha384") -> bytes:
        return impostor.sign(data, ec.ECDSA(hashes.SHA384()))

    monkeypatch.setattr(pki.keystore, "sign", wrong_sign)
    with pytest.raises(PkiError) as caught:
        issue(pki, "device-imp")
    assert caught.value.code == "SigningFailed"
    assert pki.issued_certificates(device_id="device-imp") == []


@pytest.mark.parametrize("form", ["pem", "der", "b64-str", "b64-bytes", "b64-wrapped"])
def test_csr_encodings_accepted(pki, managed, form):
    _, der = make_csr("device-enc")
    b64 = base64.b64encode(der)
    body = {
        "pem": x509.load_der_x509_csr(der).public_bytes(serialization.Encoding.PEM).decode(),
        "der": der,
        "b64-str": b64.decode(),
        "b64-bytes": b64,
        "b64-wrapped": b"\n".join(b64[i : i + 64] for i in range(0, len(b64), 64)),
    }[form]
    chain = pki.issue_leaf(POLICY, body, "device-enc", 7, "r")
    assert cert_of(chain.leaf_der).subject == cn("device-enc")


def test_openssl_verifies_the_chain(pki, managed, tmp_path):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not installed")
    root, ica = managed
    chain = issue(pki, "device-ossl")
    files = {}
    for name, der in zip(("leaf", "ica", "root"), chain.chain_der(), strict=True):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(pem(cert_of(der)))
    result = subprocess.run(
        [
            openssl,
            "verify",
            "-x509_strict",
            "-purpose",
            "sslclient",
            "-CAfile",
            files["root"],
            "-untrusted",
            files["ica"],
            files["leaf"],
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


def test_cryptography_client_verifier_accepts_the_chain(pki, managed, clock):
    root, ica = managed
    chain = issue(pki, "device-cv")
    leaf = cert_of(chain.leaf_der)
    builder = PolicyBuilder().store(TrustStore([cert_of(root.certificate_der)])).time(clock())
    # the stock Web PKI client profile insists on a SAN, which device certificates do not carry
    with pytest.raises(VerificationError, match="2.5.29.17"):
        builder.build_client_verifier().verify(leaf, [cert_of(ica.certificate_der)])
    # ... with only that relaxed, the ClientVerifier builds leaf -> ICA -> root
    relaxed = builder.extension_policies(
        ca_policy=ExtensionPolicy.webpki_defaults_ca(),
        ee_policy=ExtensionPolicy.webpki_defaults_ee().may_be_present(
            x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
        ),
    ).build_client_verifier()
    verified = relaxed.verify(leaf, [cert_of(ica.certificate_der)])
    assert [c.subject for c in verified.chain] == [
        leaf.subject,
        cert_of(ica.certificate_der).subject,
        cn("Contoso Root"),
    ]
    check(pki, chain.chain_der(), [root.certificate_der], "device-cv", "rev-1")
    check(pki, chain.chain_der()[:2], [ica.certificate_der], "device-cv", "rev-1")


# -- CSR rules ---------------------------------------------------------------------------------------------


def _bad_signature(device_id: str) -> bytes:
    _, der = make_csr(device_id)
    return der[:-1] + bytes([der[-1] ^ 0x01])  # flip a bit of the signature's s value


def _truncated(device_id: str) -> bytes:
    return make_csr(device_id)[1][:-20]


def _huge(device_id: str) -> str:
    return base64.b64encode(b"\x30" + b"\x00" * 20_000).decode()


def _huge_der(device_id: str) -> bytes:
    key = ec.generate_private_key(ec.SECP384R1())
    names = [x509.DNSName(f"host-{i:05d}.example.com") for i in range(400)]
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(cn(device_id))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA384())
    )
    return csr.public_bytes(serialization.Encoding.DER)


BAD_CSRS = {
    "bad-signature": (_bad_signature, "CsrSignatureInvalid"),
    "cn-mismatch": (lambda d: make_csr("someone-else")[1], "CsrSubjectMismatch"),
    "rsa-1024": (
        lambda d: make_csr(d, rsa.generate_private_key(65537, 1024), hash_algorithm=hashes.SHA256())[1],
        "UnsupportedKeyType",
    ),
    "p256-not-allowed": (lambda d: make_csr(d, ec.generate_private_key(ec.SECP256R1()))[1], "UnsupportedKeyType"),
    "ca-request": (lambda d: make_csr(d, ca=True)[1], "CaRequestNotAllowed"),
    "truncated-der": (_truncated, "InvalidCsr"),
    "not-base64": (lambda d: "this is *not* base64 @@@", "InvalidCsrEncoding"),
    "not-base64-bytes": (lambda d: b"\xff\xfe garbage", "InvalidCsrEncoding"),
    "base64-of-garbage": (lambda d: base64.b64encode(b"hello world").decode(), "InvalidCsr"),
    "huge-body": (_huge, "CsrTooLarge"),
    "huge-der": (_huge_der, "CsrTooLarge"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSRS))
def test_bad_csr_codes(pki, managed, case):
    build, code = BAD_CSRS[case]
    with pytest.raises(PkiError) as caught:
        pki.issue_leaf(POLICY, build("device-bad"), "device-bad", 30, "rev")
    assert caught.value.code == code, caught.value.message
    assert caught.value.message
    assert pki.issued_certificates(device_id="device-bad") == []


def test_csr_rules_apply_in_order(pki, managed):
    _, der = make_csr("someone-else", rsa.generate_private_key(65537, 1024), hash_algorithm=hashes.SHA256())
    tampered = der[:-1] + bytes([der[-1] ^ 0x01])
    with pytest.raises(PkiError) as caught:  # bad signature is reported before CN and key type
        pki.issue_leaf(POLICY, tampered, "device-1", 30, "rev")
    assert caught.value.code == "CsrSignatureInvalid"
    with pytest.raises(PkiError) as caught:  # then the CN, before the key type
        pki.issue_leaf(POLICY, der, "device-1", 30, "rev")
    assert caught.value.code == "CsrSubjectMismatch"


def test_allowed_csr_keys_can_be_widened(clock):
    store = Store(None)
    pki = Pki(
        store,
        open_keystore(backend="soft", store=store, data_dir=None),
        allowed_csr_keys=("P-384", "P-256", "RSA-2048"),
        clock=clock,
    )
    pki.create_root_ca(CRED, "Root")
    pki.create_issuing_ca(POLICY, CRED)
    for key in (ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)):
        _, der = make_csr("device-w", key, hash_algorithm=hashes.SHA256())
        leaf = cert_of(pki.issue_leaf(POLICY, der, "device-w", 30, "r").leaf_der)
        assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
        assert leaf.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA384
    _, der = make_csr("device-w", ec.generate_private_key(ec.SECP521R1()))
    with pytest.raises(PkiError) as caught:
        pki.issue_leaf(POLICY, der, "device-w", 30, "r")
    assert caught.value.code == "UnsupportedKeyType"
    for never in (("RSA-1024",), ("P-192",)):
        with pytest.raises(ValueError):
            Pki(store, pki.keystore, allowed_csr_keys=never)


def test_issuance_refused_without_an_active_issuer(pki, managed):
    with pytest.raises(PkiError) as caught:
        issue(pki, policy=CRED + "/policies/missing")
    assert caught.value.code == "IssuingCaNotFound"
    pki.create_byor_request(BYOR)
    with pytest.raises(PkiError) as caught:
        issue(pki, policy=BYOR)
    assert caught.value.code == "IssuingCaPendingActivation"
    pki.delete_owner(POLICY)
    with pytest.raises(PkiError) as caught:
        issue(pki)
    assert caught.value.code == "IssuingCaNotFound"
    for days in (0, -1):
        with pytest.raises(PkiError) as caught:
            pki.issue_leaf(BYOR, make_csr("d")[1], "d", days, "r")
        assert caught.value.code == "InvalidValidityPeriod"


def test_leaf_never_outlives_its_issuer(pki, clock):
    pki.create_root_ca(CRED, "Root", validity_days=20)
    ica = pki.create_issuing_ca(POLICY, CRED)
    assert ica.not_after == clock() + timedelta(days=20)
    chain = issue(pki, days=90)
    assert chain.not_after == ica.not_after
    clock.advance(days=21)
    with pytest.raises(PkiError) as caught:
        issue(pki)
    assert caught.value.code == "IssuingCaExpired"


# -- what IoT Hub checks: rotation, revocation id, expiry --------------------------------------------------


def test_rotation_invalidates_leaves_of_the_old_issuer(pki, managed):
    root, old = managed
    old_chain = issue(pki, "device-r")
    check(pki, old_chain.chain_der(), [old.certificate_der], "device-r", "rev-1")

    new = pki.rotate_issuing_ca(POLICY)
    assert new.status == "active" and new.ca_id != old.ca_id and new.subject != old.subject
    assert cert_of(new.certificate_der).public_key() != cert_of(old.certificate_der).public_key()
    history = pki.ca_history(POLICY)
    assert [r.ca_id for r in history] == [new.ca_id, old.ca_id]
    assert history[1].status == "revoked"
    assert old.key_id not in {info.key_id for info in pki.keystore.list_keys()}  # key destroyed
    assert pki.active_ca(POLICY) == new and pki.root_for(POLICY) == root

    with pytest.raises(PkiError) as caught:
        check(pki, old_chain.chain_der()[:2], [new.certificate_der], "device-r", "rev-1")
    assert caught.value.code == "UntrustedCertificateChain"
    new_chain = issue(pki, "device-r")
    assert new_chain.issuing_der == new.certificate_der
    check(pki, new_chain.chain_der(), [new.certificate_der], "device-r", "rev-1")
    statuses = [row["status"] for row in pki.issued_certificates(device_id="device-r")]
    assert statuses == ["revoked", "active"]


def test_changed_revocation_id_and_wrong_device_fail(pki, managed):
    _, ica = managed
    chain = issue(pki, "device-v", rev="rev-1")
    trust = [ica.certificate_der]
    check(pki, chain.chain_der(), trust, "device-v", "rev-1")
    check(pki, chain.chain_der(), trust, "device-v", None)
    with pytest.raises(PkiError) as caught:
        check(pki, chain.chain_der(), trust, "device-v", "rev-2")
    assert caught.value.code == "CertificateRevoked"
    with pytest.raises(PkiError) as caught:
        check(pki, chain.chain_der(), trust, "device-w", "rev-1")
    assert caught.value.code == "DeviceIdMismatch"
    with pytest.raises(PkiError) as caught:
        check(pki, [b"junk"], trust, "device-v", "rev-1")
    assert caught.value.code == "InvalidCertificate"
    assert pki.revoke_device_certificates("device-v") == 1
    assert pki.issued_certificates(device_id="device-v")[0]["status"] == "revoked"


def test_expired_leaf_fails(pki, managed, clock):
    _, ica = managed
    chain = issue(pki, "device-x", days=7)
    trust = [ica.certificate_der]
    clock.advance(days=6)
    check(pki, chain.chain_der(), trust, "device-x", "rev-1")
    clock.advance(days=2)
    with pytest.raises(PkiError) as caught:
        check(pki, chain.chain_der(), trust, "device-x", "rev-1")
    assert caught.value.code == "CertificateExpired"
    assert pki.issued_certificates(device_id="device-x")[0]["status"] == "expired"
    with pytest.raises(PkiError) as caught:
        pki.verify_device_chain(
            chain.chain_der(),
            trust,
            device_id="device-x",
            current_revocation_id="rev-1",
            at=chain.not_before - timedelta(seconds=1),
        )
    assert caught.value.code == "CertificateNotYetValid"


def test_delete_owner_destroys_keys(pki, managed):
    root, ica = managed
    pki.delete_owner(POLICY)
    assert pki.ca_history(POLICY) == [] and pki.active_ca(POLICY) is None
    assert {info.key_id for info in pki.keystore.list_keys()} == {root.key_id}
    pki.delete_owner(CRED)
    assert pki.keystore.list_keys() == []


# -- bring your own root -----------------------------------------------------------------------------------


@pytest.fixture()
def byor(pki, clock):
    request = pki.create_byor_request(BYOR)
    return request, ExternalRoot.create(now=clock())


def test_byor_request(pki, byor):
    request, _ = byor
    assert (request.status, request.kind, request.certificate_der, request.thumbprint) == (
        "pending",
        "issuing",
        None,
        None,
    )
    csr = x509.load_pem_x509_csr(request.csr_pem.encode())
    assert csr.is_signature_valid
    assert isinstance(csr.public_key().curve, ec.SECP384R1)
    assert csr.public_key().public_numbers() == pki.keystore.public_key(request.key_id).public_numbers()
    name = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert len(name) == 32 and int(name, 16) >= 0 and name == name.lower()
    assert request.subject == f"CN={name}"
    assert pki.active_ca(BYOR) is None and pki.pending_request(BYOR) == request
    assert pki.create_byor_request(BYOR) == request  # idempotent while pending
    assert pki.root_for(BYOR) is None


def test_byor_activation_and_issuance(pki, byor, clock, tmp_path):
    request, root = byor
    signed = root.sign_csr(request.csr_pem, now=clock())
    active = pki.activate_byor(BYOR, root.chain(signed))
    assert active.status == "active" and active.ca_id == request.ca_id
    assert active.certificate_der == signed.public_bytes(serialization.Encoding.DER)
    assert active.thumbprint == hashlib.sha1(active.certificate_der).hexdigest().upper()  # noqa: S324
    assert x509.load_pem_x509_certificates(active.external_chain_pem.encode()) == [root.cert]
    external = pki.root_for(BYOR)
    assert external.certificate_der == root.cert.public_bytes(serialization.Encoding.DER) and external.key_id == ""

    chain = issue(pki, "device-b", policy=BYOR)
    assert chain.chain_der() == [chain.leaf_der, active.certificate_der, external.certificate_der]
    check(pki, chain.chain_der(), [active.certificate_der], "device-b", "rev-1")
    openssl = shutil.which("openssl")
    if openssl:
        paths = []
        for name, der in zip(("leaf", "ica", "root"), chain.chain_der(), strict=True):
            paths.append(tmp_path / f"{name}.pem")
            paths[-1].write_text(pem(cert_of(der)))
        result = subprocess.run(
            [openssl, "verify", "-CAfile", paths[2], "-untrusted", paths[1], paths[0]],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    with pytest.raises(PkiError) as caught:
        pki.rotate_issuing_ca(BYOR)
    assert caught.value.code == "OperationNotAllowed"
    with pytest.raises(PkiError) as caught:
        pki.activate_byor(BYOR, root.chain(signed))
    assert caught.value.code == "NoPendingCertificateRequest"


def test_byor_renewal_replaces_the_active_issuer(pki, byor, clock):
    request, root = byor
    first = pki.activate_byor(BYOR, root.chain(root.sign_csr(request.csr_pem, now=clock())))
    renewal = pki.create_byor_request(BYOR)
    assert renewal.ca_id != first.ca_id and pki.active_ca(BYOR) == first  # old one keeps signing
    second = pki.activate_byor(BYOR, root.chain(root.sign_csr(renewal.csr_pem, now=clock())))
    assert pki.active_ca(BYOR) == second
    assert [r.status for r in pki.ca_history(BYOR)] == ["active", "revoked"]


# each entry breaks exactly one activation rule through `ExternalRoot.sign_csr` keyword arguments
SIGNING_FAULTS = {
    "subject-mismatch": ({"subject": cn("someone")}, "CertificateSubjectMismatch"),
    "key-mismatch": ({"public_key": ec.generate_private_key(ec.SECP384R1()).public_key()}, "CertificateKeyMismatch"),
    "missing-ski": ({"ski": False}, "MissingSubjectKeyIdentifier"),
    "short-validity": ({"days": 200}, "InsufficientValidity"),
    "not-a-ca": ({"basic_constraints": x509.BasicConstraints(False, None)}, "InvalidBasicConstraints"),
    "constraints-not-critical": ({"basic_constraints_critical": False}, "InvalidBasicConstraints"),
    "no-crl-sign": (
        {"key_usage": x509.KeyUsage(True, False, False, False, False, True, False, False, False)},
        "InvalidKeyUsage",
    ),
    "eku-without-client-auth": ({"eku": [SERVER_AUTH]}, "InvalidExtendedKeyUsage"),
}


def _faulty_signing(name: str):
    kwargs, _ = SIGNING_FAULTS[name]
    return lambda request, root, clock: root.chain(root.sign_csr(request.csr_pem, now=clock(), **kwargs))


def _rsa_root(request, root, clock):
    rsa_root = ExternalRoot.create(key=rsa.generate_private_key(65537, 2048), now=clock())
    return rsa_root.chain(rsa_root.sign_csr(request.csr_pem, now=clock()))


def _sha1_signature(request, root, clock):
    signed = root.sign_csr(request.csr_pem, now=clock())
    return root.chain(resign(signed, root.key, "sha1_ecdsa", hashes.SHA1()))


def _not_yet_valid(request, root, clock):
    return root.chain(root.sign_csr(request.csr_pem, now=clock(), not_before=clock() + timedelta(days=1)))


def _root_path_length_0(request, root, clock):
    strict = ExternalRoot.create(path_length=0, now=clock())
    return strict.chain(strict.sign_csr(request.csr_pem, now=clock()))


def _signed_by_another_root(request, root, clock):
    return pem(ExternalRoot.create(now=clock()).sign_csr(request.csr_pem, now=clock())) + pem(root.cert)


BYOR_CASES = {
    **{name: (_faulty_signing(name), code) for name, (_, code) in SIGNING_FAULTS.items()},
    "rsa-root": (_rsa_root, "UnsupportedRootKeyType"),
    "sha1-signature": (_sha1_signature, "WeakSignatureAlgorithm"),
    "not-yet-valid": (_not_yet_valid, "CertificateNotYetValid"),
    "root-path-length-0": (_root_path_length_0, "InvalidPathLength"),
    "signed-by-another-root": (_signed_by_another_root, "InvalidCertificateChain"),
    "wrong-order": (lambda rq, rt, c: pem(rt.cert) + pem(rt.sign_csr(rq.csr_pem, now=c())), "CertificateKeyMismatch"),
    "issuer-missing": (lambda rq, rt, c: pem(rt.sign_csr(rq.csr_pem, now=c())), "InvalidCertificateChain"),
    "not-pem": (
        lambda rq, rt, c: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n",
        "InvalidCertificateChain",
    ),
    "empty": (lambda rq, rt, c: "", "InvalidCertificateChain"),
}


@pytest.mark.parametrize("case", sorted(BYOR_CASES))
def test_byor_rules(pki, byor, clock, case):
    request, root = byor
    build, code = BYOR_CASES[case]
    with pytest.raises(PkiError) as caught:
        pki.activate_byor(BYOR, build(request, root, clock))
    assert caught.value.code == code, caught.value.message
    assert caught.value.target == "certificateChain" or code == "NoPendingCertificateRequest"
    assert pki.pending_request(BYOR) == request and pki.active_ca(BYOR) is None  # nothing changed


def test_byor_accepts_client_auth_eku(pki, byor, clock):
    request, root = byor
    signed = root.sign_csr(request.csr_pem, now=clock(), eku=[CLIENT_AUTH])
    assert pki.activate_byor(BYOR, root.chain(signed)).status == "active"


@pytest.mark.parametrize("include_root", [True, False])
def test_byor_with_an_external_intermediate(pki, clock, include_root):
    request = pki.create_byor_request(BYOR)
    root = ExternalRoot.create(path_length=None, now=clock())
    intermediate = root.intermediate(now=clock())
    signed = intermediate.sign_csr(request.csr_pem, now=clock())
    chain_pem = pem(signed) + pem(intermediate.cert) + (pem(root.cert) if include_root else "")
    active = pki.activate_byor(BYOR, chain_pem)
    chain = issue(pki, "device-i", policy=BYOR)
    der = serialization.Encoding.DER
    if include_root:
        assert chain.chain_der() == [
            chain.leaf_der,
            active.certificate_der,
            intermediate.cert.public_bytes(der),
            root.cert.public_bytes(der),
        ]
        assert pki.root_for(BYOR).certificate_der == root.cert.public_bytes(der)
    else:  # the chain stops where the user's chain stopped
        assert chain.chain_der() == [chain.leaf_der, active.certificate_der, intermediate.cert.public_bytes(der)]
        assert pki.root_for(BYOR) is None
    check(pki, chain.chain_der(), [active.certificate_der], "device-i", "rev-1")


def test_byor_intermediate_path_length_must_allow_the_issuing_ca(pki, clock):
    request = pki.create_byor_request(BYOR)
    root = ExternalRoot.create(path_length=1, now=clock())  # root -> intermediate -> ICA needs 2
    intermediate = root.intermediate(now=clock())
    chain_pem = pem(intermediate.sign_csr(request.csr_pem, now=clock())) + pem(intermediate.cert) + pem(root.cert)
    with pytest.raises(PkiError) as caught:
        pki.activate_byor(BYOR, chain_pem)
    assert caught.value.code == "InvalidPathLength"


# -- PKCS#11 smoke -----------------------------------------------------------------------------------------


def test_pkcs11_smoke(clock, tmp_path: Path):
    token = softhsm_token()
    if token is None:
        pytest.skip(SKIP_REASON)
    module, label, pin = token
    store = Store(tmp_path / "emulator.db")
    keystore = open_keystore(
        backend="pkcs11", store=store, data_dir=tmp_path, pkcs11_module=module, pkcs11_token=label, pkcs11_pin=pin
    )
    try:
        pki = Pki(store, keystore, clock=clock)
        root = pki.create_root_ca(CRED, "HSM Root")
        ica = pki.create_issuing_ca(POLICY, CRED)
        assert keystore.key_attributes(ica.key_id)["extractable"] is False
        chain = issue(pki, "device-hsm")
        cert_of(chain.leaf_der).verify_directly_issued_by(cert_of(ica.certificate_der))
        check(pki, chain.chain_der(), [root.certificate_der], "device-hsm", "rev-1")
        new = pki.rotate_issuing_ca(POLICY)
        assert ica.key_id not in {info.key_id for info in keystore.list_keys()}
        with pytest.raises(PkiError):
            check(pki, chain.chain_der()[:2], [new.certificate_der], "device-hsm", "rev-1")
        request = pki.create_byor_request(BYOR)
        assert x509.load_pem_x509_csr(request.csr_pem.encode()).is_signature_valid
        pki.delete_owner(BYOR)
        pki.delete_owner(POLICY)
        pki.delete_owner(CRED)
        assert keystore.list_keys() == []
    finally:
        keystore.close()
        store.close()
