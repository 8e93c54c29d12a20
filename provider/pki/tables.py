"""SQLite tables of the PKI: CA certificate generations and every issued device certificate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from provider.common import der_to_pem
from provider.pki.records import CaRecord
from provider.store import Database, register_schema


@register_schema
def schema(db: Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS pki_cas (
            ca_id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,             -- creation order (newest = highest)
            owner TEXT NOT NULL,              -- lower-cased ARM id of the credential or policy
            kind TEXT NOT NULL,               -- root | issuing
            byor INTEGER NOT NULL DEFAULT 0,  -- 1: issuing CA signed by an external root
            status TEXT NOT NULL,             -- active | pending | revoked
            key_id TEXT NOT NULL,
            parent_ca_id TEXT,                -- managed issuing CA: the root row that signed it
            validity_days INTEGER NOT NULL,
            subject TEXT NOT NULL,
            certificate_der BLOB,
            not_before TEXT,
            not_after TEXT,
            thumbprint TEXT,
            csr_pem TEXT,
            external_chain_pem TEXT,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS pki_cas_owner ON pki_cas(owner, status, seq)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS pki_issued_certificates (
            serial TEXT PRIMARY KEY,          -- upper-case hex (rowid gives issuance order)
            device_id TEXT NOT NULL,
            policy_owner TEXT NOT NULL,
            issuer_ca_id TEXT NOT NULL,
            issuer_thumbprint TEXT NOT NULL,
            thumbprint TEXT NOT NULL,
            not_before TEXT NOT NULL,
            not_after TEXT NOT NULL,
            status TEXT NOT NULL,             -- active | revoked (expired is computed when read)
            revocation_id TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS pki_issued_device ON pki_issued_certificates(device_id)")
    db.execute("CREATE INDEX IF NOT EXISTS pki_issued_policy ON pki_issued_certificates(policy_owner)")
    db.execute("CREATE INDEX IF NOT EXISTS pki_issued_issuer ON pki_issued_certificates(issuer_ca_id)")


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def ca_record(row: dict[str, Any]) -> CaRecord:
    der = row["certificate_der"]
    return CaRecord(
        ca_id=row["ca_id"],
        owner=row["owner"],
        kind=row["kind"],
        key_id=row["key_id"],
        certificate_pem=der_to_pem(der) if der is not None else None,
        certificate_der=der,
        subject=row["subject"],
        not_before=parse_time(row["not_before"]),
        not_after=parse_time(row["not_after"]),
        thumbprint=row["thumbprint"],
        status=row["status"],
        csr_pem=row["csr_pem"],
        external_chain_pem=row["external_chain_pem"],
    )
