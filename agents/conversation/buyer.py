"""The buyer's side of negotiations, written once: the person's agent and an assistant's use it.

Each vendor that answers an intent opens one negotiation stream; a `Session`
holds that stream and the buyer's state machine for as long as the negotiation
is open. `Buyer` runs the receive/expire/refuse loop, makes the moves the
person (or an assistant) asks for, countersigns and keeps the agreement, and
writes everything that binds the buyer to the store before the vendor is told.
A countersigned agreement is pending until the vendor's ack says it is on the
vendor's disk too (spec §7.1); `redeliver_forever` hands it over again, with
backoff, until one comes.
What differs between the person and an assistant (which key signs, which chain
a move carries, who is told of each envelope, what follows an agreement) is
the `BuyerSide` it is given: composition, not subclassing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import trio

from intentcast.agents.conversation.channel import Channel
from intentcast.agents.conversation.control import ControlError, exchange, pack
from intentcast.agents.conversation.data_wire import Acked, Deliver, read_data_answer
from intentcast.agents.conversation.driver import Conversation, first_frame, unix_clock
from intentcast.agents.conversation.limits import PeerSlots
from intentcast.agents.errors import AgentError, Kind, first_line
from intentcast.agents.store import audit, deliveries, seen
from intentcast.agents.store.db import Store, StoredAgreement, StoredIntent, StoredNegotiation
from intentcast.protocol import (
    Agreement,
    IntentcastError,
    KeyPair,
    LocalProtocolError,
    Money,
    Negotiation,
    Offer,
    Role,
    State,
    Verified,
    check_ack,
    digest,
    envelope,
)

log = logging.getLogger("intentcast.buyer")

STEP_TIMEOUT = 30.0
"""Seconds to wait for a vendor's machine answer (a counter, an agreement, an ack)."""
STREAMS_PER_VENDOR = 32
"""Negotiation streams one vendor peer may hold open with us at once (a stream waiting for
its first frame included)."""
STREAMS = 1024
"""Negotiation streams all vendors together may hold open with us."""
MAX_REFUSED_FRAMES = 3
"""Frames a vendor may send that do not fit the negotiation before the buyer hangs up."""
COUNTERSIGNED = "countersigned"
"""A negotiation's state, as the buyer stores it, from its countersignature to the vendor's
ack: both signed, the vendor's storing not yet confirmed. Then `agreed`, or `void`."""


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


class BuyerSide(Protocol):
    """What the person's agent and an assistant's agent each decide for their `Buyer`."""

    refuses_conflicts: bool
    """Refuse at once an offer whose data terms break the person's (the person does;
    an assistant leaves it to its handlers)."""

    def buyer_key(self, stored: StoredIntent) -> KeyPair:
        """The key that negotiates for this intent."""

    async def delegation(self, n: Negotiation) -> list[bytes] | None:
        """The chain a move carries (None when the intent's own key acts)."""

    async def sent(self, session: Session, raw: bytes) -> None:
        """Called after each envelope we sent on a negotiation."""

    async def received(self, session: Session, verified: Verified) -> None:
        """Called after each counterparty envelope the negotiation accepted."""

    async def settled(self, ref: str, raw: bytes, peer_id: str, *, agreed: bool) -> None:
        """Called once the vendor answered the countersigned agreement: it stored it
        (`agreed`), or refused it (the agreement is void)."""

    def peer_addrs(self, peer_id: str) -> list[str]:
        """Where a peer we talked to can be reached again (for redelivery)."""

    async def open_data(self, peer_id: str, addrs: list[str]) -> Channel:
        """A `/intentcast/data/1` stream to a vendor."""


