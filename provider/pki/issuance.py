"""Device-certificate issuance: the hot path behind every DPS registration with a CSR.

`LeafIssuer` caches, per issuing-CA row, everything a signature needs (key id, public key, the
compiled `LeafProfile`, the chain to return) so that issuing a certificate costs one indexed
lookup of the policy's active CA, the CSR checks, one TBS build, one signature, one verification
and one INSERT. Rotation, revocation and deletion evict cache entries via `forget`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from provider.keystore import KeyStore
from provider.pki.common import CLOCK_SKEW, check_days, random_serial, serial_hex, thumbprint
from provider.pki.csr import validate_csr
from provider.pki.errors import PkiError
from provider.pki.leaf import LeafProfile
from provider.pki.records import IssuedChain
from provider.pki.signer import csr_spki, hash_for, sign_certificate
from provider.pki.tables import iso, parse_time
from provider.store import Database, Store


@dataclass(frozen=True)
class _Issuer:
    """Everything needed to sign leaves with one issuing CA."""

    ca_id: str
    key_id: str
    hash_name: str
    public_key: ec.EllipticCurvePublicKey
    profile: LeafProfile
    der: bytes
    thumbprint: str
    not_after: datetime
    root_der: bytes
    intermediates: tuple[bytes, ...]


def _zulu(stored: str) -> str:
    """ISO 8601 in UTC with a Z, as ARM and the internal JSON views show times."""
    return stored.replace("+00:00", "Z")


class LeafIssuer:
    """Issues device certificates from a policy's active issuing CA and records each one."""

    def __init__(
        self, store: Store, keystore: KeyStore, allowed_keys: frozenset[str], now: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._keystore = keystore
        self._allowed_keys = allowed_keys
        self._now = now
        self._issuers: dict[str, _Issuer] = {}
        self._lock = threading.Lock()

    def forget(self, ca_id: str) -> None:
        """Drop a CA from the cache (it was revoked or deleted)."""
        with self._lock:
            self._issuers.pop(ca_id, None)

    # -- issuer lookup -----------------------------------------------------------------------------
    def _issuer(self, policy_owner: str) -> _Issuer:
        with self._store.read() as db:  # hot path: a bare cursor, no sqlite_utils savepoint
            row = db.execute(
                "SELECT ca_id FROM pki_cas WHERE owner = ? AND kind IN ('issuing', 'root') AND status = 'active' "
                "ORDER BY seq DESC LIMIT 1",
                (policy_owner,),
            ).fetchone()
        if row is None:
            self._explain_missing(policy_owner)
        issuer = self._issuers.get(row[0])
        if issuer is None:
            issuer = self._load(row[0])
            with self._lock:
                self._issuers[issuer.ca_id] = issuer
        return issuer

    def _explain_missing(self, policy_owner: str) -> None:
        other = self._store.query_one(
            "SELECT status FROM pki_cas WHERE owner = ? AND kind = 'issuing' ORDER BY seq DESC LIMIT 1",
            (policy_owner,),
        )
        if other is None:
            raise PkiError("IssuingCaNotFound", f"{policy_owner} has no issuing CA")
        if other["status"] == "pending":
            raise PkiError(
                "IssuingCaPendingActivation", "the policy's external-root CSR has not been signed and activated yet"
            )
        raise PkiError("IssuingCaRevoked", "the policy's issuing CA has been revoked")

    def _load(self, ca_id: str) -> _Issuer:
        row = self._store.query_one("SELECT * FROM pki_cas WHERE ca_id = ?", (ca_id,))
        if row is None:
            raise PkiError("IssuingCaNotFound", "the policy's issuing CA was deleted")
        cert = x509.load_der_x509_certificate(row["certificate_der"])
        public_key = cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise PkiError("UnsupportedKeyType", "the issuing CA does not have an EC key")
        identifier = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        if row["kind"] == "root":  # a GA certificate policy directly under a Root CA: leaf -> root
            root_der, intermediates = row["certificate_der"], ()
        elif row["byor"]:
            external = x509.load_pem_x509_certificates(row["external_chain_pem"].encode("ascii"))
            ders = [c.public_bytes(Encoding.DER) for c in external]
            root_der, intermediates = ders[-1], tuple(ders[:-1])
        else:
            root = self._store.query_one("SELECT certificate_der FROM pki_cas WHERE ca_id = ?", (row["parent_ca_id"],))
            if root is None:
                raise PkiError("RootCaNotFound", "the root CA of this policy's issuing CA has been deleted")
            root_der, intermediates = root["certificate_der"], ()
        hash_name = hash_for(public_key)
        return _Issuer(
            ca_id=ca_id,
            key_id=row["key_id"],
            hash_name=hash_name,
            public_key=public_key,
            profile=LeafProfile(
                issuer_name_der=cert.subject.public_bytes(), issuer_key_identifier=identifier, hash_name=hash_name
            ),
            der=row["certificate_der"],
            thumbprint=row["thumbprint"],
            not_after=cert.not_valid_after_utc,
            root_der=root_der,
            intermediates=intermediates,
        )

    # -- issuance ------------------------------------------------------------------------------------
    def issue(
        self, policy_owner: str, csr: bytes | str, device_id: str, validity_days: int, revocation_id: str
    ) -> IssuedChain:
        check_days(validity_days, "the certificate validity")
        if not device_id:
            raise PkiError("InvalidDeviceId", "a device id is required", "deviceId")
        if not revocation_id:
            raise PkiError("InvalidRevocationId", "a revocation identifier is required", "revocationId")
        issuer = self._issuer(policy_owner)
        now = self._now()
        if issuer.not_after <= now:
            raise PkiError("IssuingCaExpired", "the policy's issuing CA has expired")
        valid = validate_csr(csr, device_id, self._allowed_keys)
        not_before = now - CLOCK_SKEW
        not_after = min(now + timedelta(days=validity_days), issuer.not_after)
        serial = random_serial()
        tbs_der = issuer.profile.tbs_der(
            serial=serial,
            device_id=device_id,
            public_key=csr_spki(valid.request),
            key_identifier=x509.SubjectKeyIdentifier.from_public_key(valid.public_key).digest,
            not_before=not_before,
            not_after=not_after,
            revocation_id=revocation_id,
        )
        cert = sign_certificate(self._keystore, issuer.key_id, issuer.public_key, tbs_der, issuer.hash_name)
        leaf_der = cert.public_bytes(Encoding.DER)
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO pki_issued_certificates(serial, device_id, policy_owner, issuer_ca_id, "
                "issuer_thumbprint, thumbprint, not_before, not_after, status, revocation_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)",
                (
                    serial_hex(serial),
                    device_id,
                    policy_owner,
                    issuer.ca_id,
                    issuer.thumbprint,
                    thumbprint(leaf_der),
                    iso(not_before),
                    iso(not_after),
                    revocation_id,
                ),
            )
        return IssuedChain(
            leaf_der=leaf_der,
            issuing_der=issuer.der,
            root_der=issuer.root_der,
            serial=serial,
            not_before=not_before,
            not_after=not_after,
            intermediates_der=issuer.intermediates,
        )

    # -- records -----------------------------------------------------------------------------------------
    def records(self, *, device_id: str | None = None, policy_owner: str | None = None) -> list[dict]:
        """JSON-ready rows (times as ISO 8601 strings), oldest first; "expired" is computed here."""
        sql = "SELECT * FROM pki_issued_certificates WHERE 1 = 1"
        params: list = []
        if device_id is not None:
            sql += " AND device_id = ?"
            params.append(device_id)
        if policy_owner is not None:
            sql += " AND policy_owner = ?"
            params.append(policy_owner)
        now = self._now()
        result = []
        for row in self._store.query(sql + " ORDER BY rowid", tuple(params)):
            not_after = parse_time(row["not_after"])
            status = row["status"]
            if status == "active" and not_after is not None and not_after < now:
                status = "expired"
            result.append(
                {
                    "serial": row["serial"],
                    "device_id": row["device_id"],
                    "policy_owner": row["policy_owner"],
                    "issuer_thumbprint": row["issuer_thumbprint"],
                    "thumbprint": row["thumbprint"],
                    "not_before": _zulu(row["not_before"]),
                    "not_after": _zulu(row["not_after"]),
                    "status": status,
                    "revocation_id": row["revocation_id"],
                }
            )
        return result

    def revoke_issued_by(self, db: Database, ca_id: str) -> None:
        """Inside the caller's transaction: the CA is retired, so are its leaves."""
        db.execute(
            "UPDATE pki_issued_certificates SET status = 'revoked' WHERE issuer_ca_id = ? AND status = 'active'",
            (ca_id,),
        )
        self.forget(ca_id)

    def revoke_device(self, device_id: str, policy_owner: str | None) -> int:
        sql = "UPDATE pki_issued_certificates SET status = 'revoked' WHERE device_id = ? AND status = 'active'"
        params: tuple = (device_id,)
        if policy_owner is not None:
            sql += " AND policy_owner = ?"
            params = (device_id, policy_owner)
        with self._store.transaction() as db:
            return db.execute(sql, params).rowcount
