"""An assistant's own agent: negotiates for a person under their grant, runs the SDK's handlers.

It runs the same buyer driver as the person's agent (agents/conversation/buyer.py)
and is that driver's `BuyerSide` with three differences: it signs with the
assistant's key and carries a fresh link from the person's daemon on every move
(`delegation`), it files a copy of everything it sends and receives with the
person's daemon (`sent`, `received`), and it leaves every decision, even
refusing an offer whose terms conflict, to the developer's handlers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import trio

from intentcast.agents.assistant import sdk
from intentcast.agents.conversation.buyer import Buyer, Session
from intentcast.agents.conversation.channel import Channel
from intentcast.agents.conversation.control import (
    ControlError,
    Error,
    Expiring,
    IntentEvent,
    Link,
    Revoked,
    Welcome,
)
from intentcast.agents.conversation.driver import unix_clock
from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.store import audit
from intentcast.agents.store.db import Store, StoredIntent
from intentcast.protocol import (
    Counter,
    Intent,
    KeyPair,
    Negotiation,
    Offer,
    Report,
    Scope,
    State,
    Verified,
    digest,
    envelope,
    new_id,
)

log = logging.getLogger("intentcast.assistant")

REPORT_TTL = 90 * 86_400


class DeskLink(Protocol):
    """The assistant's line to the person's daemon (agents/assistant/desk_client.py)."""

    async def renew(self, intent_id: str) -> bytes: ...
    async def record(self, raw: bytes) -> None: ...


class AssistantNetwork(Protocol):
    async def publish_intent(self, data: bytes) -> int: ...
    async def connect(self, addr: str) -> bool: ...
    def peer_addrs(self, peer_id: str) -> list[str]: ...
    async def open_data(self, peer_id: str, addrs: list[str]) -> Channel: ...


class AssistantAgent:
    def __init__(self, store: Store, key: KeyPair, network: AssistantNetwork, desk: DeskLink,
                 assistant: sdk.Assistant, scope: Scope, *,
                 clock: Callable[[], float] = time.time, step_timeout: float = 30.0,
                 on_event: Callable[[dict[str, Any]], None] = lambda _: None) -> None:
        # The person's master key is not ours to hold: this agent only ever negotiates.
        self.store = store
        self.network = network
        self.now = unix_clock(clock)
        self.buyer = Buyer(store, self, clock=clock, step_timeout=step_timeout)
        self.refuses_conflicts = False
        """Conflicting offers are the handlers' call here (Offer.conflicts says where)."""
        self.sessions = self.buyer.sessions
        self.key = key
        self.desk_link = desk
        self.assistant = assistant
        self.scope = scope
        self.revoked = False
        self.on_event = on_event
        self.nursery: trio.Nursery | None = None
        self._countering: set[str] = set()
        """Offers whose counter() is waiting: their vendor's answer is its return value."""
        assistant._agent = self

    async def handle_channel(self, channel: Channel) -> None:
        """Serve one vendor's negotiation stream until the negotiation ends."""
        await self.buyer.handle_channel(channel)

    # -- the assistant as the buyer's side ------------------------------------------------

    def buyer_key(self, stored: StoredIntent) -> KeyPair:
        return self.key

    async def delegation(self, n: Negotiation) -> list[bytes] | None:
        if self.revoked:
            raise AgentError(Kind.FORBIDDEN, "the person revoked this assistant's grant",
                             reason="delegation_revoked")
        try:
            return [await self.desk_link.renew(n.intent.id)]
        except (ControlError, OSError, trio.TooSlowError) as exc:
            raise AgentError(Kind.UNAVAILABLE,
                             f"no fresh link from the person's agent: {exc}") from exc

    async def sent(self, session: Session, raw: bytes) -> None:
        await self._file(raw)

    async def settled(self, ref: str, raw: bytes, peer_id: str, *, agreed: bool) -> None:
        """File the vendor's ack with the person's daemon: the deal is agreed (or void) there
        too; the person decides about disclosure."""
        stored = self.store.agreement(envelope.read_stored(raw).id)
        if stored is not None and stored.ack is not None:
            await self._file(stored.ack)

    def peer_addrs(self, peer_id: str) -> list[str]:
        return self.network.peer_addrs(peer_id)

    async def open_data(self, peer_id: str, addrs: list[str]) -> Channel:
        return await self.network.open_data(peer_id, addrs)

    async def received(self, session: Session, verified: Verified) -> None:
        await self._file(verified.raw)
        n = session.negotiation
        if n.state is not State.BUYER_TURN:
            return
        event = "offer" if isinstance(verified.message, Offer) else (
            "counter" if isinstance(verified.message, Counter)
            and session.ref not in self._countering else None)
        if event is not None:
            self.dispatch(event, self._offer(session))

    # -- events from the person's daemon --------------------------------------------------

    async def on_desk(self, event: Any) -> None:
        if isinstance(event, Welcome):
            for addr in event.peers:  # the market the person's daemon sees, to publish into
                await self.network.connect(addr)
            for assigned in event.intents:
                await self._take(assigned.intent)
        elif isinstance(event, IntentEvent):
            await self._take(event.intent)
        elif isinstance(event, Expiring):
            stored = self.store.intent(event.intent_id)
            if stored is not None:
                self.dispatch("expiring", _info(stored.raw))
        elif isinstance(event, Revoked):
            self.revoked = True
            self.on_event({"event": "revoked", "grant_id": event.grant_id})
        elif isinstance(event, Error | Link):
            log.info("unexpected frame on the event stream: %s", event)

    async def _take(self, raw: bytes) -> None:
        verified = envelope.open(raw, now=self.now())
        intent = verified.message
        if not isinstance(intent, Intent) or intent.assistant != self.key.did:
            return
        if self.store.intent(intent.id) is not None:
            return  # a reconnect hands over open intents again: they are in hand already
        self.store.save_intent(
            StoredIntent(intent.id, b"", intent.category, intent.description, "open",
                         self.now(), intent.expires_at, raw),
            audit_data={"intent_id": intent.id, "for": verified.signer})
        # We publish it, not the person's daemon: vendors see only this assistant's peer,
        # as the gossip origin and as reply_to, never the person's (spec §9).
        await self.network.publish_intent(raw)
        self.on_event({"event": "intent", "id": intent.id})
        self.dispatch("intent", _info(raw))

    # -- running handlers -----------------------------------------------------------------

    def dispatch(self, event: str, argument: Any) -> None:
        if self.nursery is None:
            raise RuntimeError("dispatch before the assistant started")
        self.nursery.start_soon(self._run_handler, event, argument)

    async def _run_handler(self, event: str, argument: Any) -> None:
        handler = self.assistant.handler(event)  # type: ignore[arg-type]
        intent_id = argument.id if isinstance(argument, sdk.IntentInfo) else argument.intent.id
        problem = ""
        with trio.move_on_after(self.assistant.handler_timeout) as scope:
            try:
                await handler(argument)
            except sdk.Refused as exc:
                problem = f"on_{event} was refused: {exc}"
            except Exception as exc:  # a developer's bug must not take the assistant down
                log.exception("on_%s failed", event)
                problem = f"on_{event} failed: {type(exc).__name__}: {exc}"
        if scope.cancelled_caught:
            problem = f"on_{event} took longer than {self.assistant.handler_timeout:g} s"
        if problem:
            self.on_event({"event": "handler_error", "handler": f"on_{event}",
                           "error": problem})
            await self.report(intent_id, "error", problem[:1000], None)

    # -- what the SDK's objects call -----------------------------------------------------

    async def sdk_counter(self, offer: sdk.Offer, price: int, note: str | None) -> sdk.Offer:
        self._countering.add(offer.ref)
        try:
            await self._guard(lambda: self.buyer.counter(offer.ref, price, note))
        finally:
            self._countering.discard(offer.ref)
        return self._offer(self.sessions[offer.ref]) if offer.ref in self.sessions else offer

    async def sdk_accept(self, offer: sdk.Offer) -> sdk.Agreement:
        stored = await self._guard(lambda: self.buyer.accept(offer.ref))
        return sdk.Agreement(stored.id, stored.vendor, offer.price, self.key.did)

    async def sdk_reject(self, offer: sdk.Offer, reason: str) -> None:
        await self._guard(lambda: self.buyer.reject(offer.ref, reason[:280]))

    async def _guard(self, action: Callable[[], Any]) -> Any:
        try:
            return await action()
        except AgentError as exc:
            raise sdk.Refused(exc.reason or "refused", exc.message) from exc

    def sdk_offers(self, intent_id: str) -> list[sdk.Offer]:
        found = [self._offer(s) for s in self.sessions.values()
                 if s.negotiation.intent.id == intent_id
                 and s.negotiation.state is State.BUYER_TURN]
        return sorted(found, key=lambda o: o.price_minor)

    def _offer(self, session: Session) -> sdk.Offer:
        n = session.negotiation
        first, price = n.first_offer, n.current_price
        assert first is not None  # a session opens with an offer
        assert price is not None
        return sdk.Offer(
            ref=session.ref, intent=_info(n.transcript[0]), vendor=n.counterparty or "",
            sku=first.sku, title=first.title, price=price, terms=first.terms,
            conflicts=tuple(n.conflicts), state=n.state.value,
            round=n.round, digest=digest(n.transcript[-1]), _agent=self,
        )

    async def report(self, intent_id: str, kind: str, text: str, about: sdk.Offer | None
                     ) -> None:
        now = self.now()
        about_digest = about.digest if about is not None else None
        raw = envelope.seal(Report(id=new_id(), issued_at=now, expires_at=now + REPORT_TTL,
                                   intent_id=intent_id, kind=kind, text=text,  # type: ignore[arg-type]
                                   about=about_digest), self.key)
        with self.store.transaction() as db:
            audit.append(db, at=now, kind=f"report_{kind}", data={"intent_id": intent_id,
                                                                  "text": text})
        self.on_event({"event": "report", "kind": kind, "intent_id": intent_id, "text": text})
        await self._file(raw)

    async def _file(self, raw: bytes) -> None:
        try:
            await self.desk_link.record(raw)
        except Exception as exc:  # the person's daemon is away: our own store still has it
            log.info("could not file an envelope with the person's agent: %s", exc)


def _info(intent_raw: bytes) -> sdk.IntentInfo:
    intent = envelope.read_stored(intent_raw)
    assert isinstance(intent, Intent)
    return sdk.IntentInfo(
        id=intent.id, category=intent.category, description=intent.description,
        max_price=intent.constraints.max_price, quantity=intent.constraints.quantity,
        expires_at=intent.expires_at, terms=intent.terms, disclosed=dict(intent.disclosed),
    )
