"""Keeping what a conversation produced: the one way a signed agreement enters a store."""

from __future__ import annotations

from typing import Any

from intentcast.agents.store.db import Store, StoredAgreement
from intentcast.protocol import Agreement


def keep_agreement(store: Store, raw: bytes, agreement: Agreement, *, at: int,
                   audit_data: dict[str, Any], state: str = "agreed") -> None:
    """Store an agreement envelope with its audit entry, in one transaction."""
    store.save_agreement(
        StoredAgreement(agreement.id, agreement.intent_id, agreement.buyer, agreement.vendor,
                        agreement.price.amount, agreement.price.currency, raw, at, state),
        audit_data={"agreement_id": agreement.id, "terms_hash": agreement.terms_hash.hex(),
                    **audit_data},
    )
