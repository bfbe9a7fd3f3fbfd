"""Countersigned agreements the buyer still has to see acknowledged (spec §7.1).

The buyer stores its countersigned agreement (`pending`) and a delivery row in
one transaction before sending it. The row says where the vendor is and when to
try again; it ends `acked` (the vendor stored it: the agreement is agreed) or
`refused` (the vendor will not keep it: void). Retries back off exponentially,
capped, and go on until one of the two: an unconfirmed deal is never reported
as agreed, and never silently dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from intentcast.agents.store import audit
from intentcast.agents.store.db import Store, StoredAgreement

FIRST_RETRY = 2
MAX_BACKOFF = 300
_COLUMNS = "agreement_id, ref, peer_id, addrs, countersign_by, attempts, next_at, state, raw"


@dataclass(frozen=True)
class Delivery:
    agreement_id: str
    ref: str
    peer_id: str
    addrs: list[str]
    countersign_by: int
    attempts: int
    next_at: int
    state: str
    raw: bytes


def _delivery(row: tuple[Any, ...]) -> Delivery:
    agreement_id, ref, peer_id, addrs, countersign_by, attempts, next_at, state, raw = row
    return Delivery(agreement_id, ref, peer_id, json.loads(addrs), countersign_by, attempts,
                    next_at, state, bytes(raw))


def start(store: Store, agreement: StoredAgreement, *, ref: str, peer_id: str, addrs: list[str],
          countersign_by: int, audit_data: dict[str, Any]) -> None:
    """Keep the countersigned agreement as pending and plan its delivery, in one
    transaction, before it is sent."""
    with store.transaction() as db:
        store.insert_agreement(db, agreement)
        db.execute(f"INSERT INTO deliveries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
                   (agreement.id, ref, peer_id, json.dumps(addrs[:8]), countersign_by,
                    agreement.created_at + FIRST_RETRY, "pending", agreement.raw))
        audit.append(db, at=agreement.created_at, kind="agreement_signed",
                     data=audit_data)


def settle(store: Store, delivery: Delivery, *, stored: bool, ack: bytes, now: int,
           reason: str | None, intent_id: str) -> bool:
    """Record the vendor's ack (agreed, or void) with the negotiation's and the intent's new
    state, in one transaction. False if it was settled already."""
    agreement_id = delivery.agreement_id
    with store.transaction() as db:
        ended = db.execute("UPDATE deliveries SET state = ? WHERE agreement_id = ? AND "
                           "state = 'pending'", ("acked" if stored else "refused",
                                                 agreement_id)).rowcount
        if not ended:
            return False
        store.settle_agreement(db, agreement_id, "agreed" if stored else "void", ack)
        db.execute("UPDATE negotiations SET state = ?, note = ?, updated_at = ? WHERE ref = ?",
                   ("agreed" if stored else "void", reason or "", now, delivery.ref))
        if stored:
            db.execute("UPDATE intents SET state = 'agreed' WHERE id = ?", (intent_id,))
        audit.append(db, at=now, kind="agreement_acknowledged" if stored else "agreement_void",
                     data={"agreement_id": agreement_id,
                           **({} if stored else {"reason": reason or ""})})
    return True


def retry_later(store: Store, delivery: Delivery, *, now: int) -> int:
    """Count a failed attempt and plan the next one; returns when that is."""
    backoff: int = min(FIRST_RETRY * 2 ** delivery.attempts, MAX_BACKOFF)
    store.db.execute("UPDATE deliveries SET attempts = attempts + 1, next_at = ? "
                     "WHERE agreement_id = ?", (now + backoff, delivery.agreement_id))
    return now + backoff


def pending(store: Store) -> list[Delivery]:
    rows = store.db.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE state = 'pending' "
                            "ORDER BY next_at")
    return [_delivery(row) for row in rows]


def get(store: Store, agreement_id: str) -> Delivery | None:
    row = store.db.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE agreement_id = ?",
                           (agreement_id,)).fetchone()
    return _delivery(row) if row else None
