"""The agent's SQLite store, vault and audit chain, on real files."""

from __future__ import annotations

import sqlite3

import nacl.pwhash
import pytest

from intentcast.agents.store import audit
from intentcast.agents.store.db import SCHEMA_VERSION, Store, StoredAgreement, StoreError
from intentcast.agents.store.vault import Vault, VaultError

FAST = {
    "opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
    "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN,
}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "agent.sqlite")
    s.init_vault("correct horse", **FAST)
    yield s
    s.close()


def test_schema_is_versioned_and_wal(store):
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.sqlite"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="knows up to"):
        Store(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable intentcast store"):
        Store(path)


def test_secrets_and_attributes_are_sealed_on_disk(store, tmp_path):
    store.put_secret("master_seed", b"\x01" * 32)
    store.set_attribute("email", "ada@example.org", now=1)
    store.close()
    raw = (tmp_path / "agent.sqlite").read_bytes()
    wal = tmp_path / "agent.sqlite-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert b"ada@example.org" not in raw
    assert b"\x01" * 32 not in raw
    reopened = Store(tmp_path / "agent.sqlite")
    reopened.unlock("correct horse")
    assert reopened.get_secret("master_seed") == b"\x01" * 32
    assert reopened.get_attribute("email") == "ada@example.org"
    assert reopened.attribute_names() == ["email"]
    reopened.close()


def test_wrong_passphrase_and_locked_store(store, tmp_path):
    store.put_secret("k", b"v")
    store.close()
    reopened = Store(tmp_path / "agent.sqlite")
    with pytest.raises(VaultError, match="locked"):
        reopened.get_secret("k")
    with pytest.raises(VaultError, match="wrong passphrase"):
        reopened.unlock("incorrect horse")
    reopened.close()


def test_uninitialised_store_says_what_to_run(tmp_path):
    s = Store(tmp_path / "new.sqlite")
    with pytest.raises(StoreError, match="intentcast init"):
        s.unlock("anything")
    s.close()


def test_init_twice_is_refused(store):
    with pytest.raises(StoreError, match="already initialised"):
        store.init_vault("again", **FAST)


def test_sealed_value_moved_to_another_row_does_not_open(store):
    store.set_attribute("email", "ada@example.org", now=1)
    store.set_attribute("phone", "+49 30 1234", now=1)
    sealed = store.db.execute("SELECT sealed FROM attributes WHERE name='email'").fetchone()[0]
    store.db.execute("UPDATE attributes SET sealed=? WHERE name='phone'", (sealed,))
    with pytest.raises(VaultError, match="belongs elsewhere"):
        store.get_attribute("phone")


def test_altered_ciphertext_does_not_open(store):
    store.set_attribute("email", "ada@example.org", now=1)
    sealed = bytearray(store.db.execute("SELECT sealed FROM attributes").fetchone()[0])
    sealed[-1] ^= 1
    store.db.execute("UPDATE attributes SET sealed=?", (bytes(sealed),))
    with pytest.raises(VaultError, match="does not open"):
        store.get_attribute("email")


def test_vault_with_default_argon2id_limits():
    vault, params = Vault.create("pass phrase")
    assert params.memlimit == nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
    again = Vault.unlock("pass phrase", params)
    assert again.open(vault.seal(b"x", context="c"), context="c") == b"x"
    with pytest.raises(VaultError):
        Vault.create("")


def _agreement(n: int) -> StoredAgreement:
    return StoredAgreement(
        id=f"agreement{n:04d}", intent_id="intent0001", buyer="did:key:zB", vendor="did:key:zV",
        price_minor=19950, currency="EUR", raw=b"\xd8\x62" + bytes([n]), created_at=1000 + n,
    )


def test_agreement_and_audit_entry_commit_together(store, tmp_path):
    store.save_agreement(_agreement(1), audit_data={"agreement": "agreement0001"})
    store.close()
    reopened = Store(tmp_path / "agent.sqlite")
    assert [a.id for a in reopened.agreements()] == ["agreement0001"]
    assert reopened.agreement("agreement0001").price_minor == 19950
    assert reopened.agreement("missing") is None
    [entry] = audit.entries(reopened.db)
    assert entry.kind == "agreement_signed"
    assert entry.data == {"agreement": "agreement0001"}
    reopened.close()


def test_failed_agreement_leaves_no_audit_entry(store):
    store.save_agreement(_agreement(1), audit_data={})
    with pytest.raises(sqlite3.IntegrityError):
        store.save_agreement(_agreement(1), audit_data={})  # same id again
    assert len(audit.entries(store.db)) == 1
    assert audit.verify(store.db) is None


@pytest.mark.parametrize(
    ("column", "value"),
    [("data", b"\xa0"), ("kind", "something_else"), ("at", 5), ("prev", bytes(32)),
     ("hash", bytes(32))],
)
def test_tampered_audit_entry_is_named(store, column, value):
    for n in range(1, 6):
        with store.transaction() as db:
            audit.append(db, at=n, kind="disclosed", data={"n": n})
    assert audit.verify(store.db) is None
    store.db.execute(f"UPDATE audit SET {column} = ? WHERE seq = 3", (value,))
    assert audit.verify(store.db) == 3


def test_removed_audit_entry_breaks_the_next(store):
    for n in range(1, 6):
        with store.transaction() as db:
            audit.append(db, at=n, kind="disclosed", data={"n": n})
    store.db.execute("DELETE FROM audit WHERE seq = 2")
    assert audit.verify(store.db) == 3


def test_envelopes_are_kept_per_intent_in_order(store):
    store.record_envelope(b"a", digest=b"1" * 32, type="intent", direction="out", at=1,
                          intent_id="i1")
    store.record_envelope(b"b", digest=b"2" * 32, type="offer", direction="in", at=2,
                          intent_id="i1", counterparty="did:key:zV")
    store.record_envelope(b"b", digest=b"2" * 32, type="offer", direction="in", at=2,
                          intent_id="i1")  # the same envelope twice is kept once
    store.record_envelope(b"c", digest=b"3" * 32, type="offer", direction="in", at=2,
                          intent_id="i2")
    assert store.envelopes_for("i1") == [("out", "intent", b"a"), ("in", "offer", b"b")]


def test_a_version_1_store_is_migrated_forward(tmp_path):
    from intentcast.agents.store.db import MIGRATIONS, _statements

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    for statement in _statements(MIGRATIONS[0]):
        db.execute(statement)
    db.execute("INSERT INTO meta (key, value) VALUES ('kept', x'01')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    upgraded = Store(path)
    assert upgraded.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert upgraded.get_meta("kept") == 1
    assert upgraded.intents() == []


def test_intents_commit_with_their_audit_entry(store):
    from intentcast.agents.store.db import StoredIntent

    intent = StoredIntent("intent-0001", b"n" * 16, "outdoor", "a tent", "open", 5, 100, b"raw")
    store.save_intent(intent, audit_data={"intent_id": "intent-0001", "disclosed": ["size"]})
    store.set_intent_state("intent-0001", "withdrawn")
    assert store.intent("intent-0001").state == "withdrawn"
    assert [e.kind for e in audit.entries(store.db)] == ["intent_sent"]
    with pytest.raises(sqlite3.IntegrityError):
        store.save_intent(intent, audit_data={})
    assert len(audit.entries(store.db)) == 1


def test_negotiations_are_upserted_by_ref(store):
    from intentcast.agents.store.db import StoredNegotiation

    first = StoredNegotiation("n1", "i1", "did:key:z6Mk", "buyer_turn", "SKU", "Tent", 200, "EUR",
                              "", 1)
    store.save_negotiation(first)
    store.save_negotiation(StoredNegotiation(**{**first.__dict__, "state": "agreed",
                                                "price_minor": 180, "updated_at": 2}))
    (only,) = store.negotiations("i1")
    assert (only.state, only.price_minor) == ("agreed", 180)
    assert store.negotiation("n1") == only
    assert store.negotiations("other") == []


def test_stock_goes_down_with_the_agreement_or_not_at_all(store):
    store.init_stock("SKU-1", 1)
    store.init_stock("SKU-1", 50)  # already known: the stored count wins
    store.save_agreement(_agreement(1), audit_data={}, take_stock=("SKU-1", 1))
    assert store.stock("SKU-1") == 0
    with pytest.raises(StoreError, match="not enough stock"):
        store.save_agreement(_agreement(2), audit_data={}, take_stock=("SKU-1", 1))
    assert [a.id for a in store.agreements()] == [_agreement(1).id]
    assert len(audit.entries(store.db)) == 1


def test_stock_reservations(store):
    store.init_stock("SKU-2", 2)
    assert store.reserve_stock("SKU-2", 2)
    assert not store.reserve_stock("SKU-2", 1)
    store.release_stock("SKU-2", 1)
    assert store.stock("SKU-2") == 1
