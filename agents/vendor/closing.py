"""How a vendor closes a deal so that neither side can lose it (spec §7.1).

`hold` signs the agreement and, in the same transaction as its record, sets the
stock aside for the vendor's own bound (`countersign_by`), before anything is
sent. `countersigned` takes the buyer's countersignature, from the negotiation
stream or redelivered later over `/intentcast/data/1`: stored with its ack in
one transaction before the ack is sent, answered with the same ack if it comes
again, refused (a signed ack saying so) once the hold has lapsed. `lapse_due`
gives back the stock of holds nobody countersigned in time, including the ones
that lapsed while the vendor was down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import trio

from intentcast.agents.conversation.driver import unix_clock
from intentcast.agents.store import holds
from intentcast.agents.store.db import Store, StoredAgreement
from intentcast.protocol import (
    Agreement,
    IntentcastError,
    KeyPair,
    Negotiation,
    NegotiationError,
    Reason,
    acknowledge,
    cose,
    envelope,
)

log = logging.getLogger("intentcast.vendor")

HOLD = 120
"""Seconds a signed agreement holds the stock for the buyer's countersignature."""


class Closing:
    def __init__(self, store: Store, key: KeyPair, *, clock: Callable[[], float] = time.time,
                 hold: int = HOLD, on_event: Callable[[dict[str, Any]], None] = lambda _: None
                 ) -> None:
        self.store = store
        self.key = key
        self.now = unix_clock(clock)
        self.hold_seconds = hold
        self.on_event = on_event

    def hold(self, ref: str, seller: Negotiation, sku: str) -> bytes | None:
        """Sign the agreement the buyer accepted and hold the stock for it, durably, before
        it is sent; None (nothing signed) when the stock ran out meanwhile."""
        quantity = seller.intent.constraints.quantity
        if self.store.stock(sku) < quantity:
            return None
        raw = seller.sign_agreement(now=self.now(), hold=self.hold_seconds)
        agreement = envelope.read_stored(raw)
        assert isinstance(agreement, Agreement)
        # No await since the stock check: nothing else in this process took it meanwhile.
        placed = holds.place(self.store, holds.Hold(
            agreement.id, ref, agreement.intent_id, sku, quantity, agreement.countersign_by,
            "held", raw))
        if not placed:
            raise RuntimeError(f"the stock of {sku} changed under a synchronous step")
        return raw

    def countersigned(self, raw: bytes) -> bytes:
        """The ack to send for a countersigned agreement (already checked to be the one we
        signed when it came on the negotiation stream): stored, or refused as too late."""
        now = self.now()
        verified = envelope.open(raw, now=now)
        agreement = verified.message
        if not isinstance(agreement, Agreement) or agreement.vendor != self.key.did:
            raise NegotiationError(Reason.WRONG_COUNTERPARTY, "not an agreement we signed")
        hold = holds.get(self.store, agreement.id)
        if hold is None or cose.parse(hold.raw).payload != cose.parse(raw).payload:
            raise NegotiationError(Reason.TERMS_MISMATCH, "we hold no such agreement")
        if hold.state == "agreed":
            stored = self.store.agreement(agreement.id)
            assert stored is not None
            assert stored.ack is not None
            return stored.ack  # the same ack again: delivery is idempotent
        if hold.state == "lapsed" or now >= hold.countersign_by:
            holds.lapse(self.store, hold, now=now, note="the countersignature came too late")
            return acknowledge(self.key, raw, now=now,
                               refused=f"countersign_by {hold.countersign_by} has passed")
        ack = acknowledge(self.key, raw, now=now)
        holds.conclude(self.store, hold, StoredAgreement(
            agreement.id, agreement.intent_id, agreement.buyer, agreement.vendor,
            agreement.price.amount, agreement.price.currency, raw, now, "agreed", ack),
            ack=ack, audit_data={"agreement_id": agreement.id, "buyer": agreement.buyer,
                                 "terms_hash": agreement.terms_hash.hex(), "sku": agreement.sku,
                                 "price": agreement.price.model_dump()})
        self.on_event({"event": "agreement", "agreement_id": agreement.id, "ref": hold.ref,
                       "sku": agreement.sku, "price": agreement.price.model_dump()})
        return ack

    def lapse_due(self) -> int:
        """Give back the stock of every hold whose countersign_by has passed."""
        now = self.now()
        lapsed = 0
        for hold in holds.due(self.store, now):
            if holds.lapse(self.store, hold, now=now, note="no countersignature in time"):
                lapsed += 1
                self.on_event({"event": "hold_lapsed", "ref": hold.ref, "sku": hold.sku,
                               "quantity": hold.quantity})
        return lapsed

    async def lapse_forever(self, every: float = 1.0) -> None:
        while True:
            try:
                self.lapse_due()
            except IntentcastError:  # pragma: no cover - stored envelopes were verified
                log.exception("lapsing holds failed")
            await trio.sleep(every)
