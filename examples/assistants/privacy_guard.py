"""privacy_guard: turns down every offer whose data terms break the person's, and says why.

    intentcast assistant run examples/assistants/privacy_guard.py:PrivacyGuard \
        --delegation grant.json

It never counters or accepts, so a grant without --may-counter or --may-accept is enough.
Offers that respect the person's terms are left alone; the person hears about each one once.
"""

from __future__ import annotations

from intentcast.agents.assistant.sdk import Assistant, Offer


class PrivacyGuard(Assistant):
    async def on_offer(self, offer: Offer) -> None:
        who = f"{offer.title!r} from vendor {offer.vendor}"
        if not offer.conflicts:
            await self.note(offer.intent, f"offer {who} respects your terms",
                            about=offer)
            return
        # The clauses broken, each once, in the order the check found them.
        clauses = ", ".join(dict.fromkeys(c.clause for c in offer.conflicts))
        await offer.reject(f"your data requests break the buyer's terms: {clauses}"[:280])
        details = "; ".join(f"{c.clause} ({c.field or 'all fields'}): {c.detail}"
                            for c in offer.conflicts)
        await self.note(offer.intent, f"rejected {who}: it breaks {clauses}. {details}"[:1000],
                        about=offer)
