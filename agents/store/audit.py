"""A hash-chained, append-only log of everything that binds the person or
discloses their data.

Entry n's hash covers entry n-1's hash and entry n's own fields in
deterministic CBOR, so changing, removing or reordering any entry breaks every
later link, and `verify` names the first entry that no longer fits.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from typing import Any

from intentcast.protocol import decode, encode

GENESIS = bytes(32)
_DOMAIN = b"intentcast/audit/1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq   INTEGER PRIMARY KEY,
    at    INTEGER NOT NULL,
    kind  TEXT NOT NULL,
    data  BLOB NOT NULL,
    prev  BLOB NOT NULL,
    hash  BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class Entry:
    seq: int
    at: int
    kind: str
    data: dict[str, Any]
    hash: bytes


def entry_hash(prev: bytes, seq: int, at: int, kind: str, data: bytes) -> bytes:
    return hashlib.sha256(_DOMAIN + prev + encode([seq, at, kind, data])).digest()


def append(db: sqlite3.Connection, *, at: int, kind: str, data: dict[str, Any]) -> Entry:
    """Add an entry; call inside the transaction that makes the event itself durable."""
    row = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
    blob = encode(data)
    digest = entry_hash(prev, seq, at, kind, blob)
    db.execute(
        "INSERT INTO audit (seq, at, kind, data, prev, hash) VALUES (?, ?, ?, ?, ?, ?)",
        (seq, at, kind, blob, prev, digest),
    )
    return Entry(seq, at, kind, data, digest)


def entries(db: sqlite3.Connection, *, kind: str | None = None, after: int = 0) -> list[Entry]:
    """Entries in order (of one kind, and after seq `after`, when given)."""
    query = "SELECT seq, at, kind, data, hash FROM audit WHERE seq > ?"
    rows = db.execute(query + (" AND kind = ?" if kind else "") + " ORDER BY seq",
                      (after, kind) if kind else (after,)).fetchall()
    return [Entry(seq, at, k, decode(data), h) for seq, at, k, data, h in rows]


def verify(db: sqlite3.Connection) -> int | None:
    """The seq of the first entry that breaks the chain, or None if it is whole."""
    prev, expected_seq = GENESIS, 1
    for seq, at, kind, data, stored_prev, stored_hash in db.execute(
        "SELECT seq, at, kind, data, prev, hash FROM audit ORDER BY seq"
    ):
        if seq != expected_seq or stored_prev != prev:
            return int(seq)
        if entry_hash(prev, seq, at, kind, data) != stored_hash:
            return int(seq)
        prev, expected_seq = stored_hash, seq + 1
    return None
