"""The peer book in the agent's store: peers it was connected to, kept across restarts.

One row per peer: its addresses, when we were last connected, and what it said it
serves (role, name, topics). The node bounds every field before it writes (see
agents/net/peerbook.py); the table keeps at most `MAX_PEERS` rows, the least
recently seen going first, so no number of peers grows the file without bound.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # db.py imports this module for its schema
    from intentcast.agents.store.db import Store

MAX_PEERS = 1024

SCHEMA = """
CREATE TABLE peers (
    peer_id TEXT PRIMARY KEY,
    addrs TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    role TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    topics TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX peers_by_last_seen ON peers (last_seen);
"""

_COLUMNS = "peer_id, addrs, last_seen, role, name, topics"


@dataclass(frozen=True)
class KnownPeer:
    peer_id: str
    addrs: tuple[str, ...]
    last_seen: int
    role: str
    name: str
    topics: tuple[str, ...]


def _strings(text: str) -> tuple[str, ...]:
    try:
        value = json.loads(text)
    except ValueError:
        return ()
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _row(row: tuple[Any, ...]) -> KnownPeer:
    peer_id, addrs, last_seen, role, name, topics = row
    return KnownPeer(peer_id, _strings(addrs), int(last_seen), role, name, _strings(topics))


def remember(store: Store, peer: KnownPeer) -> None:
    """Replace what is known of `peer`, and forget the least recently seen beyond the cap."""
    with store.transaction() as db:
        db.execute(
            f"INSERT INTO peers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(peer_id) DO UPDATE SET addrs = excluded.addrs, "
            "last_seen = excluded.last_seen, role = excluded.role, name = excluded.name, "
            "topics = excluded.topics",
            (peer.peer_id, json.dumps(list(peer.addrs)), peer.last_seen, peer.role, peer.name,
             json.dumps(list(peer.topics))))
        db.execute("DELETE FROM peers WHERE peer_id IN (SELECT peer_id FROM peers "
                   "ORDER BY last_seen DESC LIMIT -1 OFFSET ?)", (MAX_PEERS,))


def get(store: Store, peer_id: str) -> KnownPeer | None:
    row = store.db.execute(f"SELECT {_COLUMNS} FROM peers WHERE peer_id = ?",
                           (peer_id,)).fetchone()
    return _row(row) if row else None


def forget(store: Store, peer_id: str) -> None:
    store.db.execute("DELETE FROM peers WHERE peer_id = ?", (peer_id,))


def recent(store: Store, *, since: int, limit: int) -> list[KnownPeer]:
    """Peers seen at or after `since`, most recent first."""
    rows = store.db.execute(f"SELECT {_COLUMNS} FROM peers WHERE last_seen >= ? "
                            "ORDER BY last_seen DESC LIMIT ?", (since, limit))
    return [_row(r) for r in rows]