class Buyer:
    def __init__(self, store: Store, side: BuyerSide, *,
                 clock: Callable[[], float] = time.time,
                 step_timeout: float = STEP_TIMEOUT) -> None:
        self.store = store
        self.side = side
        self.now = unix_clock(clock)
        self.step_timeout = step_timeout
        self.sessions: dict[str, Session] = {}
        self.offers_changed = trio.Event()
        """Set (and replaced) whenever a new offer opens a negotiation."""
        self.slots = PeerSlots(per_peer=STREAMS_PER_VENDOR, total=STREAMS)
        self._settled: dict[str, Session] = {}
        """Sessions whose accept() waits for the vendor's ack, by agreement id."""
        self._deliveries_changed = trio.Event()

    def session(self, ref: str) -> Session:
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
        session = self.session(ref)
        n = session.negotiation
        if n.state is not State.BUYER_TURN:
            raise AgentError(Kind.CONFLICT,
                             f"offer {ref} is waiting for the vendor ({n.state.value})")
        currency = n.current_price.currency if n.current_price else "EUR"
        chain = await self.side.delegation(n)
        raw = self._act(lambda: n.counter(price=Money(amount=price, currency=currency),
                                          now=self.now(), note=note, delegation=chain))
        await self.send(session, raw)
        await self._await_change(session, lambda: n.state is not State.SELLER_TURN)
        return self._stored(ref)

    async def accept(self, ref: str) -> StoredAgreement:
        """Accept, then return once the vendor acknowledged storing the agreement (state
        `agreed`) or the step timeout passed with its ack still owed (state `pending`:
        the agreement is redelivered until the vendor answers)."""
        session = self.session(ref)
        n = session.negotiation
        chain = await self.side.delegation(n)
        raw = self._act(lambda: n.accept(now=self.now(), delegation=chain))
        with self.store.transaction() as db:
            audit.append(db, at=self.now(), kind="offer_accepted", data={
                "ref": ref, "intent_id": n.intent.id, "vendor": n.counterparty or "",
                "price": n.current_price.model_dump() if n.current_price else {},
            })
        await self.send(session, raw)
        await self._await_change(session, lambda: not n.is_open)
        if n.state is not State.AGREED:
            raise AgentError(Kind.PEER_FAILED,
                             f"the vendor did not sign: {session.failure or n.state.value}")
        agreement_id = envelope.read_stored(n.agreement or b"").id
        await self._await_change(session, lambda: self._settled_state(agreement_id) != "pending")
        stored = self.store.agreement(agreement_id)
        assert stored is not None
        if stored.state == "void":
            raise AgentError(Kind.PEER_FAILED, f"the vendor refused the countersignature: "
                             f"{self._refusal(stored)}")
        return stored

    def _settled_state(self, agreement_id: str) -> str:
        stored = self.store.agreement(agreement_id)
        return stored.state if stored is not None else "pending"

    @staticmethod
    def _refusal(stored: StoredAgreement) -> str:
        if stored.ack is None:
            return "no reason given"
        ack = envelope.read_stored(stored.ack)
        return getattr(ack, "reason", None) or "no reason given"

    async def reject(self, ref: str, reason: str) -> StoredNegotiation:
        session = self.session(ref)
        chain = await self.side.delegation(session.negotiation)
        raw = self._act(lambda: session.negotiation.reject(reason=reason, now=self.now(),
                                                           delegation=chain))
        await self.send(session, raw)
        return self._stored(ref)

    def _act(self, step: Callable[[], bytes]) -> bytes:
        try:
            return step()
        except LocalProtocolError as exc:
            raise AgentError(Kind.CONFLICT, exc.message, reason=exc.reason.value) from exc
        except ValueError as exc:
            raise AgentError(Kind.INVALID, first_line(exc), reason="bad_schema") from exc

    async def _await_change(self, session: Session, done: Callable[[], bool]) -> None:
        with trio.move_on_after(self.step_timeout):
            while not done():
                await session.changed.wait()
        if not done():
            session.failure = "the vendor did not answer in time"

    # -- the negotiation stream -----------------------------------------------------------

    async def handle_channel(self, channel: Channel) -> None:
        """Serve one vendor's negotiation stream until the negotiation ends."""
        with self.slots.slot(channel.remote_peer_id) as granted:
            if not granted:  # this vendor holds its share of streams already
                await channel.reset()
                return
            try:
                await self._serve(channel)
            finally:
                await channel.close()

    async def _serve(self, channel: Channel) -> None:
        first = await first_frame(channel, self.step_timeout)
        if first is None:
            return
        session = self._open_session(first, channel)
        if session is None:
            return
        self.sessions[session.ref] = session
        try:
            if self.side.refuses_conflicts:
                await self._refuse_conflicts(session)
            if session.first is not None:
                await self.side.received(session, session.first)
            n = session.negotiation

            async def refused(exc: IntentcastError) -> bool:
                log.info("offer %s: refused a message: %s", session.ref, exc)
                return False  # a vendor's bad frame is dropped; the negotiation goes on

            talk = Conversation(channel, n, self.now, on_refused=refused,
                                max_refused=MAX_REFUSED_FRAMES)
            while (move := await talk.next_move()) is not None:
                data, verified = move
                self._record(n, data, "in", verified.message.type)
                if n.state is State.SELLER_SIGNED:
                    await self._countersign(session)
                self._save(session)
                await self.side.received(session, verified)
            if talk.timed_out:
                session.failure = "the negotiation timed out"
            elif talk.peer_closed:
                session.failure = "the vendor closed the stream"
            elif talk.misbehaved:
                session.failure = "the vendor kept sending frames that do not fit; hung up"
                await channel.reset()
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
        n = Negotiation(Role.BUYER, self.side.buyer_key(stored), stored.raw, now=now)
        try:
            first_verified = n.receive(first, now=now)
        except IntentcastError as exc:
            log.info("refused an offer for %s: %s", offer.intent_id, exc)
            return None
        if not seen.first_time(self.store, first_verified, now=now):
            # An offer that opened a negotiation before (this run or an earlier one): a replay.
            log.info("refused a replayed offer for %s", offer.intent_id)
            return None
        session = Session(ref=digest(first)[:6].hex(), negotiation=n, channel=channel,
                          first=first_verified)
        self._record(n, first, "in", "offer")
        self._save(session)
        self.offers_changed.set()
        self.offers_changed = trio.Event()
        return session

    async def _refuse_conflicts(self, session: Session) -> None:
        n = session.negotiation
        if n.conflicts:
            detail = "; ".join(f"{c.clause}: {c.detail}" for c in n.conflicts)
            await self.send(session, n.reject(reason=detail[:280], now=self.now()))
            self._save(session, note=detail)

    async def _countersign(self, session: Session) -> None:
        """Countersign, keep it as pending with its delivery planned (one transaction),
        send it, then wait on the stream for the vendor's ack."""
        n = session.negotiation
        raw = n.countersign(now=self.now())
        agreement = envelope.read_stored(raw)
        assert isinstance(agreement, Agreement)
        peer = session.channel.remote_peer_id
        deliveries.start(
            self.store, StoredAgreement(agreement.id, agreement.intent_id, agreement.buyer,
                                        agreement.vendor, agreement.price.amount,
                                        agreement.price.currency, raw, self.now(), "pending"),
            ref=session.ref, peer_id=peer, addrs=self.side.peer_addrs(peer),
            countersign_by=agreement.countersign_by,
            audit_data={"agreement_id": agreement.id, "vendor": agreement.vendor,
                        "terms_hash": agreement.terms_hash.hex(), "sku": agreement.sku,
                        "price": agreement.price.model_dump()})
        self._record(n, raw, "out", "agreement")
        self._settled[agreement.id] = session
        await self.send(session, raw, record=False, state=COUNTERSIGNED)
        answer = await first_frame(session.channel, self.step_timeout)
        if answer is None:
            self._deliveries_changed.set()  # redelivery takes it from here
            return
        try:
            await self.settle(agreement.id, answer)
        except IntentcastError as exc:
            log.info("offer %s: not an ack: %s", session.ref, exc)

    async def settle(self, agreement_id: str, ack_raw: bytes) -> None:
        """Take the vendor's ack of a pending agreement: agreed (then what follows an
        agreement, e.g. disclosure), or void. An ack for something settled is ignored."""
        delivery = deliveries.get(self.store, agreement_id)
        if delivery is None or delivery.state != "pending":
            return
        agreement = envelope.read_stored(delivery.raw)
        assert isinstance(agreement, Agreement)
        verified = envelope.open(ack_raw, now=self.now())
        ack = check_ack(verified, about=delivery.raw, signer=agreement.vendor)
        stored = ack.outcome == "stored"
        if not deliveries.settle(self.store, delivery, stored=stored, ack=verified.raw,
                                 now=self.now(), reason=ack.reason, intent_id=agreement.intent_id):
            return
        self.store.record_envelope(verified.raw, digest=verified.digest, type="ack",
                                   direction="in", at=self.now(), intent_id=agreement.intent_id,
                                   counterparty=agreement.vendor)
        session = self._settled.pop(agreement_id, None)
        if session is not None:
            session.notify()
        await self.side.settled(delivery.ref, delivery.raw, delivery.peer_id, agreed=stored)

    async def redeliver_forever(self) -> None:
        """Hand every pending countersigned agreement to its vendor again, with backoff,
        until the vendor acknowledges it (spec §7.1, step 4)."""
        while True:
            now = self.now()
            waiting = deliveries.pending(self.store)
            for delivery in (d for d in waiting if d.next_at <= now):
                await self._redeliver(delivery)
            later = [d.next_at for d in deliveries.pending(self.store)]
            self._deliveries_changed = trio.Event()
            with trio.move_on_after(max(1, min(later) - self.now()) if later else 3600):
                await self._deliveries_changed.wait()

    async def _redeliver(self, delivery: deliveries.Delivery) -> None:
        try:
            with trio.fail_after(self.step_timeout):
                stream = await self.side.open_data(delivery.peer_id, delivery.addrs)
                answer = read_data_answer(await exchange(
                    stream, pack(Deliver(envelope=delivery.raw)), peer="the vendor"))
            if not isinstance(answer, Acked):
                raise ControlError(f"the vendor answered {answer.op}: "
                                   f"{getattr(answer, 'error', '')}")
            await self.settle(delivery.agreement_id, answer.ack)
        except (ControlError, IntentcastError, OSError, trio.TooSlowError) as exc:
            log.info("agreement %s: delivery failed (%s); retrying later",
                     delivery.agreement_id, exc)
            deliveries.retry_later(self.store, delivery, now=self.now())
        except Exception as exc:  # the transport's own failures: the vendor is away
            log.info("agreement %s: vendor unreachable (%s: %s); retrying later",
                     delivery.agreement_id, type(exc).__name__, exc)
            deliveries.retry_later(self.store, delivery, now=self.now())

    async def send(self, session: Session, raw: bytes, *, record: bool = True,
                   state: str | None = None) -> None:
        """Record, save and send one of our envelopes on a negotiation."""
        if record:
            kind = envelope.read_stored(raw).type
            self._record(session.negotiation, raw, "out", kind)
        self._save(session, state=state)
        try:
            await session.channel.send(raw)
        except Exception as exc:  # a vanished peer: the negotiation cannot go on
            session.failure = f"the vendor is unreachable ({type(exc).__name__})"
            log.info("offer %s: send failed: %s", session.ref, exc)
        else:
            await self.side.sent(session, raw)
        session.notify()

    def _record(self, n: Negotiation, raw: bytes, direction: str, kind: str) -> None:
        self.store.record_envelope(raw, digest=digest(raw), type=kind, direction=direction,
                                   at=self.now(), intent_id=n.intent.id,
                                   counterparty=n.counterparty)

    def _save(self, session: Session, *, state: str | None = None, note: str | None = None
              ) -> None:
        n = session.negotiation
        price = n.current_price
        assert n.first_offer is not None  # a session opens with an offer
        assert price is not None
        previous = self.store.negotiation(session.ref)
        if state is None and n.state is State.AGREED and n.agreement is not None:
            # Both signed: agreed only once the vendor's ack says it stored it too.
            found = self.store.agreement(envelope.read_stored(n.agreement).id)
            state = {"pending": COUNTERSIGNED, "void": "void"}.get(
                found.state if found else "pending", State.AGREED.value)
        self.store.save_negotiation(StoredNegotiation(
            ref=session.ref, intent_id=n.intent.id, counterparty=n.counterparty or "",
            state=state or n.state.value, sku=n.first_offer.sku, title=n.first_offer.title,
            price_minor=price.amount, currency=price.currency,
            note=note if note is not None else (previous.note if previous else ""),
            updated_at=self.now(),
        ))
        session.notify()

    def _stored(self, ref: str) -> StoredNegotiation:
        stored = self.store.negotiation(ref)
        assert stored is not None
        return stored
