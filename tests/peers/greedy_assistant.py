"""An assistant that tries to pay more than its grant allows, then to take a fair offer."""

from __future__ import annotations

from intentcast.agents.assistant.sdk import Assistant, Offer, Refused


class Greedy(Assistant):
    async def on_offer(self, offer: Offer) -> None:
        try:
            await offer.counter(self.cap(offer.intent) + 5_000, note="more than allowed")
        except Refused as refused:
            await self.note(offer.intent, f"refused before sending: {refused.reason}")
        await offer.counter(self.cap(offer.intent) + 1)  # raises: reported as an error
