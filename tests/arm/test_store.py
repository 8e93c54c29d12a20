"""The store's transaction semantics: all-or-nothing, nested blocks as savepoints."""

from __future__ import annotations

import pytest

from provider.store import PartialTransactionError, Store


def _count(store: Store) -> int:
    return store.query_one("SELECT count(*) AS n FROM settings")["n"]


def test_outer_failure_rolls_back_everything(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute("INSERT INTO settings(name, value) VALUES ('a', '1')")
        with store.transaction() as inner:
            inner.execute("INSERT INTO settings(name, value) VALUES ('b', '2')")
        raise RuntimeError("boom")
    assert _count(store) == 0


def test_nested_failure_rolls_back_only_the_nested_block(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    called = []
    with store.transaction() as db:
        db.execute("INSERT INTO settings(name, value) VALUES ('a', '1')")
        with pytest.raises(ValueError), store.transaction() as inner:
            inner.execute("INSERT INTO settings(name, value) VALUES ('b', '2')")
            store.after_commit(lambda: called.append("dropped"))
            raise ValueError("inner")
        store.after_commit(lambda: called.append("kept"))
    assert [r["name"] for r in store.query("SELECT name FROM settings")] == ["a"]
    assert called == ["kept"]


def test_without_savepoints_nested_blocks_cost_no_statements(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    seen: list[str] = []
    store.db.conn.set_trace_callback(seen.append)
    with store.transaction(savepoints=False):
        with store.transaction() as inner:
            inner.execute("INSERT INTO settings(name, value) VALUES ('a', '1')")
        assert store.next_value("n") == 1
    store.db.conn.set_trace_callback(None)
    assert not [s for s in seen if "SAVEPOINT" in s or "RELEASE" in s]
    assert len(seen) == 4  # BEGIN, INSERT, the counter (one statement with RETURNING), COMMIT
    assert _count(store) == 1 and store.next_value("n") == 2


def test_without_savepoints_a_caught_nested_failure_keeps_nothing(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    with pytest.raises(PartialTransactionError), store.transaction(savepoints=False) as db:
        db.execute("INSERT INTO settings(name, value) VALUES ('a', '1')")
        with pytest.raises(ValueError), store.transaction() as inner:
            inner.execute("INSERT INTO settings(name, value) VALUES ('b', '2')")
            raise ValueError("inner")
    assert _count(store) == 0
    with store.transaction() as db:  # the next transaction has savepoints again
        db.execute("INSERT INTO settings(name, value) VALUES ('c', '3')")
        with pytest.raises(ValueError), store.transaction() as inner:
            inner.execute("INSERT INTO settings(name, value) VALUES ('d', '4')")
            raise ValueError("inner")
    assert [r["name"] for r in store.query("SELECT name FROM settings")] == ["c"]


def test_wal_mode_and_persistence(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    assert store.query_one("PRAGMA journal_mode")["journal_mode"] == "wal"
    store.set_setting("k", "v")
    store.close()
    assert Store(tmp_path / "db.sqlite").get_setting("k") == "v"
