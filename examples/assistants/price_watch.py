"""price_watch: waits for a price at or under a target, and settles for the best as time runs out.

    intentcast assistant run examples/assistants/price_watch.py:PriceWatch --delegation grant.json

Unlike best_price, which decides once after a window, it keeps state across events: the best
price seen per intent, and which intents are settled, so two handlers never buy twice.
"""

from __future__ import annotations

from intentcast.agents.assistant.sdk import Assistant, IntentInfo, Offer
from intentcast.protocol import format_amount


class PriceWatch(Assistant):
    target_percent = 80
    """Take an offer at once at or under this share of the cap."""

    def __init__(self) -> None:
        super().__init__()
        self.best: dict[str, int] = {}  # intent id -> lowest vendor price seen
        self.settled: set[str] = set()  # intent ids with an accepted offer

    def target(self, intent: IntentInfo) -> int | None:
        if intent.max_price is None and self.scope.max_price is None:
            return None  # no cap, so no target: wait for on_expiring
        return self.cap(intent) * self.target_percent // 100

    async def on_offer(self, offer: Offer) -> None:
        target = self.target(offer.intent)
        if offer.conflicts or target is None:
            return  # never take an offer that breaks the person's terms; no cap: on_expiring
        if offer.price_minor > target and self.scope.may_counter:
            offer = await offer.counter(target, note="I will take it today at this price")
        why = f"at or under your target of {format_amount(target, offer.currency)}"
        if offer.price_minor > target or not await self._take(offer, why):
            await self._watch(offer, target)

    async def on_counter(self, offer: Offer) -> None:
        target = self.target(offer.intent)
        if target is not None and not offer.conflicts:
            why = f"the vendor came down to your target of {format_amount(target, offer.currency)}"
            if offer.price_minor > target or not await self._take(offer, why):
                await self._watch(offer, target)

    async def on_expiring(self, intent: IntentInfo) -> None:
        if intent.id in self.settled:
            return
        fair = [o for o in self.offers(intent) if not o.conflicts
                and o.actionable and o.price_minor <= self.cap(intent)]
        if not fair:
            await self.note(intent, "time is nearly up and no fair offer is under your cap")
            return
        cheapest = fair[0]
        if not await self._take(cheapest, "time is nearly up; it is the cheapest under your cap"):
            await self.ask(intent, f"time is nearly up and I may not accept; the cheapest fair "
                           f"offer is {cheapest} (ref {cheapest.ref})", about=cheapest)

    async def _take(self, offer: Offer, why: str) -> bool:
        """Accept unless this intent is settled or we may not; True when it was accepted."""
        intent = offer.intent
        if intent.id in self.settled or not offer.actionable or not self.scope.may_accept:
            return False
        self.settled.add(intent.id)  # before any await, so a concurrent handler sees it
        try:
            await offer.accept()
        except Exception:
            self.settled.discard(intent.id)
            raise
        await self.note(intent, f"accepted {offer}: {why}", about=offer)
        return True

    async def _watch(self, offer: Offer, target: int) -> None:
        """Remember the lowest vendor price per intent, and tell the person when it drops."""
        intent = offer.intent
        if (intent.id in self.settled or not offer.actionable
                or offer.price_minor >= self.best.get(intent.id, 2**63)):
            return  # settled, our own counter still on the table, or no better than before
        self.best[intent.id] = offer.price_minor
        await self.note(intent, f"best so far: {offer} (your target: "
                        f"{format_amount(target, offer.currency)})", about=offer)
