"""The store's transaction semantics: all-or-nothing, nested blocks as savepoints."""

from __future__ import annotations

import pytest

from provider.store import Store


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


def test_wal_mode_and_persistence(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    assert store.query_one("PRAGMA journal_mode")["journal_mode"] == "wal"
    store.set_setting("k", "v")
    store.close()
    assert Store(tmp_path / "db.sqlite").get_setting("k") == "v"
