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

import logging
import time
from collections.abc import Callable
from typing import Protocol

import trio

from intentcast.agents.conversation.channel import Channel
from intentcast.agents.conversation.driver import Conversation, unix_clock
from intentcast.agents.store import credits, holds
from intentcast.agents.store.db import Store, StoredNegotiation
from intentcast.agents.vendor.catalog import Catalog, Item
from intentcast.agents.vendor.closing import Closing
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

MAX_CONCURRENT_NEGOTIATIONS = 64
CONNECT_TIMEOUT = 10.0


class VendorNetwork(Protocol):
    async def open_negotiation(self, peer_id: str, addrs: list[str]) -> Channel: ...


class VendorAgent:
    def __init__(
        self, store: Store, key: KeyPair, catalog: Catalog, policy: PricingPolicy,
        network: VendorNetwork, *, clock: Callable[[], float] = time.time,
        on_refused: Callable[[dict[str, str]], None] = lambda _: None,
        closing: Closing | None = None,
    ) -> None:
        self.store = store
        self.closing = closing or Closing(store, key, clock=clock)
        self.open: dict[bytes, str] = {}
        """Offer digest -> ref, for negotiations still open: where a credit may apply."""
        self.revocations = Revocations()
        """Delegation revocations heard on the network; checked on every assistant move."""
        self.on_refused = on_refused
        self.key = key
        self.catalog = catalog
        self.policy = policy
        self.network = network
        self.now = unix_clock(clock)
        self.limiter = trio.CapacityLimiter(MAX_CONCURRENT_NEGOTIATIONS)
        self.stats: dict[str, int] = {"intents": 0, "offers": 0, "agreements": 0, "skipped": 0}
        for item in catalog.items:
            store.init_stock(item.sku, item.stock)

    def offer_open(self, offer_digest: bytes) -> str | None:
        return self.open.get(offer_digest)

    def learn_revocation(self, verified: Verified) -> bool:
        """Keep a revocation of a delegation heard on the network; True if it was one."""
        message = verified.message
        if not isinstance(message, Revocation) or message.target_type != "delegation":
            return False
        self.revocations.add(verified)
        return True

    def choose(self, intent: Intent) -> tuple[Item, int] | None:
        """The item to offer and its opening price, or None when we have nothing to say."""
        for item in self.catalog.matches(intent):
            if self.store.stock(item.sku) < intent.constraints.quantity:
                continue
            price = self.policy.opening(item, intent)
            if price is not None:
                return item, price
        return None

    async def on_intent(self, verified: Verified) -> None:
        """Answer one intent the node delivered (already verified by its topic validator)."""
        intent = verified.message
        if not isinstance(intent, Intent):
            return
        self.stats["intents"] += 1
        self.store.record_envelope(verified.raw, digest=verified.digest, type="intent",
                                   direction="in", at=self.now(), intent_id=intent.id,
                                   counterparty=verified.signer)
        choice = self.choose(intent)
        if choice is None:
            self.stats["skipped"] += 1
            return
        async with self.limiter:
            try:
                await self._negotiate(verified.raw, intent, *choice)
            except Exception:  # one buyer's failure must not take the responder down
                log.exception("negotiation about %s failed", intent.id)

    async def _negotiate(self, intent_raw: bytes, intent: Intent, item: Item, price: int
                         ) -> None:
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
        with trio.move_on_after(CONNECT_TIMEOUT):
            channel = await self.network.open_negotiation(
                intent.reply_to.peer_id, list(intent.reply_to.addrs)
            )
        if channel is None:
            log.info("could not reach the buyer of %s", intent.id)
            return
        self.open[digest(offer)] = ref
        try:
            self._record(seller, offer, "out", "offer")
            self._save(ref, seller, item)
            await channel.send(offer)
            self.stats["offers"] += 1
            await self._converse(ref, seller, item, channel)
        finally:
            self.open.pop(digest(offer), None)
            self._settle_credit(ref, agreed=seller.state is State.AGREED)
            self._end(ref, seller, item)
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
                        ) -> None:
        """Run the negotiation to its end."""

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

        talk = Conversation(channel, seller, self.now, on_refused=refused)
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
