"""Consents in an agent's store: what a person disclosed, or what a vendor holds.

Person side: one row per consent receipt the person signed, with the vendor's
peer (to revoke later) and what came of it: `active`, then `deleted` (with the
vendor's deletion receipt) or `breach` (the vendor did not answer a revocation
in time). Vendor side: one row per consent held, the fields sealed by the
vault, `active` until a revocation or the end of retention, then `deleted`:
the sealed data is erased from the file (secure_delete, WAL checkpointed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from intentcast.agents.store import audit
from intentcast.agents.store.db import Store
from intentcast.protocol import ConsentReceipt
from intentcast.protocol.consent import DAY

_COLUMNS = ("id, agreement_id, party, fields, purposes, received_at, retain_until, state, "
            "receipt, disclosure, peer, revoked_at, deletion")


@dataclass(frozen=True)
class StoredConsent:
    id: str
    agreement_id: str
    party: str
    """The vendor's DID (person side) or the person's pairwise DID (vendor side)."""
    fields: list[str]
    purposes: list[str]
    received_at: int
    retain_until: int
    state: str
    receipt: bytes
    disclosure: bytes | None
    peer: dict[str, Any] | None
    revoked_at: int | None
    deletion: bytes | None


def _row(row: tuple[Any, ...]) -> StoredConsent:
    (id_, agreement_id, party, fields, purposes, received_at, retain_until, state, receipt,
     disclosure, peer, revoked_at, deletion) = row
    return StoredConsent(id_, agreement_id, party, json.loads(fields), json.loads(purposes),
                         received_at, retain_until, state, bytes(receipt),
                         bytes(disclosure) if disclosure is not None else None,
                         json.loads(peer) if peer else None, revoked_at,
                         bytes(deletion) if deletion is not None else None)


def add(store: Store, receipt: ConsentReceipt, receipt_raw: bytes, *, party: str, now: int,
        disclosure: bytes | None = None, peer: dict[str, Any] | None = None,
        data: dict[str, str] | None = None, audit_kind: str, audit_data: dict[str, Any]
        ) -> None:
    """Keep a consent, with its audit entry, in one transaction."""
    sealed = None
    if data is not None:
        sealed = store.vault.seal(json.dumps(data).encode(), context=f"consents/{receipt.id}")
    with store.transaction() as db:
        db.execute(
            f"INSERT INTO consents ({_COLUMNS}, data) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, NULL, NULL, ?)",
            (receipt.id, receipt.agreement_id, party, json.dumps(receipt.fields),
             json.dumps(receipt.purposes), now, now + receipt.retention_days * DAY,
             receipt_raw, disclosure, json.dumps(peer) if peer else None, sealed))
        audit.append(db, at=now, kind=audit_kind, data=audit_data)


def all_(store: Store) -> list[StoredConsent]:
    rows = store.db.execute(f"SELECT {_COLUMNS} FROM consents ORDER BY received_at, id")
    return [_row(r) for r in rows]


def get(store: Store, consent_id: str) -> StoredConsent | None:
    row = store.db.execute(f"SELECT {_COLUMNS} FROM consents WHERE id = ?",
                           (consent_id,)).fetchone()
    return _row(row) if row else None


def data(store: Store, consent_id: str) -> dict[str, str] | None:
    """Vendor side: the fields held under a consent, or None once deleted."""
    row = store.db.execute("SELECT data FROM consents WHERE id = ?", (consent_id,)).fetchone()
    if row is None or row[0] is None:
        return None
    found: dict[str, str] = json.loads(store.vault.open(row[0],
                                                        context=f"consents/{consent_id}"))
    return found


def finish(store: Store, consent_id: str, *, state: str, now: int, deletion: bytes | None,
           audit_kind: str, audit_data: dict[str, Any]) -> None:
    """Record the end of a consent: the data (if held) is erased in the same transaction."""
    with store.transaction() as db:
        db.execute("UPDATE consents SET state = ?, data = NULL, deletion = ?, "
                   "revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                   (state, deletion, now, consent_id))
        audit.append(db, at=now, kind=audit_kind, data=audit_data)
    # Fold the WAL into the file so no copy of the erased page outlives the deletion.
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def due(store: Store, now: int) -> list[StoredConsent]:
    """Vendor side: active consents whose retention period is over."""
    rows = store.db.execute(f"SELECT {_COLUMNS} FROM consents WHERE state = 'active' "
                            "AND retain_until <= ? ORDER BY retain_until", (now,))
    return [_row(r) for r in rows]
