"""Each agent's own SQLite file: what it signed, what it received, what it agreed.

WAL mode with `synchronous=FULL`: once a transaction commits it survives a
crash, which is what lets an agent say "accepted" only after the agreement is
on disk. The schema is versioned with `PRAGMA user_version` and migrated
forward on open. Secrets and personal attributes are sealed by the vault;
envelopes are stored as the exact signed bytes, so anything in the store can
be verified again later with nothing but the store.

sqlite3 calls are synchronous; they are short local writes, made from trio
code directly (the agents' handlers are not latency-critical at that scale).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from intentcast.agents.store import audit, peerbook
from intentcast.agents.store.vault import Vault, VaultError, VaultParams
from intentcast.protocol import decode, encode

MIGRATIONS: list[str] = [
    # 1: the first schema
    audit.SCHEMA + """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE secrets (name TEXT PRIMARY KEY, sealed BLOB NOT NULL);
    CREATE TABLE attributes (name TEXT PRIMARY KEY, sealed BLOB NOT NULL, updated_at INTEGER);
    CREATE TABLE envelopes (
        digest BLOB PRIMARY KEY,
        intent_id TEXT,
        counterparty TEXT,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        type TEXT NOT NULL,
        at INTEGER NOT NULL,
        raw BLOB NOT NULL
    );
    CREATE INDEX envelopes_by_intent ON envelopes (intent_id, at);
    CREATE TABLE agreements (
        id TEXT PRIMARY KEY,
        intent_id TEXT NOT NULL,
        buyer TEXT NOT NULL,
        vendor TEXT NOT NULL,
        price_minor INTEGER NOT NULL,
        currency TEXT NOT NULL,
        raw BLOB NOT NULL,
        created_at INTEGER NOT NULL
    );
    """,
    # 2: intents, negotiations and vendor stock, for the networked agents
    """
    CREATE TABLE intents (
        id TEXT PRIMARY KEY,
        nonce BLOB NOT NULL,
        category TEXT NOT NULL,
        description TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        raw BLOB NOT NULL
    );
    CREATE TABLE negotiations (
        ref TEXT PRIMARY KEY,
        intent_id TEXT NOT NULL,
        counterparty TEXT NOT NULL,
        state TEXT NOT NULL,
        sku TEXT NOT NULL,
        title TEXT NOT NULL,
        price_minor INTEGER NOT NULL,
        currency TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX negotiations_by_intent ON negotiations (intent_id);
    CREATE TABLE stock (sku TEXT PRIMARY KEY, remaining INTEGER NOT NULL CHECK (remaining >= 0));
    """,
    # 3: fourth parties: the person's grants to assistants and the short links issued
    """
    CREATE TABLE grants (
        id TEXT PRIMARY KEY,
        assistant TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER,
        raw BLOB NOT NULL
    );
    CREATE TABLE links (
        digest BLOB PRIMARY KEY,
        grant_id TEXT NOT NULL,
        intent_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        raw BLOB NOT NULL
    );
    CREATE INDEX links_by_grant ON links (grant_id, expires_at);
    """,
    # 4: consents: what the person disclosed (person side) or holds (vendor side)
    """
    CREATE TABLE consents (
        id TEXT PRIMARY KEY,
        agreement_id TEXT NOT NULL,
        party TEXT NOT NULL,
        fields TEXT NOT NULL,
        purposes TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        retain_until INTEGER NOT NULL,
        state TEXT NOT NULL,
        receipt BLOB NOT NULL,
        disclosure BLOB,
        data BLOB,
        peer TEXT,
        revoked_at INTEGER,
        deletion BLOB
    );
    CREATE INDEX consents_by_state ON consents (state, retain_until);
    """,
    # 5: the person's portable cart
    """
    CREATE TABLE cart (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        category TEXT NOT NULL,
        description TEXT NOT NULL,
        max_price INTEGER,
        currency TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        added_at INTEGER NOT NULL
    );
    """,
    # 6: loyalty credits: held by the person, or presented to the vendor that issued them
    """
    CREATE TABLE credits (
        digest BLOB PRIMARY KEY,
        vendor TEXT NOT NULL,
        value INTEGER NOT NULL,
        currency TEXT NOT NULL,
        state TEXT NOT NULL,
        ref TEXT,
        at INTEGER NOT NULL,
        raw BLOB NOT NULL
    );
    """,
    # 7: agreements durable on both sides (spec §7.1): the buyer's agreement is pending
    # until the vendor's ack; the vendor holds its signed agreement and the stock until
    # countersign_by; the buyer redelivers until acknowledged; binding messages are
    # guarded against replay across restarts.
    """
    ALTER TABLE agreements ADD COLUMN state TEXT NOT NULL DEFAULT 'agreed';
    ALTER TABLE agreements ADD COLUMN ack BLOB;
    CREATE TABLE holds (
        agreement_id TEXT PRIMARY KEY,
        ref TEXT NOT NULL,
        intent_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        countersign_by INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('held', 'agreed', 'lapsed')),
        raw BLOB NOT NULL
    );
    CREATE INDEX holds_by_state ON holds (state, countersign_by);
    CREATE TABLE deliveries (
        agreement_id TEXT PRIMARY KEY,
        ref TEXT NOT NULL,
        peer_id TEXT NOT NULL,
        addrs TEXT NOT NULL,
        countersign_by INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'acked', 'refused')),
        raw BLOB NOT NULL
    );
    CREATE TABLE seen (key BLOB PRIMARY KEY, expires_at INTEGER NOT NULL);
    CREATE INDEX seen_by_expiry ON seen (expires_at);
    """,
    # 8: the peer book: peers the node was connected to, to reconnect after a restart
    peerbook.SCHEMA,
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The store cannot be opened or used as asked."""


