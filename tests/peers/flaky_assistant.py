"""An assistant whose handlers raise and hang: it must keep serving the person."""

from __future__ import annotations

import trio

from intentcast.agents.assistant.sdk import Assistant, IntentInfo, Offer


class Flaky(Assistant):
    handler_timeout = 2.0

    async def on_intent(self, intent: IntentInfo) -> None:
        raise RuntimeError(f"a bug while reading {intent.id}")

    async def on_offer(self, offer: Offer) -> None:
        if "hang" in offer.intent.description:
            await trio.sleep_forever()
        await offer.accept()
