"""Long-running operations: the `operations` table, the three `--lro` modes, and status bodies.

Side effects of a write happen when the request is answered (in its transaction); what the
operation controls is what clients *see*: the resource's non-terminal `provisioningState` and the
status URL's `status`, until the operation completes. Completing applies the final transition
generically: `put`/`patch` set `provisioningState: Succeeded`, `delete` removes the resource,
`action` just exposes its stored result. An operation started with an `error` ends `Failed`.
A resource may carry `_finalState` (e.g. a failed deployment) to be shown once its operation ends. Modes (`--lro`):

- `immediate`: completes before the response is sent;
- `polls:N`: the first N polls of its status URL report it running, the next one completes it;
- `seconds:S`: completes S seconds after it started (checked lazily on every read).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provider.common import utc_z_from_epoch
from provider.store import Database, Store, dumps, register_schema


@register_schema
def _schema(db: Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS operations (
            id TEXT PRIMARY KEY,
            namespace TEXT NOT NULL,        -- provider namespace, as in the status URL
            location TEXT NOT NULL,
            subscription TEXT NOT NULL,
            kind TEXT NOT NULL,             -- put | patch | delete | action
            resource_key TEXT,
            resource_id TEXT,
            status TEXT NOT NULL,           -- running state shown, then Succeeded | Failed | Canceled
            started REAL NOT NULL,
            ended REAL,
            polls INTEGER NOT NULL DEFAULT 0,
            polls_needed INTEGER NOT NULL DEFAULT 0,
            due REAL,
            result_status INTEGER,          -- final status code of the Location URL (200 / 204)
            result TEXT,                    -- final body of the Location URL (JSON) or NULL
            error TEXT                      -- ARM error detail (JSON) when Failed
        )"""
    )


TERMINAL = ("Succeeded", "Failed", "Canceled")


@dataclass(frozen=True)
class LroMode:
    kind: str  # immediate | polls | seconds
    amount: float = 0

    @classmethod
    def parse(cls, text: str) -> LroMode:
        text = (text or "immediate").strip().lower()
        if text == "immediate":
            return cls("immediate")
        name, _, value = text.partition(":")
        if name in ("polls", "seconds") and value:
            try:
                amount = float(value)
            except ValueError:
                amount = -1
            if amount >= 0 and (name == "seconds" or amount == int(amount)):
                return cls(name, amount)
        raise ValueError(f"--lro must be 'immediate', 'polls:N' or 'seconds:S', not {text!r}")

    @property
    def immediate(self) -> bool:
        return self.kind == "immediate" or self.amount == 0


# Called when an operation completes: (kind, resource_key, operation row) -> None.
Completer = Callable[[str, str | None, dict[str, Any]], None]


class Operations:
    """Creates, advances and describes long-running operations."""

    def __init__(self, store: Store, mode: LroMode, completer: Completer) -> None:
        self.store = store
        self.mode = mode
        self.completer = completer

    def start(self, *, namespace: str, location: str, subscription: str, kind: str, resource_key: str | None,
              resource_id: str | None, running_status: str = "Accepted", result_status: int = 200,
              result: Any = None, error: dict | None = None, immediate: bool | None = None) -> dict[str, Any]:
        """Record a new operation; in immediate mode it completes before this returns."""
        op_id = str(uuid.uuid4())
        now = time.time()
        row = {
            "id": op_id, "namespace": namespace, "location": location, "subscription": subscription.lower(),
            "kind": kind, "resource_key": resource_key, "resource_id": resource_id,
            "status": running_status, "started": now, "ended": None, "polls": 0,
            "polls_needed": int(self.mode.amount) if self.mode.kind == "polls" else 0,
            "due": now + self.mode.amount if self.mode.kind == "seconds" else None,
            "result_status": result_status, "result": None if result is None else dumps(result),
            "error": None if error is None else dumps(error),
        }
        with self.store.transaction() as db:
            db["operations"].insert(row)
            if self.mode.immediate if immediate is None else immediate:
                self._complete(row, "Failed" if error else "Succeeded")
        return row

    def get(self, op_id: str) -> dict[str, Any] | None:
        return self.store.query_one("SELECT * FROM operations WHERE id = ?", (op_id,))

    def poll(self, op_id: str) -> dict[str, Any] | None:
        """A status poll: counts towards `polls:N`, completes due operations."""
        with self.store.transaction():
            row = self.get(op_id)
            if row is None or row["status"] in TERMINAL:
                return row
            row["polls"] += 1
            self.store.db.execute("UPDATE operations SET polls = ? WHERE id = ?", (row["polls"], op_id))
            if self._is_due(row):
                self._complete(row, "Failed" if row["error"] else "Succeeded")
            return self.get(op_id)

    def settle_due(self) -> None:
        """Complete `seconds:S` operations whose time has come (cheap when none are pending)."""
        if self.mode.kind != "seconds":
            return
        due = self.store.query(
            "SELECT * FROM operations WHERE ended IS NULL AND due IS NOT NULL AND due <= ?", (time.time(),)
        )
        if not due:
            return
        with self.store.transaction():
            for row in due:
                current = self.get(row["id"])
                if current and current["ended"] is None:
                    self._complete(current, "Failed" if current["error"] else "Succeeded")

    def cancel_for(self, resource_key: str) -> None:
        """End a resource's running operation as `Canceled` (no final transition is applied)."""
        with self.store.transaction() as db:
            db.execute("UPDATE operations SET status = 'Canceled', ended = ?, "
                       "error = ? WHERE resource_key = ? AND ended IS NULL",
                       (time.time(), dumps({"code": "DeploymentCanceled", "message": "The operation was canceled."}),
                        resource_key.lower()))

    def _is_due(self, row: dict[str, Any]) -> bool:
        if self.mode.kind == "polls":
            return row["polls"] > row["polls_needed"]
        if self.mode.kind == "seconds":
            return row["due"] is not None and row["due"] <= time.time()
        return True

    def _complete(self, row: dict[str, Any], status: str) -> None:
        now = time.time()
        self.store.db.execute("UPDATE operations SET status = ?, ended = ? WHERE id = ?", (status, now, row["id"]))
        row.update(status=status, ended=now)
        self.completer(row["kind"], row["resource_key"], row)

    # ---- bodies ---------------------------------------------------------------------------------
    @staticmethod
    def status_id(row: dict[str, Any]) -> str:
        return (f"/subscriptions/{row['subscription']}/providers/{row['namespace']}/locations/"
                f"{row['location']}/operationStatuses/{row['id']}")

    @staticmethod
    def result_path(row: dict[str, Any]) -> str:
        return (f"/subscriptions/{row['subscription']}/providers/{row['namespace']}/locations/"
                f"{row['location']}/operationResults/{row['id']}")

    def status_body(self, row: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.status_id(row),
            "name": row["id"],
            "status": row["status"],
            "startTime": utc_z_from_epoch(row["started"]),
            "percentComplete": 100 if row["status"] in TERMINAL else 50,
        }
        if row["resource_id"]:
            body["resourceId"] = row["resource_id"]
        if row["ended"] is not None:
            body["endTime"] = utc_z_from_epoch(row["ended"])
        if row["status"] in ("Failed", "Canceled") and row["error"]:
            body["error"] = json.loads(row["error"])
        return body


