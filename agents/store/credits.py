"""Loyalty credits in an agent's store, by envelope digest.

Person side: credits held, `unused` until presented against an offer
(`presented`, with the offer's ref), then `spent` once that deal is signed.
Vendor side: credits presented to us, `pending` against one of our offers
until that negotiation signs (`spent`) or ends without a deal (removed).
A digest is the primary key, so a credit can be spent once only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intentcast.agents.store import audit
from intentcast.agents.store.db import Store


@dataclass(frozen=True)
class Credit:
    digest: bytes
    vendor: str
    value: int
    currency: str
    state: str
    ref: str | None
    at: int
    raw: bytes


_COLUMNS = "digest, vendor, value, currency, state, ref, at, raw"


def _credit(row: tuple[Any, ...]) -> Credit:
    d, vendor, value, currency, state, ref, at, raw = row
    return Credit(bytes(d), vendor, value, currency, state, ref, at, bytes(raw))


def keep(store: Store, digest: bytes, vendor: str, value: int, currency: str, raw: bytes, *,
         state: str, ref: str | None, now: int, audit_kind: str) -> bool:
    """Record a credit; False if this digest is known already (spent or pending)."""
    with store.transaction() as db:
        if db.execute("SELECT 1 FROM credits WHERE digest = ?", (digest,)).fetchone():
            return False
        db.execute(f"INSERT INTO credits ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (digest, vendor, value, currency, state, ref, now, raw))
        audit.append(db, at=now, kind=audit_kind, data={
            "vendor": vendor, "credit": digest.hex(), "value": value, "currency": currency,
            **({"ref": ref} if ref else {})})
    return True


def all_(store: Store) -> list[Credit]:
    return [_credit(r) for r in store.db.execute(f"SELECT {_COLUMNS} FROM credits ORDER BY at")]


def by_ref(store: Store, ref: str) -> Credit | None:
    row = store.db.execute(f"SELECT {_COLUMNS} FROM credits WHERE ref = ?", (ref,)).fetchone()
    return _credit(row) if row else None


def set_state(store: Store, digest: bytes, state: str, *, ref: str | None, now: int,
              audit_kind: str) -> None:
    with store.transaction() as db:
        db.execute("UPDATE credits SET state = ?, ref = ? WHERE digest = ?",
                   (state, ref, digest))
        audit.append(db, at=now, kind=audit_kind, data={"credit": digest.hex(),
                                                         **({"ref": ref} if ref else {})})


def forget(store: Store, digest: bytes) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM credits WHERE digest = ? AND state = 'pending'", (digest,))
