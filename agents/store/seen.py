"""Binding messages already taken, remembered across restarts (spec §4.2 step 6).

The node's replay guard lives in memory; what binds (an offer that opens a
negotiation, an intent a vendor answered) is also kept here until it expires,
so a message replayed after a restart is refused too. Rows are pruned when
their message expires, which bounds the table by rate times lifetime.
"""

from __future__ import annotations

from intentcast.agents.store.db import Store
from intentcast.protocol import ReplayGuard, Verified


def first_time(store: Store, verified: Verified, *, now: int) -> bool:
    """Remember `verified` until it expires; False if it was taken before."""
    key = ReplayGuard.key(verified.signers, verified.message.id)
    taken = store.db.execute("INSERT OR IGNORE INTO seen (key, expires_at) VALUES (?, ?)",
                             (key, verified.message.expires_at)).rowcount
    return taken == 1


def prune(store: Store, now: int) -> int:
    return store.db.execute("DELETE FROM seen WHERE expires_at <= ?", (now,)).rowcount
