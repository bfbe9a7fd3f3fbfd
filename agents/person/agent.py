"""The person's agent: posts intents, hears offers, counters, accepts, keeps the record.

It owns the person's store and master key and talks to the network through a
`Network` (the libp2p node in production). Each vendor that answers an intent
opens one negotiation stream; a `Session` holds that stream and the buyer's
state machine for as long as the negotiation is open. The API and the CLI call
the methods below; everything that binds the person is written to the store
(with an audit entry) before the counterparty is told.

Offers whose data requests conflict with the person's terms are refused at
once, telling the vendor the clause: the person never has to read them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import trio

from intentcast.agents.conversation.channel import Channel
from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.person.data import PersonData
from intentcast.agents.person.desk import Desk
from intentcast.agents.person.requests import IntentRequest
from intentcast.agents.store import audit
from intentcast.agents.store.db import Store, StoredAgreement, StoredIntent, StoredNegotiation
from intentcast.protocol import cose, envelope
from intentcast.protocol.envelope import Verified
from intentcast.protocol.errors import IntentcastError, LocalProtocolError
from intentcast.protocol.identity import KeyPair, MasterKey
from intentcast.protocol.messages import (
    Agreement,
    Constraints,
    Intent,
    Location,
    Money,
    Offer,
    ReplyTo,
    digest,
    new_id,
)
from intentcast.protocol.negotiation import Negotiation, Role, State
from intentcast.protocol.terms import check

log = logging.getLogger("intentcast.person")

STEP_TIMEOUT = 30.0
"""Seconds to wait for a vendor's machine answer (a counter, an agreement)."""


class Network(Protocol):
    peer_id: str

    def multiaddrs(self) -> list[str]: ...
    async def publish_intent(self, data: bytes) -> None: ...


