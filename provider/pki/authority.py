"""The emulated ADR PKI: one root CA per credential, one issuing CA per policy, device leaves.

Certificate profile (mirrors what the ADR docs describe; every CA key is EC P-384, every
signature ecdsa-with-SHA384):

* Root CA — self-signed, subject ``CN=<common_name>`` exactly as the caller gives it (the
  credential resource chooses the name; the emulator adds no O/OU so names stay predictable),
  BasicConstraints CA pathLen 1 (critical), KeyUsage keyCertSign+cRLSign (critical), SKI and
  AKI=SKI, random 159-bit serial, valid from now-1 min for `validity_days`.
* Issuing CA — signed by the root, subject ``CN=<32 lowercase hex>``, pathLen 0 (critical),
  KeyUsage keyCertSign+cRLSign+digitalSignature (critical), SKI/AKI; never outlives its root.
* Device leaf — subject ``CN=<device id>``, BasicConstraints CA=false (critical), KeyUsage
  digitalSignature (critical), EKU clientAuth, SKI/AKI, valid from now-1 min (clock skew) to
  now+validity_days (capped at the issuing CA's notAfter), plus the per-device revocation
  identifier in the private non-critical extension `asn1build.REVOCATION_ID_OID`
  (2.25.41344945581999916035104397488495960152.1, a UUID-arc OID, UTF8String value).

BYOR ("bring your own root") policies get a key and a CSR instead of a certificate; the user's
chain activates them (rules in `byor.py`). Their issuer cannot be rotated, as in Azure.

All state lives in the store's SQLite tables (`tables.py`); keys stay in the key store and are
destroyed only after the transaction that retires them commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from provider.common import der_to_pem
from provider.keystore import KeyStore, KeyStoreError
from provider.pki import asn1build, byor
from provider.pki.common import CLOCK_SKEW, check_days, random_serial, thumbprint
from provider.pki.csr import check_allowed_keys
from provider.pki.errors import PkiError
from provider.pki.issuance import LeafIssuer
from provider.pki.records import CaRecord, IssuedChain
from provider.pki.signer import hash_for, sign_certificate, sign_csr, spki_of
from provider.pki.tables import ca_record, iso, parse_time, schema
from provider.pki.verify import revocation_id_of as _revocation_id_of
from provider.pki.verify import verify_device_chain as _verify_device_chain
from provider.store import Database, Store

_DER = Encoding.DER
_PEM = Encoding.PEM

CA_CURVE = "P-384"
ROOT_PATH_LENGTH = 1


class Pki:
    """CA lifecycle and device certificate issuance on top of a `Store` and a `KeyStore`."""

    def __init__(
        self,
        store: Store,
        keystore: KeyStore,
        *,
        allowed_csr_keys: tuple[str, ...] = ("P-384",),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.keystore = keystore
        self.allowed_csr_keys = check_allowed_keys(allowed_csr_keys)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._leaves = LeafIssuer(store, keystore, self.allowed_csr_keys, self.now)
        with store.transaction() as db:  # the store may have been opened before this module was imported
            schema(db)

    # -- small helpers -------------------------------------------------------------------------
    def now(self) -> datetime:
        """The injected clock, in UTC, truncated to whole seconds (X.509 time resolution)."""
        moment = self._clock()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).replace(microsecond=0)

    def _rows(self, owner: str, *, kind: str | None = None, status: str | None = None) -> list[dict]:
        sql = "SELECT * FROM pki_cas WHERE owner = ?"
        params: list = [owner]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        return self.store.query(sql + " ORDER BY seq DESC", tuple(params))

    def _row(self, owner: str, *, kind: str | None = None, status: str | None = None) -> dict | None:
        rows = self._rows(owner, kind=kind, status=status)
        return rows[0] if rows else None

    def _new_key(self, label: str) -> str:
        try:
            return self.keystore.create_key(label, CA_CURVE)
        except KeyStoreError as exc:
            raise PkiError("KeyCreationFailed", f"the key store could not create a CA key: {exc}") from None

    def _destroy_later(self, key_ids: list[str]) -> None:
        """Destroy keys once the current transaction commits (a rollback keeps them usable)."""

        def destroy() -> None:
            for key_id in key_ids:
                try:
                    self.keystore.destroy_key(key_id)
                except KeyStoreError:
                    pass  # already gone

        self.store.after_commit(destroy)

    def _insert_ca(self, db: Database, **values: object) -> None:
        values.setdefault("seq", self.store.next_value("pki_cas"))
        values.setdefault("created_at", iso(self.now()))
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        db.execute(f"INSERT INTO pki_cas({columns}) VALUES ({marks})", tuple(values.values()))

    def _sign_ca(
        self,
        *,
        key_id: str,
        subject: asn1_x509.Name,
        issuer_name: asn1_x509.Name,
        issuer_key_id: str,
        issuer_public_key: ec.EllipticCurvePublicKey,
        issuer_key_identifier: bytes | None,
        not_before: datetime,
        not_after: datetime,
        path_length: int,
        usages: set[str],
    ) -> x509.Certificate:
        spki = spki_of(self.keystore.public_key(key_id))
        own_identifier = asn1build.key_identifier(spki)
        hash_name = hash_for(issuer_public_key)
        tbs = asn1build.tbs_certificate(
            serial=random_serial(),
            hash_name=hash_name,
            issuer=issuer_name,
            subject=subject,
            not_before=not_before,
            not_after=not_after,
            public_key=spki,
            extensions=[
                asn1build.basic_constraints(ca=True, path_len=path_length),
                asn1build.key_usage(usages),
                asn1build.subject_key_identifier(own_identifier),
                asn1build.authority_key_identifier(issuer_key_identifier or own_identifier),
            ],
        )
        return sign_certificate(self.keystore, issuer_key_id, issuer_public_key, tbs.dump(), hash_name)

    # -- root CA -------------------------------------------------------------------------------
    def create_root_ca(self, owner: str, common_name: str, validity_days: int = 3650) -> CaRecord:
        """A new self-signed root for a credential; PkiError `CaAlreadyExists` if it has one."""
        owner = owner.lower()
        check_days(validity_days, "the root CA validity")
        if not common_name:
            raise PkiError("InvalidSubject", "the root CA needs a common name", "subject")
        now = self.now()
        with self.store.transaction() as db:
            if self._row(owner, kind="root", status="active") is not None:
                raise PkiError("CaAlreadyExists", f"{owner} already has an active root CA")
            ca_id = uuid.uuid4().hex
            key_id = self._new_key(f"adr-root-{ca_id}")
            public_key = self.keystore.public_key(key_id)
            name = asn1build.common_name(common_name)
            cert = self._sign_ca(
                key_id=key_id,
                subject=name,
                issuer_name=name,
                issuer_key_id=key_id,
                issuer_public_key=public_key,
                issuer_key_identifier=None,
                not_before=now - CLOCK_SKEW,
                not_after=now + timedelta(days=validity_days),
                path_length=ROOT_PATH_LENGTH,
                usages={"key_cert_sign", "crl_sign"},
            )
            self._insert_certificate_row(db, ca_id, owner, "root", key_id, cert, validity_days)
        return self._record(ca_id)

    def _insert_certificate_row(
        self,
        db: Database,
        ca_id: str,
        owner: str,
        kind: str,
        key_id: str,
        cert: x509.Certificate,
        validity_days: int,
        parent_ca_id: str | None = None,
    ) -> None:
        der = cert.public_bytes(_DER)
        self._insert_ca(
            db,
            ca_id=ca_id,
            owner=owner,
            kind=kind,
            status="active",
            key_id=key_id,
            parent_ca_id=parent_ca_id,
            validity_days=validity_days,
            subject=cert.subject.rfc4514_string(),
            certificate_der=der,
            not_before=iso(cert.not_valid_before_utc),
            not_after=iso(cert.not_valid_after_utc),
            thumbprint=thumbprint(der),
        )

    def _record(self, ca_id: str) -> CaRecord:
        row = self.store.query_one("SELECT * FROM pki_cas WHERE ca_id = ?", (ca_id,))
        assert row is not None
        return ca_record(row)

    # -- managed issuing CA --------------------------------------------------------------------
    def _active_root_row(self, root_owner: str) -> dict:
        row = self._row(root_owner.lower(), kind="root", status="active")
        if row is None:
            raise PkiError("RootCaNotFound", f"{root_owner.lower()} has no active root CA")
        return row

    def _issue_ica(self, db: Database, owner: str, root: dict, validity_days: int,
                   common_name: str | None = None) -> str:
        now = self.now()
        root_not_after = parse_time(root["not_after"])
        assert root_not_after is not None
        if root_not_after <= now:
            raise PkiError("RootCaExpired", "the root CA has expired; it cannot sign a new issuing CA")
        root_cert = x509.load_der_x509_certificate(root["certificate_der"])
        root_identifier = root_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        ca_id = uuid.uuid4().hex
        key_id = self._new_key(f"adr-issuing-{ca_id}")
        cert = self._sign_ca(
            key_id=key_id,
            subject=asn1build.common_name(common_name or uuid.uuid4().hex),
            issuer_name=asn1_x509.Name.load(root_cert.subject.public_bytes()),
            issuer_key_id=root["key_id"],
            issuer_public_key=self.keystore.public_key(root["key_id"]),
            issuer_key_identifier=root_identifier,
            not_before=now - CLOCK_SKEW,
            not_after=min(now + timedelta(days=validity_days), root_not_after),
            path_length=0,
            usages={"key_cert_sign", "crl_sign", "digital_signature"},
        )
        self._insert_certificate_row(db, ca_id, owner, "issuing", key_id, cert, validity_days, root["ca_id"])
        return ca_id

    def create_issuing_ca(self, owner: str, root_owner: str, validity_days: int = 1825,
                          common_name: str | None = None) -> CaRecord:
        """An issuing CA signed by `root_owner`'s root (a preview policy's, or a GA Microsoft ICA);
        `CaAlreadyExists` if it has one. The subject is CN=`common_name` (default: 32 random hex)."""
        owner = owner.lower()
        check_days(validity_days, "the issuing CA validity")
        with self.store.transaction() as db:
            if self._current_issuing_row(owner) is not None:
                raise PkiError("CaAlreadyExists", f"{owner} already has an issuing CA")
            ca_id = self._issue_ica(db, owner, self._active_root_row(root_owner), validity_days, common_name)
        return self._record(ca_id)

    def _current_issuing_row(self, owner: str) -> dict | None:
        for row in self._rows(owner, kind="issuing"):
            if row["status"] in ("active", "pending"):
                return row
        return None

    def rotate_issuing_ca(self, owner: str, common_name: str | None = None) -> CaRecord:
        """Revoke the policy's issuer (key destroyed, its leaves marked revoked) and issue a new one."""
        owner = owner.lower()
        with self.store.transaction() as db:
            old = self._row(owner, kind="issuing", status="active")
            if old is None:
                raise PkiError("IssuingCaNotFound", f"{owner} has no active issuing CA to revoke")
            if old["byor"]:
                raise PkiError(
                    "OperationNotAllowed",
                    "the issuer of a policy with an external root cannot be revoked; "
                    "revoke each device and delete the policy instead",
                )
            root = self.store.query_one("SELECT * FROM pki_cas WHERE ca_id = ?", (old["parent_ca_id"],))
            if root is None or root["status"] != "active":
                raise PkiError("RootCaNotFound", "the root CA that signed this issuing CA is no longer active")
            self._retire(db, old)
            ca_id = self._issue_ica(db, owner, root, old["validity_days"], common_name)
        return self._record(ca_id)

    def _retire(self, db: Database, row: dict) -> None:
        """Mark a CA revoked, its leaves revoked, and schedule its key's destruction."""
        db.execute(
            "UPDATE pki_cas SET status = 'revoked', revoked_at = ? WHERE ca_id = ?", (iso(self.now()), row["ca_id"])
        )
        self._leaves.revoke_issued_by(db, row["ca_id"])
        self._destroy_later([row["key_id"]])

    # -- BYOR ----------------------------------------------------------------------------------
    def create_byor_request(self, owner: str, validity_days: int = 1825, common_name: str | None = None) -> CaRecord:
        """A new issuing-CA key and its PEM CSR (subject CN=`common_name`, default 32 hex), status "pending".

        Idempotent: an outstanding request is returned as is. With an active BYOR issuer this
        starts a renewal; the active one keeps signing until the new chain is activated.
        """
        owner = owner.lower()
        with self.store.transaction() as db:
            pending = self._row(owner, kind="issuing", status="pending")
            if pending is not None:
                return ca_record(pending)
            active = self._row(owner, kind="issuing", status="active")
            if active is not None and not active["byor"]:
                raise PkiError(
                    "OperationNotAllowed", f"{owner} has a Microsoft-managed issuing CA, not an external root"
                )
            ca_id = uuid.uuid4().hex
            key_id = self._new_key(f"adr-byor-{ca_id}")
            subject = asn1build.common_name(common_name or uuid.uuid4().hex)
            info = asn1build.certification_request_info(
                subject,
                spki_of(self.keystore.public_key(key_id)),
                [
                    asn1build.basic_constraints(ca=True, path_len=0),
                    asn1build.key_usage({"key_cert_sign", "crl_sign", "digital_signature"}),
                ],
            )
            request = sign_csr(self.keystore, key_id, info, hash_for(self.keystore.public_key(key_id)))
            self._insert_ca(
                db,
                ca_id=ca_id,
                owner=owner,
                kind="issuing",
                byor=1,
                status="pending",
                key_id=key_id,
                validity_days=validity_days,
                subject=request.subject.rfc4514_string(),
                csr_pem=request.public_bytes(_PEM).decode("ascii"),
            )
        return self._record(ca_id)

    def activate_byor(self, owner: str, chain_pem: str) -> CaRecord:
        """Install the user's signed chain for the pending CSR (rules: `byor.validate_chain`)."""
        owner = owner.lower()
        with self.store.transaction() as db:
            pending = self._row(owner, kind="issuing", status="pending")
            if pending is None:
                raise PkiError("NoPendingCertificateRequest", f"{owner} has no certificate signing request to activate")
            csr = x509.load_pem_x509_csr(pending["csr_pem"].encode("ascii"))
            certs = byor.validate_chain(byor.parse_chain(chain_pem), csr=csr, now=self.now())
            signed = certs[0]
            der = signed.public_bytes(_DER)
            for old in self._rows(owner, kind="issuing", status="active"):
                self._retire(db, old)
            db.execute(
                "UPDATE pki_cas SET status = 'active', certificate_der = ?, not_before = ?, not_after = ?, "
                "thumbprint = ?, external_chain_pem = ? WHERE ca_id = ?",
                (
                    der,
                    iso(signed.not_valid_before_utc),
                    iso(signed.not_valid_after_utc),
                    thumbprint(der),
                    "".join(cert.public_bytes(_PEM).decode("ascii") for cert in certs[1:]),
                    pending["ca_id"],
                ),
            )
        return self._record(pending["ca_id"])

    # -- queries ---------------------------------------------------------------------------------
    def active_ca(self, owner: str) -> CaRecord | None:
        """The owner's active CA (root or issuing), or None; a pending BYOR request is not active."""
        row = self._row(owner.lower(), status="active")
        return ca_record(row) if row else None

    def pending_request(self, owner: str) -> CaRecord | None:
        """The owner's outstanding BYOR request (status "pending"), or None."""
        row = self._row(owner.lower(), status="pending")
        return ca_record(row) if row else None

    def ca_history(self, owner: str) -> list[CaRecord]:
        """Every CA generation of the owner, newest first."""
        return [ca_record(row) for row in self._rows(owner.lower())]

    def root_for(self, issuing_owner: str) -> CaRecord | None:
        """The root above a policy's issuing CA.

        Managed policies: the root CA row that signed the current issuer. BYOR policies: the last
        certificate of the activated chain if it is self-signed, wrapped as a CaRecord with
        kind "root", an empty key_id and ca_id "external:<thumbprint>"; None if the chain stopped
        at an intermediate or the request is still pending.
        """
        owner = issuing_owner.lower()
        row = self._row(owner, kind="issuing", status="active") or self._row(owner, kind="issuing")
        if row is None:
            return None
        if not row["byor"]:
            parent = self.store.query_one("SELECT * FROM pki_cas WHERE ca_id = ?", (row["parent_ca_id"],))
            return ca_record(parent) if parent else None
        if not row["external_chain_pem"]:
            return None
        top = x509.load_pem_x509_certificates(row["external_chain_pem"].encode("ascii"))[-1]
        if top.issuer != top.subject:
            return None
        der = top.public_bytes(_DER)
        return CaRecord(
            ca_id=f"external:{thumbprint(der)}",
            owner=owner,
            kind="root",
            key_id="",
            certificate_pem=der_to_pem(der),
            certificate_der=der,
            subject=top.subject.rfc4514_string(),
            not_before=top.not_valid_before_utc,
            not_after=top.not_valid_after_utc,
            thumbprint=thumbprint(der),
            status="active",
            csr_pem=None,
            external_chain_pem=None,
        )

    def delete_owner(self, owner: str) -> None:
        """Remove every CA row of the owner and destroy their keys (issued-certificate rows stay)."""
        owner = owner.lower()
        with self.store.transaction() as db:
            rows = self._rows(owner)
            db.execute("DELETE FROM pki_cas WHERE owner = ?", (owner,))
            for row in rows:
                self._leaves.forget(row["ca_id"])
            self._destroy_later([row["key_id"] for row in rows if row["status"] != "revoked"])

    # -- device certificates ---------------------------------------------------------------------
    def issue_leaf(
        self, policy_owner: str, csr: bytes | str, device_id: str, validity_days: int, revocation_id: str
    ) -> IssuedChain:
        """Validate a device CSR (rules in `csr.py`) and sign its operational certificate."""
        return self._leaves.issue(policy_owner.lower(), csr, device_id, validity_days, revocation_id)

    def issued_certificates(self, *, device_id: str | None = None, policy_owner: str | None = None) -> list[dict]:
        """Issued-certificate records, oldest first, JSON-ready.

        Keys: serial (hex), device_id, policy_owner, issuer_thumbprint, thumbprint, not_before and
        not_after (ISO 8601 "...Z" strings), status (active | revoked | expired), revocation_id.
        """
        owner = policy_owner.lower() if policy_owner is not None else None
        return self._leaves.records(device_id=device_id, policy_owner=owner)

    def revoke_device_certificates(self, device_id: str, *, policy_owner: str | None = None) -> int:
        """Mark a device's active certificates revoked (bookkeeping: enforcement is the revocation id)."""
        return self._leaves.revoke_device(device_id, policy_owner.lower() if policy_owner is not None else None)

    def verify_device_chain(
        self,
        chain_der: list[bytes],
        trusted_der: list[bytes],
        *,
        device_id: str,
        current_revocation_id: str | None,
        at: datetime | None = None,
    ) -> None:
        """Authenticate a device as IoT Hub would (`verify.verify_device_chain`); PkiError if refused.

        `current_revocation_id=None` skips the revocation-identifier comparison.
        """
        moment = at or self.now()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        _verify_device_chain(
            chain_der, trusted_der, device_id=device_id, current_revocation_id=current_revocation_id, at=moment
        )

    @staticmethod
    def revocation_id_of(cert_der: bytes) -> str | None:
        """The revocation identifier embedded in a device certificate, or None."""
        try:
            cert = x509.load_der_x509_certificate(cert_der)
        except ValueError:
            return None
        return _revocation_id_of(cert)
