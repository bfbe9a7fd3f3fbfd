"""template: copy this file to start your own assistant.

    cp examples/assistants/template.py my_assistant.py
    intentcast --home ~/.my-assistant assistant run my_assistant.py:MyAssistant \\
        --delegation grant.json

An assistant works for one person, within the limits of the grant they signed (its scope).
Each handler below runs in its own task, limited to `handler_timeout` seconds; if it raises
or hangs, the person is told and the assistant carries on. An action outside the grant raises
`Refused` (with `reason` such as over_price_cap or action_not_delegated) and nothing is sent.
Override only the handlers you need: the ones you leave out do nothing.
"""

from __future__ import annotations

from intentcast.agents.assistant.sdk import Assistant, IntentInfo, Offer, Refused  # noqa: F401 (Refused: to catch)
from intentcast.protocol.currencies import format_amount  # noqa: F401 (format_amount(1050, "EUR"))


class MyAssistant(Assistant):
    handler_timeout = 30.0  # seconds each handler may run before it is cancelled

    def __init__(self) -> None:
        super().__init__()  # keep this: it sets up the handler table
        # Keep state across events here, e.g. per intent id: self.seen: dict[str, int] = {}

    async def on_intent(self, intent: IntentInfo) -> None:
        """The person posted an intent naming you; self.note/self.ask, or wait and self.offers."""
        # intent.id, .category, .description, .max_price (Money or None), .quantity,
        # .expires_at (Unix seconds), .terms (the person's data terms), .disclosed

    async def on_offer(self, offer: Offer) -> None:
        """A vendor made an offer; offer.counter(price)/accept()/reject(reason), or wait."""
        # offer.title, .vendor (its did:key), .price_minor, .currency, .conflicts (where its
        # data requests break the person's terms), .actionable (True when it is your move), .ref
        # Limits: self.cap(offer.intent) in minor units, self.scope.may_counter/may_accept.

    async def on_counter(self, offer: Offer) -> None:
        """A vendor answered your counter with a price of its own; same actions as on_offer."""
        # offer.counter(...) returns after the vendor's answer too, so this may fire for an
        # answer your on_offer is already handling: keep a set of what you have done.

    async def on_expiring(self, intent: IntentInfo) -> None:
        """The intent expires within two minutes; self.offers(intent) lists open offers."""
        # self.offers(intent) is cheapest first; decide, or self.ask(intent, "...") the person.


# The same without a class: register functions on an instance, and name that instance
# when you run it (my_assistant.py:assistant).
#
#     assistant = Assistant()
#
#     @assistant.on("offer")
#     async def offer(offer: Offer) -> None:
#         if offer.conflicts:
#             await offer.reject("your data requests break my person's terms")
#         elif offer.price_minor <= assistant.cap(offer.intent):
#             await offer.accept()
