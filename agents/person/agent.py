"""The person's agent: posts intents, hears offers, counters, accepts, keeps the record.

It owns the person's store and master key and talks to the network through a
`Network` (the libp2p node in production). The negotiations themselves run on
the shared buyer driver (agents/conversation/buyer.py), to which this agent is
the `BuyerSide`: the intent's own key signs, no chain, and an agreement is
followed by the disclosures it allows. The API and the CLI call the methods
below; everything that binds the person is written to the store (with an
audit entry) before the counterparty is told.

Offers whose data requests conflict with the person's terms are refused at
once, telling the vendor the clause: the person never has to read them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Protocol

import trio

from intentcast.agents.conversation.buyer import STEP_TIMEOUT, Buyer, Session
from intentcast.agents.conversation.channel import Channel
from intentcast.agents.conversation.driver import unix_clock
from intentcast.agents.errors import AgentError, Kind, first_line
from intentcast.agents.person.data import PersonData
from intentcast.agents.person.desk import Desk
from intentcast.agents.person.events import EventLog
from intentcast.agents.person.requests import IntentRequest
from intentcast.agents.store.db import Store, StoredAgreement, StoredIntent, StoredNegotiation
from intentcast.protocol import (
    Constraints,
    Counter,
    Intent,
    KeyPair,
    Location,
    MasterKey,
    Money,
    Negotiation,
    Offer,
    Reject,
    ReplyTo,
    State,
    Verified,
    Withdraw,
    digest,
    envelope,
    new_id,
)

log = logging.getLogger("intentcast.person")


class Network(Protocol):
    peer_id: str

    def multiaddrs(self) -> list[str]: ...
    async def publish_intent(self, data: bytes) -> int: ...
    def intent_listeners(self, category: str) -> int: ...
    def peer_addrs(self, peer_id: str) -> list[str]: ...
    async def open_data(self, peer_id: str, addrs: list[str]) -> Channel: ...


class PersonAgent:
    def __init__(
        self, store: Store, master: MasterKey | None, network: Network, *,
        clock: Callable[[], float] = time.time, step_timeout: float = STEP_TIMEOUT,
        desk: Desk | None = None, data: PersonData | None = None,
    ) -> None:
        self.store = store
        self.desk = desk
        self.data = data
        self.master = master
        self.network = network
        self.now = unix_clock(clock)
        self.buyer = Buyer(store, self, clock=clock, step_timeout=step_timeout)
        self.refuses_conflicts = True
        self.sessions = self.buyer.sessions
        self.heard: dict[str, int] = {}
        """Intent id -> how many peers its last publishing reached (this run's intents)."""
        self.events = EventLog()
        """What the person's agent sees: the page, `watch` and `offers --wait` follow it."""
        store.on_audit.append(self.events.on_audit)

    # -- intents ------------------------------------------------------------------------

    async def post_intent(self, req: IntentRequest) -> StoredIntent:
        now = self.now()
        nonce = os.urandom(16)
        if self.master is None:
            raise AgentError(Kind.CONFLICT, "this agent holds no master key: it posts no intents")
        key = self.master.intent_key(nonce)
        location = None
        if req.country or req.postcode_prefix:
            location = Location(country=req.country, postcode_prefix=req.postcode_prefix)
        reply_to = ReplyTo(peer_id=self.network.peer_id, addrs=self.network.multiaddrs()[:8])
        if req.assistant is not None:
            if self.desk is None:
                raise AgentError(Kind.CONFLICT, "this agent has no assistant desk")
            reply_to = self.desk.reply_to(req.assistant, req.category)
        try:
            intent = Intent(
                id=new_id(), issued_at=now, expires_at=now + req.expires_in,
                category=req.category, description=req.description,
                constraints=Constraints(
                    max_price=None if req.max_price is None
                    else Money(amount=req.max_price, currency=req.currency),
                    quantity=req.quantity, location=location,
                ),
                disclosed=req.disclosed, terms=req.terms, reply_to=reply_to,
                assistant=req.assistant,
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise AgentError(Kind.INVALID, f"the intent is not valid: {first_line(exc)}") from exc
        raw = envelope.seal(intent, key)
        stored = StoredIntent(intent.id, nonce, intent.category, intent.description, "open",
                              now, intent.expires_at, raw)
        self.store.save_intent(stored, audit_data={
            "intent_id": intent.id, "signer": key.did, "category": intent.category,
            "disclosed": sorted(intent.disclosed), "terms": intent.terms.model_dump(),
            **({"assistant": req.assistant} if req.assistant else {}),
        })
        self.store.record_envelope(raw, digest=digest(raw), type="intent", direction="out",
                                   at=now, intent_id=intent.id)
        if req.assistant is not None and self.desk is not None:
            # The assistant publishes it from its own peer, so that nothing on the network
            # points at the person's daemon (spec §9, linkability).
            await self.desk.announce(stored, req.assistant)
        else:
            await self._publish(stored)
        return stored

    async def _publish(self, stored: StoredIntent) -> int:
        peers = await self.network.publish_intent(stored.raw)
        self.heard[stored.id] = peers
        self.events.emit("intent_heard", self.now(), intent_id=stored.id, peers=peers,
                         category=stored.category)
        return peers

    def heard_by(self, intent_id: str) -> int | None:
        """How many peers the intent reached, if this run published it (None: unknown)."""
        return self.heard.get(intent_id)

    async def republish_forever(self, every: float = 2.0) -> None:
        """Send again every open intent that reached nobody, once someone subscribes to its
        topic (issue: a person told `open` while nobody heard it has been lied to)."""
        while True:
            await trio.sleep(every)
            now = self.now()
            for intent_id, peers in list(self.heard.items()):
                stored = self.store.intent(intent_id)
                if stored is None or stored.state != "open" or now >= stored.expires_at:
                    del self.heard[intent_id]
                    continue
                if peers == 0 and self.network.intent_listeners(stored.category):
                    await self._publish(stored)

    def intent(self, intent_id: str) -> StoredIntent:
        found = self.store.intent(intent_id)
        if found is None:
            raise AgentError(Kind.NOT_FOUND, f"no intent {intent_id}")
        if found.state == "open" and self.now() >= found.expires_at:
            self.store.set_intent_state(intent_id, "expired")
            found = self.store.intent(intent_id)
            assert found is not None
        return found

    async def withdraw(self, intent_id: str, reason: str = "withdrawn by the person") -> None:
        intent = self.intent(intent_id)
        if intent.state != "open":
            raise AgentError(Kind.CONFLICT, f"intent {intent_id} is {intent.state}, not open")
        self.store.set_intent_state(intent_id, "withdrawn")
        for session in list(self.sessions.values()):
            n = session.negotiation
            if n.intent.id == intent_id and n.is_open:
                await self.buyer.send(session, n.withdraw(reason=reason, now=self.now()))

    # -- offers -------------------------------------------------------------------------

    def offers(self, intent_id: str) -> list[StoredNegotiation]:
        self.intent(intent_id)
        return self.store.negotiations(intent_id)

    async def wait_for_offers(self, intent_id: str, count: int) -> list[StoredNegotiation]:
        """Return once `count` offers are in (callers bound the wait with a cancel scope)."""
        while len(self.offers(intent_id)) < count:
            await self.buyer.offers_changed.wait()
        return self.offers(intent_id)

    async def redeem(self, ref: str) -> int:
        """Present a loyalty credit from this offer's vendor; the value it takes off."""
        session = self.buyer.session(ref)
        n = session.negotiation
        if self.data is None or n.offer_digest is None or n.counterparty is None:
            raise AgentError(Kind.CONFLICT, "this agent cannot present credits")
        if n.state is not State.BUYER_TURN:
            raise AgentError(Kind.CONFLICT,
                             f"offer {ref} is waiting for the vendor ({n.state.value})")
        credit = await self.data.redeem(ref, n.counterparty, session.channel.remote_peer_id,
                                        n.intent.id, n.offer_digest)
        return credit.value

    async def counter(self, ref: str, price: int, note: str | None = None) -> StoredNegotiation:
        return await self.buyer.counter(ref, price, note)

    async def accept(self, ref: str) -> StoredAgreement:
        """Returns once the agreement is signed by both and stored."""
        return await self.buyer.accept(ref)

    async def reject(self, ref: str, reason: str) -> StoredNegotiation:
        return await self.buyer.reject(ref, reason)

    async def handle_channel(self, channel: Channel) -> None:
        """Serve one vendor's negotiation stream until the negotiation ends."""
        await self.buyer.handle_channel(channel)

    # -- the person as the buyer's side -------------------------------------------------

    def buyer_key(self, stored: StoredIntent) -> KeyPair:
        """The key that negotiates for this intent: the person's, made for it alone."""
        if self.master is None:
            raise AgentError(Kind.CONFLICT, "this agent holds no master key")
        return self.master.intent_key(stored.nonce)

    async def delegation(self, n: Negotiation) -> list[bytes] | None:
        return None  # the person acts with the intent's own key

    async def sent(self, session: Session, raw: bytes) -> None:
        n = session.negotiation
        message = envelope.read_stored(raw)
        if isinstance(message, Reject) and n.conflicts and n.first_offer is not None:
            self.events.emit("offer_refused", self.now(), ref=session.ref,
                             intent_id=n.intent.id, vendor=n.counterparty or "",
                             title=n.first_offer.title, conflicts=[
                                 {"clause": c.clause, "field": c.field, "detail": c.detail}
                                 for c in n.conflicts])

    async def received(self, session: Session, verified: Verified) -> None:
        n, message = session.negotiation, verified.message
        base = {"ref": session.ref, "intent_id": n.intent.id, "vendor": verified.signer}
        if isinstance(message, Offer):
            if self.heard.get(n.intent.id) == 0:  # an offer came: someone heard it after all
                self.heard[n.intent.id] = 1
            self.events.emit("offer_received", self.now(), **base, sku=message.sku,
                             title=message.title, price=message.price.model_dump(),
                             terms=message.terms.model_dump(), conflicts=[
                                 {"clause": c.clause, "field": c.field, "detail": c.detail}
                                 for c in n.conflicts])
        elif isinstance(message, Counter):
            self.events.emit("counter_answered", self.now(), **base,
                             price=message.price.model_dump(), round=message.round)
        elif isinstance(message, Reject | Withdraw):
            self.events.emit("offer_ended", self.now(), **base, by="vendor",
                             how=message.type, reason=message.reason)

    async def settled(self, ref: str, raw: bytes, peer_id: str, *, agreed: bool) -> None:
        """The vendor stored the agreement: disclose what it requests, sealed to the vendor."""
        if self.data is None or not agreed:
            return
        self.data.settle(ref)
        try:
            await self.data.after_agreement(raw, peer_id)
        except Exception as exc:  # the deal stands; the disclosure can be retried
            log.warning("disclosure for %s failed: %s", envelope.read_stored(raw).id, exc)

    def peer_addrs(self, peer_id: str) -> list[str]:
        return self.network.peer_addrs(peer_id)

    async def open_data(self, peer_id: str, addrs: list[str]) -> Channel:
        return await self.network.open_data(peer_id, addrs)
