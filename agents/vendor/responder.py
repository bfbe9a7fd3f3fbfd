"""The vendor's responder: hears intents, answers the ones its catalog fits, negotiates.

For each verified intent that matches an item in stock, the responder opens a
negotiation stream to the intent's `reply_to`, sends a signed offer priced by
its policy, answers counters through the policy, signs the agreement when the
buyer accepts (holding the stock for its own bound, durably, first: closing.py),
and stores the countersigned agreement before it acknowledges it. A vanished
buyer ends the negotiation at its deadline; stock held for a signature nobody
countersigned goes back when the hold lapses.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Protocol

import trio

from intentcast.agents.conversation.channel import Channel
from intentcast.agents.conversation.driver import Conversation, unix_clock
from intentcast.agents.store import credits, holds, seen
from intentcast.agents.store.db import Store, StoredNegotiation
from intentcast.agents.vendor.catalog import Catalog, Item
from intentcast.agents.vendor.closing import Closing
from intentcast.agents.vendor.intake import Intake, Limits, Ticket
from intentcast.agents.vendor.policy import CounterWith, PricingPolicy, Situation
from intentcast.protocol import (
    Accept,
    Agreement,
    Counter,
    DelegationError,
    Intent,
    IntentcastError,
    KeyPair,
    Money,
    Negotiation,
    Revocation,
    Revocations,
    Role,
    State,
    Verified,
    digest,
    envelope,
)

log = logging.getLogger("intentcast.vendor")

PENDING_REVOCATIONS = 1024
"""Revocations kept for a while though no intent we answer is theirs yet (gossip may bring a
revocation before the intent it concerns); the oldest go first. An attacker can push an honest
one out: then the revoked link is refused once it expires, within 60 s (spec §8.1)."""
MAX_REFUSED_FRAMES = 3
"""Frames a buyer may send that do not fit the negotiation before the vendor hangs up."""


class VendorNetwork(Protocol):
    async def open_negotiation(self, peer_id: str, addrs: list[str]) -> Channel: ...


class VendorAgent:
    def __init__(
        self, store: Store, key: KeyPair, catalog: Catalog, policy: PricingPolicy,
        network: VendorNetwork, *, clock: Callable[[], float] = time.time,
        on_refused: Callable[[dict[str, str]], None] = lambda _: None,
        closing: Closing | None = None, limits: Limits | None = None,
        on_drop: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.store = store
        self.closing = closing or Closing(store, key, clock=clock)
        self.intake = Intake(limits or Limits(), on_drop=on_drop)
        self.open: dict[bytes, str] = {}
        """Offer digest -> ref, for negotiations still open: where a credit may apply."""
        self.revocations = Revocations()
        """Delegation revocations heard on the network, kept only for intents this vendor
        is answering; checked on every assistant move."""
        self.pending_revocations: collections.OrderedDict[bytes, Verified] = (
            collections.OrderedDict())
        self.on_refused = on_refused
        self.key = key
        self.catalog = catalog
        self.policy = policy
        self.network = network
        self.now = unix_clock(clock)
        self.stats: dict[str, int] = {"intents": 0, "offers": 0, "agreements": 0, "skipped": 0,
                                      "replayed": 0, "unreachable": 0}
        for item in catalog.items:
            store.init_stock(item.sku, item.stock)

    def offer_open(self, offer_digest: bytes) -> str | None:
        return self.open.get(offer_digest)

    def learn_revocation(self, verified: Verified) -> str | None:
        """Keep a revocation of a delegation heard on the network if it can matter here: its
        signer is the key or the named assistant of an intent we are answering (only they
        can issue links a buyer would show us), or hold it among the pending few until such
        an intent comes. "kept", "pending", or None when it is not one or a bound refused it."""
        message = verified.message
        if not isinstance(message, Revocation) or message.target_type != "delegation":
            return None
        answering = {key for ticket in self.intake.tickets()
                     for key in (ticket.verified.signer, ticket.intent.assistant) if key}
        if verified.signer in answering:
            self.revocations.prune(self.now())
            return "kept" if self.revocations.add(verified) else None
        self.pending_revocations[verified.digest] = verified
        while len(self.pending_revocations) > PENDING_REVOCATIONS:
            self.pending_revocations.popitem(last=False)
        return "pending"

    def _promote_revocations(self, intent: Intent, signer: str) -> None:
        """An intent we now answer: the pending revocations its keys signed start to count."""
        keys = {signer, intent.assistant}
        now = self.now()
        for key, verified in list(self.pending_revocations.items()):
            if verified.signer in keys:
                del self.pending_revocations[key]
                if now < verified.message.expires_at:
                    self.revocations.add(verified)

    def choose(self, intent: Intent) -> tuple[Item, int] | None:
        """The item to offer and its opening price, or None when we have nothing to say."""
        for item in self.catalog.matches(intent):
            if self.store.stock(item.sku) < intent.constraints.quantity:
                continue
            price = self.policy.opening(item, intent)
            if price is not None:
                return item, price
        return None

    def hear(self, verified: Verified) -> bool:
        """Take one intent the node delivered (verified by its topic validator): queue it
        for an answer if the catalog fits it; True if queued."""
        intent = verified.message
        if not isinstance(intent, Intent):
            return False
        self.stats["intents"] += 1
        if self.choose(intent) is None:
            self.stats["skipped"] += 1
            return False
        if not seen.first_time(self.store, verified, now=self.now()):
            self.stats["replayed"] += 1  # answered before, in this run or an earlier one
            return False
        self.store.record_envelope(verified.raw, digest=verified.digest, type="intent",
                                   direction="in", at=self.now(), intent_id=intent.id,
                                   counterparty=verified.signer)
        queued = self.intake.submit(self.intake.ticket(verified))
        if queued:
            self._promote_revocations(intent, verified.signer)
        return queued

    async def on_intent(self, verified: Verified) -> None:
        """Queue one intent (as `hear`); `serve` answers it."""
        self.hear(verified)

    async def serve(self) -> None:
        """Answer queued intents, as the intake's limits allow, for ever."""
        await self.intake.serve(self._answer)

    async def _answer(self, ticket: Ticket) -> None:
        choice = self.choose(ticket.intent)  # stock may have gone while it waited
        if choice is None:
            self.stats["skipped"] += 1
            return
        try:
            await self._negotiate(ticket, *choice)
        except Exception:  # one buyer's failure must not take the responder down
            log.exception("negotiation about %s failed", ticket.intent.id)

    async def _negotiate(self, ticket: Ticket, item: Item, price: int) -> None:
        intent_raw, intent = ticket.verified.raw, ticket.intent
        now = self.now()
        seller = Negotiation(Role.SELLER, self.key, intent_raw, now=now,
                             max_rounds=self.catalog.max_rounds, revocations=self.revocations)
        offer = seller.offer(
            sku=item.sku, title=item.title, quantity=intent.constraints.quantity,
            price=Money(amount=price, currency=self.catalog.currency),
            terms=self.catalog.terms_for(item), now=now, ttl=self.catalog.offer_ttl,
        )
        ref = digest(offer)[:6].hex()
        channel: Channel | None = None
        with trio.move_on_after(self.intake.limits.dial_timeout):
            try:
                channel = await self.network.open_negotiation(
                    intent.reply_to.peer_id, list(intent.reply_to.addrs))
            except Exception as exc:  # the transport's failures: the buyer is unreachable
                log.info("could not reach the buyer of %s: %s", intent.id, exc)
        ticket.dialled()
        if channel is None:
            self.stats["unreachable"] += 1
            return
        self.open[digest(offer)] = ref
        misbehaved = False
        try:
            self._record(seller, offer, "out", "offer")
            self._save(ref, seller, item)
            await channel.send(offer)
            self.stats["offers"] += 1
            misbehaved = await self._converse(ref, seller, item, channel)
        finally:
            self.open.pop(digest(offer), None)
            self._settle_credit(ref, agreed=seller.state is State.AGREED)
            self._end(ref, seller, item)
            if misbehaved:  # frames that did not fit, again and again: hang up both ways
                self.stats["hung_up"] = self.stats.get("hung_up", 0) + 1
                await channel.reset()
            else:
                await channel.close()

    def _end(self, ref: str, seller: Negotiation, item: Item) -> None:
        """Save how the negotiation ended; a hold nobody countersigned stays until it lapses
        (the buyer may still deliver its countersignature), unless the buyer withdrew."""
        hold = holds.by_ref(self.store, ref)
        if hold is None or hold.state != "held":
            self._save(ref, seller, item)
        elif seller.state is State.WITHDRAWN:
            holds.lapse(self.store, hold, now=self.now(), note="withdrawn by the buyer")
        else:
            self._save(ref, seller, item, state=State.SELLER_SIGNED.value,
                       note=f"awaiting the countersignature until {hold.countersign_by}")

    async def _converse(self, ref: str, seller: Negotiation, item: Item, channel: Channel
                        ) -> bool:
        """Run the negotiation to its end; True if the buyer misbehaved."""

        async def refused(exc: IntentcastError) -> bool:
            log.info("offer %s: refused a message: %s", ref, exc)
            if not isinstance(exc, DelegationError):
                return False  # a bad frame is dropped; the negotiation goes on
            # An assistant acted outside what the person signed: say so, and stop.
            self.on_refused({"ref": ref, "reason": exc.reason.value, "message": exc.message})
            refusal = seller.withdraw(reason=f"{exc.reason.value}: {exc.message}"[:280],
                                      now=self.now())
            self._record(seller, refusal, "out", "withdraw")
            await channel.send(refusal)
            return True

        talk = Conversation(channel, seller, self.now, on_refused=refused,
                            max_refused=MAX_REFUSED_FRAMES)
        while (move := await talk.next_move()) is not None:
            data, verified = move
            message = verified.message
            self._record(seller, data, "in", message.type)
            reply: bytes | None = None
            if isinstance(message, Counter):
                reply = self._answer_counter(seller, item, message)
            elif isinstance(message, Accept):
                reply = self.closing.hold(ref, seller, item.sku)
                if reply is None:
                    reply = seller.reject(reason=f"{item.sku} sold out meanwhile", now=self.now())
            elif isinstance(message, Agreement) and seller.state is State.AGREED:
                reply = self.closing.countersigned(data)  # stored, then acknowledged
                self.stats["agreements"] += 1
            if reply is not None:
                self._record(seller, reply, "out", _kind(reply))
                self._save(ref, seller, item)
                await channel.send(reply)
            else:
                self._save(ref, seller, item)
        return talk.misbehaved

    def _settle_credit(self, ref: str, *, agreed: bool) -> None:
        credit = credits.by_ref(self.store, ref)
        if credit is None or credit.state != "pending":
            return
        if agreed:
            credits.set_state(self.store, credit.digest, "spent", ref=ref, now=self.now(),
                              audit_kind="credit_spent")
        else:  # no deal: the credit is the person's to present again
            credits.forget(self.store, credit.digest)

    def _answer_counter(self, seller: Negotiation, item: Item, counter: Counter) -> bytes:
        assert seller.our_last_price is not None  # we offered before anyone could counter
        our_last = seller.our_last_price.amount
        ref = self.open.get(seller.offer_digest or b"")
        credit = credits.by_ref(self.store, ref) if ref else None
        if credit is not None and credit.state == "pending":
            # We gave this credit: honour it before any policy, and meet the buyer there.
            honoured = max(counter.price.amount, our_last - credit.value)
            price = Money(amount=honoured, currency=self.catalog.currency)
            return seller.counter(price=price, now=self.now(), note="loyalty credit honoured")
        decision = self.policy.respond(Situation(
            item=item, intent=seller.intent, round=counter.round, our_last=our_last,
            their_price=counter.price.amount, max_rounds=seller.max_rounds,
        ))
        if isinstance(decision, CounterWith):
            price = Money(amount=decision.price, currency=self.catalog.currency)
            return seller.counter(price=price, now=self.now())
        return seller.reject(reason=decision.reason[:280], now=self.now())

    def _record(self, n: Negotiation, raw: bytes, direction: str, kind: str) -> None:
        self.store.record_envelope(raw, digest=digest(raw), type=kind, direction=direction,
                                   at=self.now(), intent_id=n.intent.id,
                                   counterparty=n.intent_signer)

    def _save(self, ref: str, n: Negotiation, item: Item, *, state: str | None = None,
              note: str = "") -> None:
        price = n.current_price
        assert price is not None  # saved only once our offer is on the table
        self.store.save_negotiation(StoredNegotiation(
            ref=ref, intent_id=n.intent.id, counterparty=n.intent_signer,
            state=state or n.state.value, sku=item.sku, title=item.title,
            price_minor=price.amount, currency=price.currency, note=note,
            updated_at=self.now(),
        ))


def _kind(raw: bytes) -> str:
    return envelope.read_stored(raw).type
