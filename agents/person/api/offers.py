"""What each offer asks of the person's data, and what accepting it would disclose.

An offer's data terms live in the offer envelope the store keeps (its ref is the first
six bytes of its digest), so they are read from there, checked against the intent's own
terms: what the page shows beside every offer, refused ones included.

`GET /v1/offers/{ref}/preview` answers before an accept: exactly which attributes would be
sealed to this vendor, for which purposes, until when, and a plain warning for each one
the vendor asks for that the profile does not hold (the deal goes through without it:
nothing is sent for an attribute the person does not have).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Any

from fastapi import FastAPI

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.person.api.responses import errors
from intentcast.agents.runtime.render import short_did
from intentcast.protocol import Intent, Offer, State, VendorTerms, check_terms, digest, read_stored

DAY = 86_400


def offer_envelopes(agent: PersonAgent, intent_id: str) -> dict[str, Offer]:
    """The offers received for an intent, by ref."""
    found: dict[str, Offer] = {}
    for direction, kind, raw in agent.store.envelopes_for(intent_id):
        if direction == "in" and kind == "offer":
            message = read_stored(raw)
            if isinstance(message, Offer):
                found[digest(raw)[:6].hex()] = message
    return found


def intent_message(agent: PersonAgent, intent_id: str) -> Intent:
    message = read_stored(agent.intent(intent_id).raw)
    assert isinstance(message, Intent)
    return message


def data_terms(intent: Intent, terms: VendorTerms) -> dict[str, Any]:
    """An offer's data requests and their conflicts with the person's terms."""
    return {
        "data": {"requests": [r.model_dump() for r in terms.requests],
                 "delete_on_revocation": terms.delete_on_revocation},
        "conflicts": [c.model_dump() for c in check_terms(intent.terms, terms)],
    }


def offer_terms(agent: PersonAgent, intent_id: str) -> dict[str, dict[str, Any]]:
    """`data_terms` of every offer for an intent, by ref (what the offer lists add)."""
    intent = intent_message(agent, intent_id)
    return {ref: data_terms(intent, offer.terms)
            for ref, offer in offer_envelopes(agent, intent_id).items()}


def preview(agent: PersonAgent, ref: str) -> dict[str, Any]:
    stored = agent.store.negotiation(ref)
    if stored is None:
        raise AgentError(Kind.NOT_FOUND, f"no offer {ref}")
    offer = offer_envelopes(agent, stored.intent_id).get(ref)
    if offer is None:
        raise AgentError(Kind.NOT_FOUND, f"the offer envelope of {ref} is not in the store")
    intent = intent_message(agent, stored.intent_id)
    held = set(agent.store.attribute_names())
    requests = offer.terms.requests
    sealed = [r for r in requests if r.field in held]
    missing = list(dict.fromkeys(r.field for r in requests if r.field not in held))
    session = agent.sessions.get(ref)
    can_accept = session is not None and session.negotiation.state is State.BUYER_TURN
    now = agent.now()
    disclosure = None
    if sealed:
        days = max(r.retention_days for r in sealed)
        disclosure = {"fields": list(dict.fromkeys(r.field for r in sealed)),
                      "purposes": list(dict.fromkeys(r.purpose for r in sealed)),
                      "retention_days": days, "retain_until": now + days * DAY}
    vendor = short_did(stored.counterparty)
    warnings = [f"The vendor asks for your {name.replace('_', ' ')}, which your profile does "
                f"not hold: nothing will be sent for it. Add it to your profile before you "
                f"accept if the deal needs it." for name in missing]
    if requests and not sealed:
        warnings.append("Your profile holds none of the data this vendor asks for: accepting "
                        "discloses nothing.")
    if not can_accept:
        warnings.append(f"This offer cannot be accepted now: it is {stored.state}"
                        + (f" ({stored.note})." if stored.note else "."))
    return {"ref": ref, "intent_id": stored.intent_id, "vendor": stored.counterparty,
            "vendor_short": vendor, "sku": offer.sku, "title": offer.title,
            "quantity": offer.quantity, "price_minor": stored.price_minor,
            "currency": stored.currency, "state": stored.state, "can_accept": can_accept,
            "requests": [{**r.model_dump(), "held": r.field in held} for r in requests],
            "disclosure": disclosure, "missing": missing,
            **data_terms(intent, offer.terms), "warnings": warnings}


def add_routes(app: FastAPI, agent: PersonAgent, guarded: list[Any]) -> None:
    @app.get("/v1/offers/{ref}/preview", dependencies=guarded, responses=errors(404, 422))
    async def get_preview(ref: str) -> dict[str, Any]:
        """What accepting this offer would disclose, sealed to this vendor: which attributes,
        for which purposes, until when; a warning for each one it asks for that the profile
        does not hold; and the conflicts with the person's terms, by clause."""
        return preview(agent, ref)
