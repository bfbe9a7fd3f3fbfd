"""A vendor's signed agreements awaiting the buyer's countersignature (spec §7.1).

When a vendor signs, it sets the stock aside and stores the agreement it signed
in one transaction, before sending it: the hold. The hold ends in one of two
ways: the countersignature comes before `countersign_by` (the agreement is
stored, the stock stays taken: `agreed`), or it does not (the stock goes back:
`lapsed`). Both are one transaction, so a crash leaves the stock and the
agreements consistent, and a restarted vendor lapses what expired while it was down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intentcast.agents.store import audit
from intentcast.agents.store.db import Store, StoredAgreement

_COLUMNS = "agreement_id, ref, intent_id, sku, quantity, countersign_by, state, raw"


@dataclass(frozen=True)
class Hold:
    agreement_id: str
    ref: str
    intent_id: str
    sku: str
    quantity: int
    countersign_by: int
    state: str
    raw: bytes
    """The agreement as the vendor signed it (one signature)."""


def _hold(row: tuple[Any, ...]) -> Hold:
    agreement_id, ref, intent_id, sku, quantity, countersign_by, state, raw = row
    return Hold(agreement_id, ref, intent_id, sku, quantity, countersign_by, state, bytes(raw))


def place(store: Store, hold: Hold) -> bool:
    """Set the stock aside and keep the signed agreement, in one transaction; False (and
    nothing kept) when the stock ran out meanwhile."""
    with store.transaction() as db:
        taken = db.execute(
            "UPDATE stock SET remaining = remaining - ? WHERE sku = ? AND remaining >= ?",
            (hold.quantity, hold.sku, hold.quantity)).rowcount
        if taken != 1:
            return False
        db.execute(f"INSERT INTO holds ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (hold.agreement_id, hold.ref, hold.intent_id, hold.sku, hold.quantity,
                    hold.countersign_by, "held", hold.raw))
    return True


def get(store: Store, agreement_id: str) -> Hold | None:
    row = store.db.execute(f"SELECT {_COLUMNS} FROM holds WHERE agreement_id = ?",
                           (agreement_id,)).fetchone()
    return _hold(row) if row else None


def by_ref(store: Store, ref: str) -> Hold | None:
    row = store.db.execute(f"SELECT {_COLUMNS} FROM holds WHERE ref = ?", (ref,)).fetchone()
    return _hold(row) if row else None


def conclude(store: Store, hold: Hold, agreement: StoredAgreement, *, ack: bytes,
             audit_data: dict[str, Any]) -> None:
    """The countersignature came in time: keep the agreement and its ack, end the hold (the
    stock stays taken), in one transaction, before the ack is sent."""
    with store.transaction() as db:
        store.insert_agreement(db, agreement)
        store.settle_agreement(db, agreement.id, "agreed", ack)
        db.execute("UPDATE holds SET state = 'agreed' WHERE agreement_id = ?",
                   (hold.agreement_id,))
        db.execute("UPDATE negotiations SET state = 'agreed', updated_at = ? WHERE ref = ?",
                   (agreement.created_at, hold.ref))
        audit.append(db, at=agreement.created_at, kind="agreement_signed", data=audit_data)


def lapse(store: Store, hold: Hold, *, now: int, note: str) -> bool:
    """Give the stock of a hold back and end it; False if it had ended already."""
    with store.transaction() as db:
        ended = db.execute("UPDATE holds SET state = 'lapsed' WHERE agreement_id = ? "
                           "AND state = 'held'", (hold.agreement_id,)).rowcount
        if not ended:
            return False
        db.execute("UPDATE stock SET remaining = remaining + ? WHERE sku = ?",
                   (hold.quantity, hold.sku))
        db.execute("UPDATE negotiations SET state = 'expired', note = ?, updated_at = ? "
                   "WHERE ref = ?", (note, now, hold.ref))
    return True


def due(store: Store, now: int) -> list[Hold]:
    """Holds whose countersign_by has come without a countersignature."""
    rows = store.db.execute(f"SELECT {_COLUMNS} FROM holds WHERE state = 'held' "
                            "AND countersign_by <= ? ORDER BY countersign_by", (now,))
    return [_hold(row) for row in rows]


def next_due(store: Store) -> int | None:
    row = store.db.execute("SELECT MIN(countersign_by) FROM holds WHERE state = 'held'"
                           ).fetchone()
    return int(row[0]) if row and row[0] is not None else None
