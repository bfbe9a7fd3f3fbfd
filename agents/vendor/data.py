"""The vendor's side of data rights: take disclosures, honour revocations, purge on time.

Serves `/intentcast/data/1` (agents/conversation/data_wire.py). A disclosure is kept only
when its consent receipt fits the agreement the vendor signed (protocol.consent);
the fields are sealed by the vendor's vault. `use` hands them out only for a
purpose the consent names and only within retention. A revocation, or the end
of retention, erases them from the store file and yields a signed deletion
receipt: sent back at once for a revocation, kept for the person otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import trio

from intentcast.agents.conversation.channel import Channel
from intentcast.agents.conversation.control import ControlError, Error, pack
from intentcast.agents.conversation.data_wire import (
    Acked,
    Deleted,
    Deliver,
    Disclose,
    Honoured,
    Redeem,
    Revoke,
    Stored,
    read_data_request,
)
from intentcast.agents.conversation.driver import first_frame, unix_clock
from intentcast.agents.conversation.limits import PeerSlots
from intentcast.agents.store import consents, credits
from intentcast.agents.store.db import Store
from intentcast.agents.vendor.closing import Closing
from intentcast.protocol import (
    Agreement,
    ConsentError,
    ConsentReceipt,
    IntentcastError,
    KeyPair,
    Money,
    Reason,
    consent,
    digest,
    envelope,
    loyalty,
)

log = logging.getLogger("intentcast.vendor_data")

FIRST_FRAME_TIMEOUT = 10.0
STREAMS_PER_PEER = 8
STREAMS = 256


class DataRefused(Exception):
    """A use of personal data the consent does not allow."""


class VendorData:
    def __init__(self, store: Store, key: KeyPair, *, clock: Callable[[], float] = time.time,
                 on_event: Callable[[dict[str, Any]], None] = lambda _: None,
                 loyalty_percent: int = 0,
                 offer_open: Callable[[bytes], str | None] = lambda _: None,
                 closing: Closing | None = None) -> None:
        self.store = store
        self.key = key
        self.closing = closing or Closing(store, key, clock=clock)
        self.slots = PeerSlots(per_peer=STREAMS_PER_PEER, total=STREAMS)
        self.loyalty_percent = loyalty_percent
        self.offer_open = offer_open
        """The ref of our negotiation whose offer has this digest, if it is still open."""
        self.now = unix_clock(clock)
        self.on_event = on_event

    async def handle(self, channel: Channel) -> None:
        with self.slots.slot(channel.remote_peer_id) as granted:
            if granted:
                await self._handle(channel)
            else:
                await channel.reset()

    async def _handle(self, channel: Channel) -> None:
        try:
            data = await first_frame(channel, FIRST_FRAME_TIMEOUT)
            if data is None:
                return
            try:
                request = read_data_request(data)
                if isinstance(request, Disclose):
                    answer = self._disclosed(request)
                elif isinstance(request, Revoke):
                    answer = self._revoked(request)
                elif isinstance(request, Deliver):
                    answer = pack(Acked(ack=self.closing.countersigned(request.envelope)))
                else:
                    answer = self._redeemed(request)
            except (ControlError, IntentcastError, DataRefused) as exc:
                answer = pack(Error(error=str(exc)[:280]))
            await channel.send(answer)
        finally:
            await channel.close()

    def _agreement(self, agreement_id: str) -> Agreement:
        stored = self.store.agreement(agreement_id)
        if stored is None:
            raise DataRefused(f"no agreement {agreement_id} here")
        message = envelope.read_stored(stored.raw)
        assert isinstance(message, Agreement)
        return message

    def _disclosed(self, request: Disclose) -> bytes:
        now = self.now()
        receipt = envelope.open(request.receipt, now=now)
        disclosure = envelope.open(request.disclosure, now=now)
        agreement_id = getattr(receipt.message, "agreement_id", "")
        agreement = self._agreement(agreement_id)
        record, fields = consent.receive(agreement, receipt, disclosure, self.key)
        credit = None
        if consents.get(self.store, record.id) is None:
            consents.add(self.store, record, receipt.raw, party=record.subject, now=now,
                         disclosure=disclosure.raw, data=fields, audit_kind="data_received",
                         audit_data={"consent_id": record.id, "agreement_id": record.agreement_id,
                                     "subject": record.subject, "fields": record.fields,
                                     "purposes": record.purposes,
                                     "retention_days": record.retention_days})
            self.on_event({"event": "disclosure", "consent_id": record.id,
                           "fields": sorted(fields)})
            credit = self._credit_for(agreement, record.subject, now)
        return pack(Stored(credit=credit))

    def _credit_for(self, agreement: Agreement, holder: str, now: int) -> bytes | None:
        """A loyalty credit to the person's pseudonym with us, if our policy gives them."""
        value = agreement.price.amount * self.loyalty_percent // 100
        if value <= 0:
            return None
        credit = loyalty.issue_credit(self.key, holder=holder, agreement_id=agreement.id,
                                      value=Money(amount=value,
                                                  currency=agreement.price.currency), now=now)
        self.on_event({"event": "credit_issued", "agreement_id": agreement.id, "value": value})
        return credit

    def _redeemed(self, request: Redeem) -> bytes:
        now = self.now()
        credit = envelope.open(request.credit, now=now)
        redemption = envelope.open(request.redemption, now=now)
        offer = getattr(redemption.message, "offer", b"")
        ref = self.offer_open(offer)
        if ref is None:
            raise DataRefused("no open offer of ours with that digest")
        value = loyalty.check(credit, redemption, vendor=self.key.did, offer=offer)
        if not credits.keep(self.store, credit.digest, self.key.did, value.amount,
                            value.currency, credit.raw, state="pending", ref=ref, now=now,
                            audit_kind="credit_presented"):
            raise ConsentError(Reason.CREDIT_SPENT, "this credit was presented already")
        self.on_event({"event": "credit_honoured", "ref": ref, "value": value.amount})
        return pack(Honoured(value=value.amount))

    def _revoked(self, request: Revoke) -> bytes:
        now = self.now()
        revocation = envelope.open(request.revocation, now=now)
        target = getattr(revocation.message, "target", b"")
        held = next((c for c in consents.all_(self.store) if digest(c.receipt) == target), None)
        if held is None:
            raise DataRefused("no consent with that digest here")
        receipt = envelope.open(held.receipt, now=now)
        consent.check_withdrawal(receipt, revocation, self._agreement(held.agreement_id))
        if held.state == "active":
            self._erase(held, receipt.message, cause="revocation", now=now)
        found = consents.get(self.store, held.id)
        assert found is not None
        assert found.deletion is not None
        return pack(Deleted(receipt=found.deletion))

    def _erase(self, held: consents.StoredConsent, receipt: Any, *, cause: str, now: int
               ) -> None:
        assert isinstance(receipt, ConsentReceipt)
        deletion = consent.deletion_receipt(receipt, self.key, now=now, cause=cause)
        consents.finish(self.store, held.id, state="deleted", now=now, deletion=deletion,
                        audit_kind="data_deleted",
                        audit_data={"consent_id": held.id, "agreement_id": held.agreement_id,
                                    "subject": held.party, "fields": held.fields,
                                    "cause": cause})
        self.on_event({"event": "deleted", "consent_id": held.id, "cause": cause})

    def use(self, consent_id: str, purpose: str) -> dict[str, str]:
        """The fields held under a consent, for a purpose it names, while it lasts."""
        held = consents.get(self.store, consent_id)
        if held is None or held.state != "active":
            raise DataRefused(f"no data held under consent {consent_id}")
        receipt = envelope.read_stored(held.receipt)
        assert isinstance(receipt, ConsentReceipt)
        if not consent.usable_for(receipt, purpose, received_at=held.received_at,
                                  now=self.now()):
            raise DataRefused(f"consent {consent_id} does not allow {purpose!r} "
                              f"(it allows {', '.join(receipt.purposes)}, until "
                              f"{held.retain_until})")
        found = consents.data(self.store, consent_id)
        if found is None:
            raise DataRefused(f"the data under consent {consent_id} is deleted")
        return found

    def purge(self) -> int:
        """Erase what retention no longer allows; returns how many consents ended."""
        now = self.now()
        due = consents.due(self.store, now)
        for held in due:
            receipt = envelope.read_stored(held.receipt)
            self._erase(held, receipt, cause="retention", now=now)
        return len(due)

    async def purge_forever(self, every: float = 1.0) -> None:
        while True:
            self.purge()
            await trio.sleep(every)
