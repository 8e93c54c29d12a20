"""The emulator's one SQLite database.

Every change the emulator makes happens inside `Store.transaction()`: one SQLite transaction,
committed when the block ends and rolled back on any exception, so a failed request leaves
nothing half-written. A single connection guarded by a re-entrant lock serves all threads; the
emulator's write rate is far below what that serialises, and it keeps `:memory:` mode identical
to the on-disk mode.

Modules that need tables of their own register a schema callback with `register_schema`; the
callbacks run once when the store opens (and again after `reset`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils


class PartialTransactionError(RuntimeError):
    """A transaction opened with `savepoints=False` saw a nested block fail and carry on: rolled back."""


class Database:
    """The connection as modules see it: `execute` and `query` go straight to sqlite3 (hot paths,
    start-up), while table helpers (`db["t"].insert(...)`, `table_names()`) come from sqlite-utils,
    imported on first use so start-up does not pay for it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._utils: sqlite_utils.Database | None = None

    @property
    def utils(self) -> sqlite_utils.Database:
        if self._utils is None:
            import sqlite_utils

            self._utils = sqlite_utils.Database(self.conn)
        return self._utils

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: tuple | dict = ()) -> Iterator[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description or ()]
        for row in cursor:
            yield dict(zip(names, row, strict=True))

    def table_names(self) -> list[str]:
        return self.utils.table_names()

    def __getitem__(self, table: str) -> sqlite_utils.db.Table:
        return self.utils[table]


SchemaHook = Callable[[Database], None]
_schema_hooks: list[SchemaHook] = []


_open_stores: weakref.WeakSet[Store] = weakref.WeakSet()


def register_schema(hook: SchemaHook) -> SchemaHook:
    """Register a function that creates a module's tables (idempotently). Usable as a decorator.

    Modules load lazily, so a hook registered after a store opened is applied to it at once.
    """
    if hook not in _schema_hooks:
        _schema_hooks.append(hook)
        for store in list(_open_stores):
            with store.transaction() as db:
                hook(db)
    return hook


#: Indexed lookups of resource documents by a field (`Repository.find`): the expressions must be written
#: exactly as in the index for SQLite to use it. Names are global for hubs and DPS; id scopes for DPS.
RESOURCE_LOOKUPS = {
    "name": "lower(json_extract(body, '$.name'))",
    "idScope": "lower(json_extract(body, '$.properties.idScope'))",
}


def _core_schema(db: Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS resources (
            key TEXT PRIMARY KEY,          -- lower-cased resource id
            id TEXT NOT NULL,              -- id in the casing it was last written with
            type TEXT NOT NULL,            -- lower-cased full type, e.g. microsoft.devices/iothubs
            parent TEXT NOT NULL,          -- lower-cased id of the parent scope
            subscription TEXT NOT NULL,    -- lower-cased subscription id
            resource_group TEXT,           -- lower-cased group name, NULL at subscription scope
            seq INTEGER NOT NULL,          -- creation order, for stable listing
            body TEXT NOT NULL             -- the stored resource document (JSON)
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS resources_parent ON resources(parent, type, seq)")
    db.execute("CREATE INDEX IF NOT EXISTS resources_group ON resources(subscription, resource_group, seq)")
    db.execute("CREATE INDEX IF NOT EXISTS resources_type ON resources(type, subscription, seq)")
    for field, expression in RESOURCE_LOOKUPS.items():
        db.execute(f"CREATE INDEX IF NOT EXISTS resources_by_{field} ON resources(type, {expression})")
    db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


class Store:
    """A SQLite database in WAL mode (or in memory) with one-transaction-per-change helpers."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.db = Database(conn)
        self._lock = threading.RLock()
        self._depth = 0
        self._savepoints = True  # of the open outermost transaction (see `transaction`)
        self._poisoned = False
        self.generation = 0  # counts committed transactions: lets readers cache what they derive from the data
        self._after_commit: list[Callable[[], None]] = []
        self.create_schema()
        _open_stores.add(self)

    # -- schema --------------------------------------------------------------------------------
    def create_schema(self) -> None:
        with self.transaction():
            _core_schema(self.db)
            for hook in list(_schema_hooks):
                hook(self.db)

    def reset(self) -> None:
        """Drop every table and recreate the schema: `POST /_emulator/reset`."""
        with self.transaction():
            for table in self.db.table_names():
                self.db.execute(f'DROP TABLE IF EXISTS "{table}"')
        self.create_schema()

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def transaction(self, savepoints: bool = True) -> Iterator[Database]:
        """One SQLite transaction; a nested call is a SAVEPOINT inside it.

        A failure inside a nested block rolls back only that block (so a caller that catches the
        error, such as a template deployment recording a failed resource, keeps nothing of it);
        a failure that escapes the outermost block rolls back everything.

        `savepoints=False` on the outermost block is for hot paths whose every failure aborts the
        whole change (a DPS registration): nested blocks then cost no SAVEPOINT/RELEASE statements.
        Should a nested block fail and its error be caught inside, the outer block cannot keep
        only part of the work, so it rolls everything back and raises `PartialTransactionError`.
        """
        with self._lock:
            depth = self._depth
            if depth == 0:
                self._savepoints, self._poisoned = savepoints, False
            marked = self._savepoints or depth == 0
            savepoint = f"sp{depth}"
            if marked:
                self.db.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
            self._depth += 1
            mark = len(self._after_commit)
            try:
                yield self.db
                if depth == 0 and self._poisoned:
                    raise PartialTransactionError("a nested block failed inside a transaction without "
                                                  "savepoints and its error was caught; nothing was kept")
            except BaseException:
                self._depth -= 1
                del self._after_commit[mark:]
                if depth == 0:
                    self.db.execute("ROLLBACK")
                elif marked:
                    self.db.execute(f"ROLLBACK TO {savepoint}")
                    self.db.execute(f"RELEASE {savepoint}")
                else:
                    self._poisoned = True
                raise
            self._depth -= 1
            if depth == 0:
                self.db.execute("COMMIT")
                self.generation += 1
                callbacks, self._after_commit = self._after_commit, []
            else:
                if marked:
                    self.db.execute(f"RELEASE {savepoint}")
                callbacks = []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the current transaction commits (dropped on rollback)."""
        with self._lock:
            if self._depth == 0:
                callback()
            else:
                self._after_commit.append(callback)

    @contextmanager
    def read(self) -> Iterator[Database]:
        """Serialised read access (the connection is shared between threads)."""
        with self._lock:
            yield self.db

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query(sql, params))

    def query_one(self, sql: str, params: tuple | dict = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: tuple | dict = ()) -> None:
        with self.transaction():
            self.db.execute(sql, params)

    # -- small helpers ---------------------------------------------------------------------------
    def next_value(self, name: str) -> int:
        """A monotonically increasing counter (creation order, paging)."""
        with self.transaction():
            return self.db.execute(
                "INSERT INTO counters(name, value) VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
                (name,),
            ).fetchone()[0]

    def get_setting(self, name: str) -> str | None:
        row = self.query_one("SELECT value FROM settings WHERE name = ?", (name,))
        return row["value"] if row else None

    def set_setting(self, name: str, value: str) -> None:
        self.execute(
            "INSERT INTO settings(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def close(self) -> None:
        _open_stores.discard(self)
        with self._lock:
            self.db.conn.close()


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=False)