@dataclass(frozen=True)
class StoredAgreement:
    id: str
    intent_id: str
    buyer: str
    vendor: str
    price_minor: int
    currency: str
    raw: bytes
    created_at: int
    state: str = "agreed"
    """`pending` (countersigned, the vendor's ack not yet in), `agreed` or `void` (the
    vendor refused the countersignature: it came after countersign_by)."""
    ack: bytes | None = None
    """The vendor's ack envelope, once it came."""


@dataclass(frozen=True)
class StoredIntent:
    id: str
    nonce: bytes
    category: str
    description: str
    state: str
    created_at: int
    expires_at: int
    raw: bytes


@dataclass(frozen=True)
class StoredNegotiation:
    ref: str
    intent_id: str
    counterparty: str
    state: str
    sku: str
    title: str
    price_minor: int
    currency: str
    note: str
    updated_at: int


_INTENT_COLUMNS = "id, nonce, category, description, state, created_at, expires_at, raw"
_NEGOTIATION_COLUMNS = (
    "ref, intent_id, counterparty, state, sku, title, price_minor, currency, note, updated_at"
)


class Store:
    def __init__(self, path: Path, *, create: bool = True) -> None:
        """Open the store at `path`; with `create=False` (an agent opening its home) a missing
        or empty file is refused instead of becoming a new store.

        A file that is not ours (another program's SQLite file, random bytes, a damaged
        store, one another process has locked) is refused before anything writes to it."""
        self.path = path
        self.on_audit: list[Callable[[audit.Entry], None]] = []
        """Told of each audit entry once its transaction committed: durable, then announced."""
        try:
            self.db = sqlite3.connect(
                path if create else f"file:{quote(str(path))}?mode=rw", uri=not create,
                isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"{path} is not a usable intentcast store: {explain(exc)}") from exc
        try:
            self.db.execute("PRAGMA busy_timeout=5000")
            self._check_ours(create)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            # Deleted data is overwritten, not left in free pages: "deleted" means gone.
            self.db.execute("PRAGMA secure_delete=ON")
            self._migrate()
        except sqlite3.Error as exc:
            self.db.close()
            raise StoreError(f"{path} is not a usable intentcast store: {explain(exc)}") from exc
        except BaseException:
            self.db.close()
            raise
        self._vault: Vault | None = None

    def _check_ours(self, create: bool) -> None:
        # Only reads: a foreign file must leave as it came (not even switched to WAL).
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and not tables:
            if not create:
                raise StoreError(f"{self.path} is empty, not an intentcast store; "
                                 "`intentcast init` makes one in a new home")
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema {version}; this intentcast knows up to {SCHEMA_VERSION}"
            )
        if version == 0 or not _OUR_TABLES.issubset(tables):
            raise StoreError(f"{self.path} is an SQLite file of another program, not an "
                             "intentcast store; leaving it untouched")

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema {version}; this intentcast knows up to {SCHEMA_VERSION}"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in _statements(MIGRATIONS[number]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic, durable unit of work: all of it commits or none of it does. Audit
        entries it appended are told to `on_audit` listeners once it has committed."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            before = self._last_audit() if self.on_audit else 0
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # a failed COMMIT (a full disk) may leave it open
                self.db.execute("ROLLBACK")
            raise
        if self.on_audit:
            for entry in audit.entries(self.db, after=before):
                for listener in self.on_audit:
                    listener(entry)

    def _last_audit(self) -> int:
        row = self.db.execute("SELECT MAX(seq) FROM audit").fetchone()
        return int(row[0] or 0)

    # -- meta and secrets ---------------------------------------------------------------

    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return decode(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, encode(value)),
        )

    def init_vault(self, passphrase: str, **limits: int) -> None:
        if self.get_meta("vault") is not None:
            raise StoreError(f"{self.path} is already initialised")
        vault, params = Vault.create(passphrase, **limits)
        with self.transaction():
            self.set_meta("vault", params.model_dump())
        self._vault = vault

    def unlock(self, passphrase: str) -> None:
        raw = self.get_meta("vault")
        if raw is None:
            raise StoreError(f"{self.path} has no keys yet: run `intentcast init` first")
        self._vault = Vault.unlock(passphrase, VaultParams.model_validate(raw))

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            raise VaultError("the store is locked: unlock it with the passphrase first")
        return self._vault

    def put_secret(self, name: str, value: bytes) -> None:
        sealed = self.vault.seal(value, context=f"secrets/{name}")
        self.db.execute(
            "INSERT INTO secrets (name, sealed) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET sealed = excluded.sealed",
            (name, sealed),
        )

    def get_secret(self, name: str) -> bytes | None:
        row = self.db.execute("SELECT sealed FROM secrets WHERE name = ?", (name,)).fetchone()
        return self.vault.open(row[0], context=f"secrets/{name}") if row else None

    # -- personal attributes ----------------------------------------------------------

    def set_attribute(self, name: str, value: str, *, now: int) -> None:
        sealed = self.vault.seal(value.encode("utf-8"), context=f"attributes/{name}")
        self.db.execute(
            "INSERT INTO attributes (name, sealed, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET sealed = excluded.sealed, "
            "updated_at = excluded.updated_at",
            (name, sealed, now),
        )

    def get_attribute(self, name: str) -> str | None:
        row = self.db.execute("SELECT sealed FROM attributes WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return self.vault.open(row[0], context=f"attributes/{name}").decode("utf-8")

    def attribute_names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM attributes ORDER BY name")]

    # -- envelopes and agreements -------------------------------------------------------

    def record_envelope(
        self, raw: bytes, *, digest: bytes, type: str, direction: str, at: int,
        intent_id: str | None = None, counterparty: str | None = None,
    ) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO envelopes "
            "(digest, intent_id, counterparty, direction, type, at, raw) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (digest, intent_id, counterparty, direction, type, at, raw),
        )

    def envelopes_for(self, intent_id: str) -> list[tuple[str, str, bytes]]:
        """(direction, type, raw) of every envelope about one intent, oldest first."""
        rows = self.db.execute(
            "SELECT direction, type, raw FROM envelopes WHERE intent_id = ? ORDER BY at, rowid",
            (intent_id,),
        )
        return [(d, t, bytes(r)) for d, t, r in rows]

    # -- intents and negotiations ------------------------------------------------------

    def save_intent(self, intent: StoredIntent, *, audit_data: dict[str, Any]) -> None:
        """The intent and its audit entry, durable before it is published."""
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO intents ({_INTENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (intent.id, intent.nonce, intent.category, intent.description, intent.state,
                 intent.created_at, intent.expires_at, intent.raw),
            )
            audit.append(db, at=intent.created_at, kind="intent_sent", data=audit_data)

    def set_intent_state(self, intent_id: str, state: str) -> None:
        self.db.execute("UPDATE intents SET state = ? WHERE id = ?", (state, intent_id))

    def intents(self) -> list[StoredIntent]:
        rows = self.db.execute(f"SELECT {_INTENT_COLUMNS} FROM intents ORDER BY created_at, id")
        return [StoredIntent(*row) for row in rows]

    def intent(self, intent_id: str) -> StoredIntent | None:
        row = self.db.execute(
            f"SELECT {_INTENT_COLUMNS} FROM intents WHERE id = ?", (intent_id,)
        ).fetchone()
        return StoredIntent(*row) if row else None

    def save_negotiation(self, n: StoredNegotiation) -> None:
        self.db.execute(
            f"INSERT INTO negotiations ({_NEGOTIATION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(ref) DO UPDATE SET "
            "state = excluded.state, price_minor = excluded.price_minor, "
            "note = excluded.note, updated_at = excluded.updated_at",
            (n.ref, n.intent_id, n.counterparty, n.state, n.sku, n.title, n.price_minor,
             n.currency, n.note, n.updated_at),
        )

    def end_interrupted(self, *, now: int, note: str) -> int:
        """End the negotiations a stopped process left open (their streams are gone): all
        but those whose signed agreement still holds stock for a countersignature."""
        return self.db.execute(
            "UPDATE negotiations SET state = 'expired', note = ?, updated_at = ? WHERE state IN "
            "('awaiting_offer', 'buyer_turn', 'seller_turn', 'accepted', 'seller_signed') "
            "AND ref NOT IN (SELECT ref FROM holds WHERE state = 'held')", (note, now),
        ).rowcount

    def negotiations(self, intent_id: str | None = None) -> list[StoredNegotiation]:
        where, args = ("WHERE intent_id = ?", (intent_id,)) if intent_id else ("", ())
        rows = self.db.execute(
            f"SELECT {_NEGOTIATION_COLUMNS} FROM negotiations {where} ORDER BY updated_at, ref",
            args,
        )
        return [StoredNegotiation(*row) for row in rows]

    def negotiation(self, ref: str) -> StoredNegotiation | None:
        row = self.db.execute(
            f"SELECT {_NEGOTIATION_COLUMNS} FROM negotiations WHERE ref = ?", (ref,)
        ).fetchone()
        return StoredNegotiation(*row) if row else None

    # -- vendor stock -------------------------------------------------------------------

    def init_stock(self, sku: str, count: int) -> None:
        """Set the starting stock of an item the store has not seen yet."""
        self.db.execute(
            "INSERT OR IGNORE INTO stock (sku, remaining) VALUES (?, ?)", (sku, count)
        )

    def reserve_stock(self, sku: str, quantity: int) -> bool:
        """Set `quantity` aside for a deal being signed; False when there is not enough."""
        taken = self.db.execute(
            "UPDATE stock SET remaining = remaining - ? WHERE sku = ? AND remaining >= ?",
            (quantity, sku, quantity),
        ).rowcount
        return taken == 1

    def release_stock(self, sku: str, quantity: int) -> None:
        """Give back a reservation whose deal was not made."""
        self.db.execute(
            "UPDATE stock SET remaining = remaining + ? WHERE sku = ?", (quantity, sku)
        )

    def stock(self, sku: str) -> int:
        row = self.db.execute("SELECT remaining FROM stock WHERE sku = ?", (sku,)).fetchone()
        return int(row[0]) if row else 0

    # -- agreements ---------------------------------------------------------------------

    def save_agreement(
        self, agreement: StoredAgreement, *, audit_data: dict[str, Any],
        take_stock: tuple[str, int] | None = None,
    ) -> None:
        """Durable, with its audit entry, before anyone is told the deal is made.

        A vendor passes `take_stock=(sku, quantity)`: the stock goes down in the
        same transaction, and the agreement fails if there is not enough.
        """
        with self.transaction() as db:
            if take_stock is not None:
                sku, quantity = take_stock
                taken = db.execute(
                    "UPDATE stock SET remaining = remaining - ? "
                    "WHERE sku = ? AND remaining >= ?", (quantity, sku, quantity),
                ).rowcount
                if taken != 1:
                    raise StoreError(f"not enough stock of {sku} left")
            self.insert_agreement(db, agreement)
            audit.append(db, at=agreement.created_at, kind="agreement_signed", data=audit_data)

    @staticmethod
    def insert_agreement(db: sqlite3.Connection, agreement: StoredAgreement) -> None:
        """The agreement row alone, inside a transaction the caller holds."""
        db.execute(
            f"INSERT INTO agreements ({_AGREEMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (agreement.id, agreement.intent_id, agreement.buyer, agreement.vendor,
             agreement.price_minor, agreement.currency, agreement.raw, agreement.created_at,
             agreement.state, agreement.ack),
        )

    def agreements(self) -> list[StoredAgreement]:
        rows = self.db.execute(
            f"SELECT {_AGREEMENT_COLUMNS} FROM agreements ORDER BY created_at, id")
        return [_agreement(row) for row in rows]

    def agreement(self, agreement_id: str) -> StoredAgreement | None:
        row = self.db.execute(
            f"SELECT {_AGREEMENT_COLUMNS} FROM agreements WHERE id = ?", (agreement_id,),
        ).fetchone()
        return _agreement(row) if row else None

    def settle_agreement(self, db: sqlite3.Connection, agreement_id: str, state: str,
                         ack: bytes | None) -> None:
        """Mark an agreement agreed or void with the ack that settled it (in a transaction)."""
        db.execute("UPDATE agreements SET state = ?, ack = ? WHERE id = ?",
                   (state, ack, agreement_id))


