"""Stored ARM resources: one row per resource in the `resources` table, keyed by lower-cased id."""

from __future__ import annotations

import json
from typing import Any

from provider.arm.ids import ResourceId
from provider.store import RESOURCE_LOOKUPS, Store, dumps


class Repository:
    """Reads and writes resource documents; callers own the transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.store.query_one("SELECT body FROM resources WHERE key = ?", (key.lower(),))
        return json.loads(row["body"]) if row else None

    def exists(self, key: str) -> bool:
        return self.store.query_one("SELECT 1 AS x FROM resources WHERE key = ?", (key.lower(),)) is not None

    def put(self, rid: ResourceId, doc: dict[str, Any]) -> None:
        """Insert or replace; an existing row keeps its creation order."""
        with self.store.transaction() as db:
            row = db.execute("SELECT seq FROM resources WHERE key = ?", (rid.key,)).fetchone()
            seq = row[0] if row else self.store.next_value("resource_seq")
            db.execute(
                "INSERT INTO resources(key, id, type, parent, subscription, resource_group, seq, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET id = excluded.id, "
                "body = excluded.body, parent = excluded.parent, resource_group = excluded.resource_group",
                (rid.key, rid.id, rid.type_key, rid.parent_key, rid.subscription.lower(),
                 rid.resource_group.lower() if rid.resource_group else None, seq, dumps(doc)),
            )

    def put_group(self, subscription: str, doc: dict[str, Any]) -> None:
        """Insert or replace a resource group: its row has no `resource_group`, so listing a group's
        resources never lists the group itself."""
        key = doc["id"].lower()
        with self.store.transaction() as db:
            row = db.execute("SELECT seq FROM resources WHERE key = ?", (key,)).fetchone()
            seq = row[0] if row else self.store.next_value("resource_seq")
            db.execute(
                "INSERT INTO resources(key, id, type, parent, subscription, resource_group, seq, body) "
                "VALUES (?, ?, ?, ?, ?, NULL, ?, ?) ON CONFLICT(key) DO UPDATE SET id = excluded.id, "
                "body = excluded.body",
                (key, doc["id"], doc["type"].lower(), f"/subscriptions/{subscription}".lower(), subscription.lower(),
                 seq, dumps(doc)),
            )

    def update_body(self, key: str, doc: dict[str, Any]) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE resources SET body = ? WHERE key = ?", (dumps(doc), key.lower()))

    def delete(self, key: str) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM resources WHERE key = ?", (key.lower(),))

    # ---- queries ------------------------------------------------------------------------------
    def _rows(self, where: str, params: tuple, after_seq: int = 0, limit: int | None = None) -> list[tuple[int, dict]]:
        sql = f"SELECT seq, body FROM resources WHERE {where} AND seq > ? ORDER BY seq"
        args: tuple = (*params, after_seq)
        if limit is not None:
            sql += " LIMIT ?"
            args += (limit,)
        return [(r["seq"], json.loads(r["body"])) for r in self.store.query(sql, args)]

    def children(self, parent_key: str, type_key: str, after_seq: int = 0,
                 limit: int | None = None) -> list[tuple[int, dict]]:
        return self._rows("parent = ? AND type = ?", (parent_key.lower(), type_key.lower()), after_seq, limit)

    def in_group(self, subscription: str, group: str, type_key: str | None = None, after_seq: int = 0,
                 limit: int | None = None) -> list[tuple[int, dict]]:
        where, params = "subscription = ? AND resource_group = ?", (subscription.lower(), group.lower())
        if type_key:
            where, params = where + " AND type = ?", (*params, type_key.lower())
        return self._rows(where, params, after_seq, limit)

    def in_subscription(self, subscription: str, type_key: str, after_seq: int = 0,
                        limit: int | None = None) -> list[tuple[int, dict]]:
        return self._rows("subscription = ? AND type = ?", (subscription.lower(), type_key.lower()), after_seq, limit)

    def find(self, type_key: str, field: str, value: str) -> list[dict[str, Any]]:
        """Resources of a type whose `field` (a key of `RESOURCE_LOOKUPS`) equals `value`, case-insensitively:
        one indexed query, however many resources there are."""
        rows = self.store.query(f"SELECT body FROM resources WHERE type = ? AND {RESOURCE_LOOKUPS[field]} = ? "
                                "ORDER BY seq", (type_key.lower(), value.lower()))
        return [json.loads(r["body"]) for r in rows]

    def of_type(self, type_key: str) -> list[dict[str, Any]]:
        return [doc for _, doc in self._rows("type = ?", (type_key.lower(),))]

    def descendants(self, key: str) -> list[dict[str, Any]]:
        """Resources nested under `key` (children, grandchildren and extension resources on it), deepest first."""
        prefix = key.lower().rstrip("/") + "/"
        rows = self.store.query(
            "SELECT body FROM resources WHERE substr(key, 1, ?) = ? ORDER BY length(key) DESC, seq DESC",
            (len(prefix), prefix),
        )
        return [json.loads(r["body"]) for r in rows]



