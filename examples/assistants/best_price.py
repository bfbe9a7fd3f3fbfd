"""best_price: waits for offers, counters the best toward a target, accepts the best under the cap.

    intentcast assistant run examples.assistants.best_price:BestPrice --delegation grant.json
"""

from __future__ import annotations

import trio

from intentcast.agents.assistant.sdk import Assistant, IntentInfo
from intentcast.protocol import format_amount


class BestPrice(Assistant):
    window = 3.0
    """Seconds to collect offers before choosing."""
    target_percent = 85
    """Counter at this share of the cap (the vendor's policy decides how far it comes)."""

    async def on_intent(self, intent: IntentInfo) -> None:
        await trio.sleep(self.window)
        offers = [o for o in self.offers(intent) if not o.conflicts]
        if not offers:
            await self.note(intent, f"no offer with acceptable terms in {self.window:g} s")
            return
        best, cap = offers[0], self.cap(intent)
        target = cap * self.target_percent // 100
        if best.price_minor > target and self.scope.may_counter:
            best = await best.counter(target, note="my best price; can you meet it?")
        money = format_amount(best.price_minor, best.currency)
        if best.actionable and best.price_minor <= cap and self.scope.may_accept:
            await best.accept()
            await self.note(intent, f"accepted {best.title} at {money}: the lowest of "
                            f"{len(offers)} offer(s) with fair terms, within your cap of "
                            f"{format_amount(cap, best.currency)}", about=best)
        else:
            await self.ask(intent, f"the best offer is {best.title} at {money}; it is over "
                           "your cap or I may not accept it: raise my limits with a new "
                           "grant, or post the intent yourself", about=best)