_AGREEMENT_COLUMNS = ("id, intent_id, buyer, vendor, price_minor, currency, raw, created_at, "
                      "state, ack")


def _agreement(row: tuple[Any, ...]) -> StoredAgreement:
    id_, intent_id, buyer, vendor, price_minor, currency, raw, created_at, state, ack = row
    return StoredAgreement(id_, intent_id, buyer, vendor, price_minor, currency, bytes(raw),
                           created_at, state, bytes(ack) if ack is not None else None)


_OUR_TABLES = {"meta", "secrets", "audit"}
"""Tables every version of the schema has had since the first."""
_WHY = {
    "SQLITE_NOTADB": "it is not an SQLite file (damaged, or something else)",
    "SQLITE_CORRUPT": "it is damaged (database disk image is malformed)",
    "SQLITE_BUSY": "another process has it locked; try again once it is done",
    "SQLITE_LOCKED": "another process has it locked; try again once it is done",
    "SQLITE_FULL": "no space left on the device",
    "SQLITE_READONLY": "it cannot be written (a read-only file or directory)",
    "SQLITE_CANTOPEN": "it cannot be opened (missing, or no permission to it or its directory)",
    "SQLITE_PERM": "permission denied",
}


def explain(exc: sqlite3.Error) -> str:
    """What an SQLite error means for the person who owns the file."""
    name = getattr(exc, "sqlite_errorname", "")
    if str(exc).startswith("no such table"):
        return f"it is not an intentcast store ({exc})"
    for prefix, why in _WHY.items():
        if name == prefix or name.startswith(prefix + "_"):
            return why
    return str(exc)


def _statements(script: str) -> list[str]:
    # executescript() would commit our open transaction; run statements one by one.
    return [s.strip() for s in script.split(";") if s.strip()]
