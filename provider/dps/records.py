"""DPS storage: enrollments, enrollment groups, registration states and registration operations.

Four tables, each keyed by the DPS's lower-cased ARM id so that several DPS instances share one
store. Ids are case-insensitive in DPS, so keys are lower-cased and bodies keep the caller's
casing. Every function joins the caller's transaction when there is one.
"""

from __future__ import annotations

import json
import time
from typing import Any

from provider.store import Database, Store, dumps, register_schema

INDIVIDUAL = "individual"
GROUP = "group"
OPERATION_RETENTION_SECONDS = 24 * 3600


@register_schema
def _schema(db: Database) -> None:  # noqa: ANN001 - Database
    db.execute(
        """CREATE TABLE IF NOT EXISTS dps_enrollments (
            dps TEXT NOT NULL,          -- lower-cased DPS ARM id
            kind TEXT NOT NULL,         -- 'individual' | 'group'
            id_key TEXT NOT NULL,       -- lower-cased registration id / enrollment group id
            seq INTEGER NOT NULL,       -- creation order, for query paging
            body TEXT NOT NULL,         -- stored record, keys and certificates included
            PRIMARY KEY (dps, kind, id_key)
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS dps_enrollments_seq ON dps_enrollments(dps, kind, seq)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS dps_registrations (
            dps TEXT NOT NULL,
            registration_key TEXT NOT NULL,  -- lower-cased registration id
            group_key TEXT,                  -- lower-cased enrollment group id, NULL for individual
            seq INTEGER NOT NULL,
            body TEXT NOT NULL,              -- DeviceRegistrationResult plus emulator fields
            PRIMARY KEY (dps, registration_key)
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS dps_registrations_group ON dps_registrations(dps, group_key, seq)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS dps_operations (
            operation_id TEXT PRIMARY KEY,
            dps TEXT NOT NULL,
            registration_key TEXT NOT NULL,
            created_at REAL NOT NULL,        -- epoch seconds, for pruning
            body TEXT NOT NULL               -- the final RegistrationOperationStatus
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS dps_operations_age ON dps_operations(dps, created_at)")


# ---- enrollments and groups --------------------------------------------------------------------------
def get_enrollment(store: Store, dps_key: str, kind: str, enrollment_id: str) -> dict[str, Any] | None:
    row = store.query_one("SELECT body FROM dps_enrollments WHERE dps = ? AND kind = ? AND id_key = ?",
                          (dps_key, kind, enrollment_id.lower()))
    return json.loads(row["body"]) if row else None


def put_enrollment(store: Store, dps_key: str, kind: str, enrollment_id: str, record: dict[str, Any]) -> None:
    with store.transaction() as db:
        key = (dps_key, kind, enrollment_id.lower())
        row = db.execute("SELECT seq FROM dps_enrollments WHERE dps = ? AND kind = ? AND id_key = ?", key).fetchone()
        seq = row[0] if row else store.next_value("dps_enrollment_seq")
        db.execute("INSERT OR REPLACE INTO dps_enrollments(dps, kind, id_key, seq, body) VALUES (?, ?, ?, ?, ?)",
                   (*key, seq, dumps(record)))


def delete_enrollment(store: Store, dps_key: str, kind: str, enrollment_id: str) -> None:
    """Delete the enrollment and the registration states (and operations) that belong to it."""
    with store.transaction() as db:
        db.execute("DELETE FROM dps_enrollments WHERE dps = ? AND kind = ? AND id_key = ?",
                   (dps_key, kind, enrollment_id.lower()))
        if kind == GROUP:
            keys = [r[0] for r in db.execute(
                "SELECT registration_key FROM dps_registrations WHERE dps = ? AND group_key = ?",
                (dps_key, enrollment_id.lower())).fetchall()]
        else:
            keys = [r[0] for r in db.execute(
                "SELECT registration_key FROM dps_registrations WHERE dps = ? AND registration_key = ? "
                "AND group_key IS NULL", (dps_key, enrollment_id.lower())).fetchall()]
        for key in keys:
            delete_registration(store, dps_key, key)


def list_enrollments(store: Store, dps_key: str, kind: str, after_seq: int = 0,
                     limit: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    sql = "SELECT seq, body FROM dps_enrollments WHERE dps = ? AND kind = ? AND seq > ? ORDER BY seq"
    params: tuple = (dps_key, kind, after_seq)
    if limit is not None:
        sql += " LIMIT ?"
        params += (limit,)
    return [(r["seq"], json.loads(r["body"])) for r in store.query(sql, params)]


def all_enrollment_bodies(store: Store) -> list[dict[str, Any]]:
    """Every enrollment and group of every DPS (for the TLS trust set)."""
    return [json.loads(r["body"]) for r in store.query("SELECT body FROM dps_enrollments")]


def delete_dps(store: Store, dps_key: str) -> None:
    """Everything a deleted DPS instance owned."""
    with store.transaction() as db:
        for table in ("dps_enrollments", "dps_registrations", "dps_operations"):
            db.execute(f"DELETE FROM {table} WHERE dps = ?", (dps_key,))


# ---- registration states -------------------------------------------------------------------------------
def get_registration(store: Store, dps_key: str, registration_id: str) -> dict[str, Any] | None:
    row = store.query_one("SELECT body FROM dps_registrations WHERE dps = ? AND registration_key = ?",
                          (dps_key, registration_id.lower()))
    return json.loads(row["body"]) if row else None


def put_registration(store: Store, dps_key: str, registration_id: str, group_id: str | None,
                     record: dict[str, Any]) -> None:
    with store.transaction() as db:
        key = (dps_key, registration_id.lower())
        row = db.execute("SELECT seq FROM dps_registrations WHERE dps = ? AND registration_key = ?", key).fetchone()
        seq = row[0] if row else store.next_value("dps_registration_seq")
        db.execute("INSERT OR REPLACE INTO dps_registrations(dps, registration_key, group_key, seq, body) "
                   "VALUES (?, ?, ?, ?, ?)", (*key, group_id.lower() if group_id else None, seq, dumps(record)))


def delete_registration(store: Store, dps_key: str, registration_id: str) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM dps_registrations WHERE dps = ? AND registration_key = ?",
                   (dps_key, registration_id.lower()))
        db.execute("DELETE FROM dps_operations WHERE dps = ? AND registration_key = ?",
                   (dps_key, registration_id.lower()))


def list_group_registrations(store: Store, dps_key: str, group_id: str, after_seq: int = 0,
                             limit: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    sql = "SELECT seq, body FROM dps_registrations WHERE dps = ? AND group_key = ? AND seq > ? ORDER BY seq"
    params: tuple = (dps_key, group_id.lower(), after_seq)
    if limit is not None:
        sql += " LIMIT ?"
        params += (limit,)
    return [(r["seq"], json.loads(r["body"])) for r in store.query(sql, params)]


# ---- registration operations ---------------------------------------------------------------------------
def put_operation(store: Store, dps_key: str, operation_id: str, registration_id: str,
                  result: dict[str, Any]) -> None:
    """Record a finished operation; operations older than a day are pruned on the way."""
    now = time.time()
    with store.transaction() as db:
        db.execute("DELETE FROM dps_operations WHERE dps = ? AND created_at < ?",
                   (dps_key, now - OPERATION_RETENTION_SECONDS))
        db.execute("INSERT INTO dps_operations(operation_id, dps, registration_key, created_at, body) "
                   "VALUES (?, ?, ?, ?, ?)", (operation_id, dps_key, registration_id.lower(), now, dumps(result)))


def get_operation(store: Store, dps_key: str, operation_id: str) -> tuple[str, dict[str, Any]] | None:
    """(lower-cased registration id, final operation status) or None."""
    row = store.query_one("SELECT registration_key, body FROM dps_operations WHERE operation_id = ? AND dps = ?",
                          (operation_id, dps_key))
    return (row["registration_key"], json.loads(row["body"])) if row else None
