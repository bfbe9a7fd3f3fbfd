"""The peers a node has known: where they were, when, and what they said they serve.

A node writes a record for every peer it was connected to (never for addresses a
stranger merely mentioned, so no peer can fill the book with others' names) and
reads the most recent ones back at start to reconnect. Where the records live is
the caller's choice: agents/store/peerbook.py keeps them in the agent's SQLite
store; `MemoryPeerBook` keeps them for the life of the process.

Every field is bounded here, before anything is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol

MAX_ADDRS = 8
MAX_TOPICS = 16
MAX_NAME = 64
ROLES = ("vendor", "relay", "")
"""What a peer says it is. A person's daemon and an assistant say nothing (spec §9)."""

_ADDR = re.compile(r"^/[!-~]{1,254}$")
_PEER_ID = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,64}$")
_TOPIC = re.compile(r"^/intentcast/[!-~]{1,100}$")


def clean_name(text: str) -> str:
    """A peer's self-chosen name, safe to print: printable, one line, at most 64 characters."""
    return "".join(c for c in text if c.isprintable())[:MAX_NAME].strip()


def is_peer_id(text: str) -> bool:
    return bool(_PEER_ID.match(text))


@dataclass(frozen=True)
class PeerRecord:
    peer_id: str
    addrs: tuple[str, ...] = ()
    last_seen: int = 0
    """Unix seconds when we were last connected to it."""
    role: str = ""
    name: str = ""
    topics: tuple[str, ...] = ()

    def cleaned(self) -> PeerRecord:
        """The record with every field bounded and anything malformed left out."""
        return replace(
            self,
            addrs=tuple(dict.fromkeys(a for a in self.addrs if _ADDR.match(a)))[:MAX_ADDRS],
            role=self.role if self.role in ROLES else "",
            name=clean_name(self.name),
            topics=tuple(sorted({t for t in self.topics if _TOPIC.match(t)}))[:MAX_TOPICS],
        )


class PeerBook(Protocol):
    def remember(self, record: PeerRecord) -> None:
        """Keep `record` (bounded by the caller), replacing what was known of that peer."""
        ...

    def get(self, peer_id: str) -> PeerRecord | None: ...

    def forget(self, peer_id: str) -> None:
        """Drop the peer (one cut off for going over its limits is not dialled again)."""
        ...

    def recent(self, *, since: int, limit: int) -> list[PeerRecord]:
        """Peers seen at or after `since`, most recent first."""
        ...


class MemoryPeerBook:
    """A peer book that lasts as long as the process (nodes without a store, tests)."""

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._records: dict[str, PeerRecord] = {}

    def remember(self, record: PeerRecord) -> None:
        self._records.pop(record.peer_id, None)
        self._records[record.peer_id] = record
        while len(self._records) > self.capacity:
            oldest = min(self._records.values(), key=lambda r: r.last_seen)
            del self._records[oldest.peer_id]

    def get(self, peer_id: str) -> PeerRecord | None:
        return self._records.get(peer_id)

    def forget(self, peer_id: str) -> None:
        self._records.pop(peer_id, None)

    def recent(self, *, since: int, limit: int) -> list[PeerRecord]:
        found = [r for r in self._records.values() if r.last_seen >= since]
        return sorted(found, key=lambda r: r.last_seen, reverse=True)[:limit]
