"""What a person asks their agent for: an intent to post, written out or made from the cart."""

from __future__ import annotations

from dataclasses import dataclass, field

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.store import cart
from intentcast.agents.store.db import Store
from intentcast.protocol import CustomerTerms

DEFAULT_TERMS = CustomerTerms(purposes=["delivery", "receipt"], retention_days=90)
"""Terms an intent carries when the person set none: data for delivery and receipts only."""


@dataclass(frozen=True)
class IntentRequest:
    category: str
    description: str
    max_price: int | None = None
    currency: str = "EUR"
    quantity: int = 1
    country: str | None = None
    postcode_prefix: str | None = None
    disclosed: dict[str, str] = field(default_factory=dict)
    expires_in: int = 3600
    terms: CustomerTerms = field(default_factory=lambda: DEFAULT_TERMS)
    assistant: str | None = None
    """An assistant's DID: it negotiates for the person under their grant to it."""


def request_from_cart(store: Store, *, expires_in: int, country: str | None,
                     postcode_prefix: str | None) -> IntentRequest:
    found = cart.items(store)
    if not found:
        raise AgentError(Kind.CONFLICT, "the cart is empty: add items with `intentcast cart add`")
    category = cart.shared_category([i.category for i in found])
    description = "; ".join(f"{i.quantity} x {i.description}" for i in found)
    if len(description) > 1000:
        raise AgentError(Kind.INVALID, "the cart's items do not fit one intent's 1000 characters")
    currencies = {i.currency for i in found}
    caps = [i.max_price * i.quantity for i in found if i.max_price is not None]
    cap = sum(caps) if len(caps) == len(found) and len(currencies) == 1 else None
    return IntentRequest(category=category, description=description, max_price=cap,
                         currency=currencies.pop() if len(currencies) == 1 else "EUR",
                         country=country, postcode_prefix=postcode_prefix,
                         expires_in=expires_in)
