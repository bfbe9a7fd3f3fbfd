"""Opening a store refuses a file that is not one, without writing a byte to it."""

from __future__ import annotations

import os
import sqlite3

import pytest

from intentcast.agents.store.db import Store, StoreError


def _foreign(path) -> bytes:
    db = sqlite3.connect(path)  # rollback journal, tables of its own, user_version 0 or 3
    db.execute("CREATE TABLE recipes (name TEXT)")
    db.execute("INSERT INTO recipes VALUES ('bread')")
    db.commit()
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize("version", [0, 3])
def test_another_programs_sqlite_file_is_left_as_it_was(tmp_path, version):
    path = tmp_path / "store.sqlite"
    _foreign(path)
    if version:
        sqlite3.connect(path).execute(f"PRAGMA user_version = {version}").connection.close()
    before = path.read_bytes()
    for create in (True, False):
        with pytest.raises(StoreError, match="SQLite file of another program"):
            Store(path, create=create)
    assert path.read_bytes() == before  # not migrated, not switched to WAL
    assert not (tmp_path / "store.sqlite-wal").exists()


def test_random_bytes_and_an_empty_file_are_refused(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(os.urandom(8192))
    before = junk.read_bytes()
    with pytest.raises(StoreError, match="not an SQLite file"):
        Store(junk, create=False)
    assert junk.read_bytes() == before
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match="is empty, not an intentcast store"):
        Store(empty, create=False)
    assert empty.read_bytes() == b""
    with pytest.raises(StoreError, match="cannot be opened"):
        Store(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()


def test_a_commit_that_fails_leaves_no_transaction_open(tmp_path):
    # A COMMIT can fail (a full disk; here a deferred foreign key) and SQLite then keeps the
    # transaction open: every later write of the agent would fail with it.
    store = Store(tmp_path / "store.sqlite")
    store.db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    store.db.execute("CREATE TABLE child (parent INTEGER REFERENCES parent (id) "
                     "DEFERRABLE INITIALLY DEFERRED)")

    def orphan() -> None:
        with store.transaction() as db:
            db.execute("INSERT INTO child VALUES (7)")

    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        orphan()
    assert not store.db.in_transaction
    with store.transaction() as db:  # the next one starts cleanly
        db.execute("INSERT INTO parent VALUES (7)")
        db.execute("INSERT INTO child VALUES (7)")
    assert store.db.execute("SELECT count(*) FROM child").fetchone() == (1,)
    store.close()