@dataclass
class Session:
    ref: str
    negotiation: Negotiation
    channel: Channel
    changed: trio.Event = field(default_factory=trio.Event)
    failure: str = ""
    first: Verified | None = None
    """The offer that opened the negotiation, verified."""

    def notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


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
        self.clock = clock
        self.step_timeout = step_timeout
        self.sessions: dict[str, Session] = {}
        self._offers_changed = trio.Event()

    def now(self) -> int:
        return int(self.clock())

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
            raise AgentError(Kind.INVALID, f"the intent is not valid: {_first_line(exc)}") from exc
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
            await self.network.publish_intent(raw)
        return stored

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
                await self._send(session, n.withdraw(reason=reason, now=self.now()))

    # -- offers -------------------------------------------------------------------------

    def offers(self, intent_id: str) -> list[StoredNegotiation]:
        self.intent(intent_id)
        return self.store.negotiations(intent_id)

    async def wait_for_offers(self, intent_id: str, count: int) -> list[StoredNegotiation]:
        """Return once `count` offers are in (callers bound the wait with a cancel scope)."""
        while len(self.offers(intent_id)) < count:
            await self._offers_changed.wait()
        return self.offers(intent_id)

    def _session(self, ref: str) -> Session:
        session = self.sessions.get(ref)
        if session is None:
            stored = self.store.negotiation(ref)
            if stored is None:
                raise AgentError(Kind.NOT_FOUND, f"no offer {ref}")
            why = f" ({stored.note})" if stored.note else ""
            raise AgentError(Kind.CONFLICT,
                             f"offer {ref} is {stored.state}{why}; nothing more can be done")
        if not session.negotiation.is_open:
            raise AgentError(Kind.CONFLICT, f"offer {ref} is {session.negotiation.state.value}")
        return session

    async def counter(self, ref: str, price: int, note: str | None = None) -> StoredNegotiation:
        session = self._session(ref)
        n = session.negotiation
        if n.state is not State.BUYER_TURN:
            raise AgentError(Kind.CONFLICT,
                             f"offer {ref} is waiting for the vendor ({n.state.value})")
        currency = n.on_table.price.currency if n.on_table else "EUR"
        chain = await self._delegation(n)
        raw = self._act(lambda: n.counter(price=Money(amount=price, currency=currency),
                                          now=self.now(), note=note, delegation=chain))
        await self._send(session, raw)
        await self._await_change(session, lambda: n.state is not State.SELLER_TURN)
        return self._stored(ref)

    async def accept(self, ref: str) -> StoredAgreement:
        session = self._session(ref)
        n = session.negotiation
        chain = await self._delegation(n)
        raw = self._act(lambda: n.accept(now=self.now(), delegation=chain))
        with self.store.transaction() as db:
            audit.append(db, at=self.now(), kind="offer_accepted", data={
                "ref": ref, "intent_id": n.intent.id, "vendor": n.counterparty or "",
                "price": n.on_table.price.model_dump() if n.on_table else {},
            })
        await self._send(session, raw)
        await self._await_change(session, lambda: not n.is_open)
        if n.state is not State.AGREED:
            raise AgentError(Kind.PEER_FAILED,
                             f"the vendor did not sign: {session.failure or n.state.value}")
        agreement = next(a for a in self.store.agreements() if a.intent_id == n.intent.id
                         and a.vendor == n.counterparty)
        return agreement

    async def redeem(self, ref: str) -> int:
        """Present a loyalty credit from this offer's vendor; the value it takes off."""
        session = self._session(ref)
        n = session.negotiation
        if self.data is None or n.offer_digest is None or n.counterparty is None:
            raise AgentError(Kind.CONFLICT, "this agent cannot present credits")
        if n.state is not State.BUYER_TURN:
            raise AgentError(Kind.CONFLICT,
                             f"offer {ref} is waiting for the vendor ({n.state.value})")
        credit = await self.data.redeem(ref, n.counterparty, session.channel.remote_peer_id,
                                        n.intent.id, n.offer_digest)
        return credit.value

    async def reject(self, ref: str, reason: str) -> StoredNegotiation:
        session = self._session(ref)
        chain = await self._delegation(session.negotiation)
        raw = self._act(lambda: session.negotiation.reject(reason=reason, now=self.now(),
                                                           delegation=chain))
        await self._send(session, raw)
        return self._stored(ref)

    # -- what an assistant's agent changes (agents/assistant/agent.py) ---------------------

    def _buyer_key(self, stored: StoredIntent) -> KeyPair:
        """The key that negotiates for this intent: the person's, made for it alone."""
        if self.master is None:
            raise AgentError(Kind.CONFLICT, "this agent holds no master key")
        return self.master.intent_key(stored.nonce)

    async def _delegation(self, n: Negotiation) -> list[bytes] | None:
        """The chain a move carries: none when the person acts with the intent's key."""
        return None

    async def _sent(self, session: Session, raw: bytes) -> None:
        """Called after each envelope we sent on a negotiation."""

    async def _received(self, session: Session, verified: Verified) -> None:
        """Called after each counterparty envelope the negotiation accepted."""

    def _act(self, step: Callable[[], bytes]) -> bytes:
        try:
            return step()
        except LocalProtocolError as exc:
            raise AgentError(Kind.CONFLICT, exc.message, reason=exc.reason.value) from exc
        except ValueError as exc:
            raise AgentError(Kind.INVALID, _first_line(exc), reason="bad_schema") from exc

    async def _await_change(self, session: Session, done: Callable[[], bool]) -> None:
        with trio.move_on_after(self.step_timeout):
            while not done():
                await session.changed.wait()
        if not done():
            session.failure = "the vendor did not answer in time"

    # -- the negotiation stream -----------------------------------------------------------

    async def handle_channel(self, channel: Channel) -> None:
        """Serve one vendor's negotiation stream until the negotiation ends."""
        try:
            await self._serve(channel)
        finally:
            await channel.close()

    async def _serve(self, channel: Channel) -> None:
        first = None
        with trio.move_on_after(self.step_timeout):
            first = await channel.receive()
        if first is None:
            return
        session = self._open_session(first, channel)
        if session is None:
            return
        self.sessions[session.ref] = session
        try:
            await self._refuse_conflicts(session)
            if session.first is not None:
                await self._received(session, session.first)
            n = session.negotiation
            while n.is_open:
                data = None
                with trio.move_on_after(max(1.0, n.deadline - self.now())) as waiting:
                    data = await channel.receive()
                if data is None:
                    session.failure = (
                        "the negotiation timed out" if waiting.cancelled_caught
                        else "the vendor closed the stream"
                    )
                    n.expire(now=max(self.now(), n.deadline))
                    break
                try:
                    verified = n.receive(data, now=self.now())
                except IntentcastError as exc:
                    log.info("offer %s: refused a message: %s", session.ref, exc)
                    continue
                self._record(n, data, "in", verified.message.type)
                if n.state is State.SELLER_SIGNED:
                    await self._countersign(session)
                self._save(session)
                await self._received(session, verified)
        finally:
            self.sessions.pop(session.ref, None)
            still_open = session.negotiation.is_open
            self._save(session, state="withdrawn" if still_open else None,
                       note=session.failure or None)

    def _open_session(self, first: bytes, channel: Channel) -> Session | None:
        now = self.now()
        try:
            verified = envelope.open(first, now=now)
        except IntentcastError as exc:
            log.info("dropped a first frame from %s: %s", channel.remote_peer_id, exc)
            return None
        offer = verified.message
        if not isinstance(offer, Offer):
            return None
        stored = self.store.intent(offer.intent_id)
        if stored is None or stored.state != "open" or now >= stored.expires_at:
            return None
        n = Negotiation(Role.BUYER, self._buyer_key(stored), stored.raw, now=now)
        try:
            first_verified = n.receive(first, now=now)
        except IntentcastError as exc:
            log.info("refused an offer for %s: %s", offer.intent_id, exc)
            return None
        session = Session(ref=digest(first)[:6].hex(), negotiation=n, channel=channel,
                          first=first_verified)
        self._record(n, first, "in", "offer")
        self._save(session)
        self._offers_changed.set()
        self._offers_changed = trio.Event()
        return session

    async def _refuse_conflicts(self, session: Session) -> None:
        n = session.negotiation
        assert n.first_offer is not None
        conflicts = check(n.intent.terms, n.first_offer.terms)
        if conflicts:
            detail = "; ".join(f"{c.clause}: {c.detail}" for c in conflicts)
            await self._send(session, n.reject(reason=detail[:280], now=self.now()))
            self._save(session, note=detail)

    async def _countersign(self, session: Session) -> None:
        n = session.negotiation
        raw = n.countersign(now=self.now())
        verified = envelope.open(raw, now=self.now())
        agreement = verified.message
        assert isinstance(agreement, Agreement)
        self.store.save_agreement(
            StoredAgreement(agreement.id, agreement.intent_id, agreement.buyer, agreement.vendor,
                            agreement.price.amount, agreement.price.currency, raw, self.now()),
            audit_data={"agreement_id": agreement.id, "vendor": agreement.vendor,
                        "terms_hash": agreement.terms_hash.hex(), "sku": agreement.sku,
                        "price": agreement.price.model_dump()},
        )
        self.store.set_intent_state(agreement.intent_id, "agreed")
        self._record(n, raw, "out", "agreement")
        await self._send(session, raw, record=False)
        if self.data is not None:
            self.data.settle(session.ref)
            try:
                await self.data.after_agreement(raw, session.channel.remote_peer_id)
            except Exception as exc:  # the deal stands; the disclosure can be retried
                log.warning("disclosure for %s failed: %s", agreement.id, exc)

    async def _send(self, session: Session, raw: bytes, *, record: bool = True) -> None:
        if record:
            kind = envelope.parse_message(_payload(raw)).type
            self._record(session.negotiation, raw, "out", kind)
        self._save(session)
        try:
            await session.channel.send(raw)
        except Exception as exc:  # a vanished peer: the negotiation cannot go on
            session.failure = f"the vendor is unreachable ({type(exc).__name__})"
            log.info("offer %s: send failed: %s", session.ref, exc)
        else:
            await self._sent(session, raw)
        session.notify()

    def _record(self, n: Negotiation, raw: bytes, direction: str, kind: str) -> None:
        self.store.record_envelope(raw, digest=digest(raw), type=kind, direction=direction,
                                   at=self.now(), intent_id=n.intent.id,
                                   counterparty=n.counterparty)

    def _save(self, session: Session, *, state: str | None = None, note: str | None = None
              ) -> None:
        n = session.negotiation
        table = n.on_table or n.first_offer
        assert n.first_offer is not None
        assert table is not None
        previous = self.store.negotiation(session.ref)
        self.store.save_negotiation(StoredNegotiation(
            ref=session.ref, intent_id=n.intent.id, counterparty=n.counterparty or "",
            state=state or n.state.value, sku=n.first_offer.sku, title=n.first_offer.title,
            price_minor=(n.accepted.price if n.accepted else table.price).amount,
            currency=table.price.currency,
            note=note if note is not None else (previous.note if previous else ""),
            updated_at=self.now(),
        ))
        session.notify()

    def _stored(self, ref: str) -> StoredNegotiation:
        stored = self.store.negotiation(ref)
        assert stored is not None
        return stored


def _payload(raw: bytes) -> bytes:
    return cose.parse(raw).payload


def _first_line(exc: Exception) -> str:
    if hasattr(exc, "errors"):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}" if where else str(err["msg"])
    return str(exc).splitlines()[0]
