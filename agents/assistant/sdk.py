"""Write your own assistant: a fourth party that works for one person, within their grant.

    from intentcast.agents.assistant.sdk import Assistant, Offer

    class Cheapest(Assistant):
        async def on_offer(self, offer: Offer) -> None:
            if offer.conflicts:
                await offer.reject("your data terms break mine")
            elif offer.price_minor <= self.cap():
                await offer.accept()

Run it as its own peer: `intentcast assistant run mymodule:Cheapest --delegation
grant.json`. Events arrive as calls to the `on_*` methods (or to functions
registered with `@assistant.on("offer")`), each in its own task with a time
limit: a handler that raises or hangs is reported to the person and the
assistant goes on. Every action is checked against the delegation before
anything is signed; one outside it raises `Refused` with the same reason code
a vendor would give, and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, overload

from intentcast.protocol import Conflict, CustomerTerms, Money, Scope, VendorTerms, format_amount

Event = Literal["intent", "offer", "counter", "expiring"]
EVENTS: tuple[Event, ...] = ("intent", "offer", "counter", "expiring")


class Refused(Exception):
    """An action the delegation (or the negotiation) does not allow; nothing was sent."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class IntentInfo:
    """An intent the person handed to this assistant."""

    id: str
    category: str
    description: str
    max_price: Money | None
    quantity: int
    expires_at: int
    terms: CustomerTerms
    disclosed: dict[str, str]


@dataclass(frozen=True)
class Offer:
    """A vendor's offer as it stands; act on it with `counter`, `accept` or `reject`."""

    ref: str
    intent: IntentInfo
    vendor: str
    sku: str
    title: str
    price: Money
    terms: VendorTerms
    conflicts: tuple[Conflict, ...]
    """Where the vendor's data requests break the person's terms (empty when none)."""
    state: str
    round: int
    digest: bytes
    """Of the last envelope of this negotiation when this view was taken."""
    _agent: Runtime

    @property
    def actionable(self) -> bool:
        """True when it is the person's turn: counter, accept or reject are allowed now."""
        return self.state == "buyer_turn"

    @property
    def price_minor(self) -> int:
        return self.price.amount

    @property
    def currency(self) -> str:
        return self.price.currency

    def __str__(self) -> str:
        return f"{self.title} from {self.vendor[-8:]} at {format_amount(*self._money())}"

    def _money(self) -> tuple[int, str]:
        return self.price.amount, self.price.currency

    async def counter(self, price_minor: int, note: str | None = None) -> Offer:
        """Propose `price_minor`; returns the offer after the vendor's answer."""
        return await self._agent.sdk_counter(self, price_minor, note)

    async def accept(self) -> Agreement:
        """Accept the price on the table; returns once the agreement is signed by both."""
        return await self._agent.sdk_accept(self)

    async def reject(self, reason: str) -> None:
        await self._agent.sdk_reject(self, reason)


@dataclass(frozen=True)
class Agreement:
    id: str
    vendor: str
    price: Money
    accepted_by: str


class Runtime(Protocol):
    """What runs an assistant (agents/assistant/agent.py): the SDK's objects call only this."""

    scope: Scope

    def now(self) -> int: ...
    async def sdk_counter(self, offer: Offer, price: int, note: str | None) -> Offer: ...
    async def sdk_accept(self, offer: Offer) -> Agreement: ...
    async def sdk_reject(self, offer: Offer, reason: str) -> None: ...
    def sdk_offers(self, intent_id: str) -> list[Offer]: ...
    async def report(self, intent_id: str, kind: str, text: str, about: Offer | None
                     ) -> None: ...


Handler = Callable[[Any], Awaitable[None]]
IntentHandler = Callable[[IntentInfo], Awaitable[None]]
"""A handler of "intent" and "expiring": it gets the intent."""
OfferHandler = Callable[[Offer], Awaitable[None]]
"""A handler of "offer" and "counter": it gets the offer as it stands."""


class Assistant:
    """Subclass this and override the events you care about."""

    handler_timeout: float = 60.0
    """Seconds a handler may run before it is cancelled and the person told."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._agent: Runtime | None = None

    # -- events: override these, or register functions with `on` --------------------------

    async def on_intent(self, intent: IntentInfo) -> None:
        """The person posted an intent naming this assistant."""

    async def on_offer(self, offer: Offer) -> None:
        """A vendor answered one of the intents with an offer."""

    async def on_counter(self, offer: Offer) -> None:
        """A vendor countered after `counter()` had stopped waiting for its answer
        (an answer `counter()` receives is its return value, not this event)."""

    async def on_expiring(self, intent: IntentInfo) -> None:
        """One of the intents expires within two minutes."""

    @overload
    def on(self, event: Literal["intent", "expiring"]
           ) -> Callable[[IntentHandler], IntentHandler]: ...

    @overload
    def on(self, event: Literal["offer", "counter"]) -> Callable[[OfferHandler], OfferHandler]: ...

    def on(self, event: Event) -> Callable[[Handler], Handler]:
        """`@assistant.on("offer")` registers a function instead of overriding a method;
        mypy checks that it takes what the event hands it (an Offer, or an IntentInfo)."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {', '.join(EVENTS)}")

        def register(fn: Handler) -> Handler:
            self._handlers[event] = fn
            return fn

        return register

    def handler(self, event: Event) -> Handler:
        found: Handler = self._handlers.get(event) or getattr(self, f"on_{event}")
        return found

    # -- what an assistant can do besides acting on offers --------------------------------

    @property
    def agent(self) -> Runtime:
        if self._agent is None:
            raise RuntimeError("this assistant is not running (use `intentcast assistant run`)")
        return self._agent

    @property
    def scope(self) -> Scope:
        """What the person's grant lets this assistant do."""
        return self.agent.scope

    def cap(self, intent: IntentInfo | None = None) -> int:
        """The most this assistant may agree to: the grant's cap, or the intent's if lower."""
        caps = [m.amount for m in (self.scope.max_price, intent and intent.max_price) if m]
        return min(caps) if caps else 2**63

    def now(self) -> int:
        return self.agent.now()

    def offers(self, intent: IntentInfo | str) -> list[Offer]:
        """The offers on this intent awaiting the person's move, cheapest first."""
        return self.agent.sdk_offers(intent if isinstance(intent, str) else intent.id)

    async def note(self, intent: IntentInfo | str, text: str, *, about: Offer | None = None
                   ) -> None:
        """Tell the person something, signed, into their audit log."""
        await self.agent.report(_id(intent), "note", text[:1000], about)

    async def ask(self, intent: IntentInfo | str, question: str, *, about: Offer | None = None
                  ) -> None:
        """Ask the person to decide (it shows in their log; they act with the CLI)."""
        await self.agent.report(_id(intent), "question", question[:1000], about)


def _id(intent: IntentInfo | str) -> str:
    return intent if isinstance(intent, str) else intent.id
