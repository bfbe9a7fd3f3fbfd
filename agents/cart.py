"""The person's portable cart: things wanted, kept in their own store, not a shop's.

`intent_from_cart` turns the whole cart into one intent, broadcast to every
vendor whose catalog matches: "take your shopping cart with you". The intent's
category is the deepest category all items share (so it reaches every vendor
that sells any of them), its description lists the items, and its price cap is
the sum of the items' caps when each has one in the same currency.
"""

from __future__ import annotations

from dataclasses import dataclass

from .person import AgentError, IntentRequest
from .store import Store

MAX_ITEMS = 50


@dataclass(frozen=True)
class CartItem:
    id: int
    category: str
    description: str
    max_price: int | None
    currency: str
    quantity: int
    added_at: int


def add(store: Store, category: str, description: str, max_price: int | None, currency: str,
        quantity: int, *, now: int) -> CartItem:
    if len(items(store)) >= MAX_ITEMS:
        raise AgentError(409, f"the cart holds at most {MAX_ITEMS} items")
    with store.transaction() as db:
        cursor = db.execute(
            "INSERT INTO cart (category, description, max_price, currency, quantity, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (category, description, max_price, currency, quantity,
                                          now))
    return CartItem(int(cursor.lastrowid or 0), category, description, max_price, currency,
                    quantity, now)


def items(store: Store) -> list[CartItem]:
    rows = store.db.execute("SELECT id, category, description, max_price, currency, quantity, "
                            "added_at FROM cart ORDER BY id")
    return [CartItem(*row) for row in rows]


def remove(store: Store, item_id: int) -> None:
    with store.transaction() as db:
        if db.execute("DELETE FROM cart WHERE id = ?", (item_id,)).rowcount == 0:
            raise AgentError(404, f"no cart item {item_id}")


def clear(store: Store) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM cart")


def shared_category(categories: list[str]) -> str:
    """The deepest dotted category every one of `categories` is within."""
    split = [c.split(".") for c in categories]
    common = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    if not common:
        raise AgentError(422, "the cart's items span several top-level categories ("
                              + ", ".join(sorted({s[0] for s in split}))
                              + "): post one intent per category")
    return ".".join(common)


def intent_from_cart(store: Store, *, expires_in: int, country: str | None,
                     postcode_prefix: str | None) -> IntentRequest:
    found = items(store)
    if not found:
        raise AgentError(409, "the cart is empty: add items with `intentcast cart add`")
    category = shared_category([i.category for i in found])
    description = "; ".join(f"{i.quantity} x {i.description}" for i in found)
    if len(description) > 1000:
        raise AgentError(422, "the cart's items do not fit one intent's 1000 characters")
    currencies = {i.currency for i in found}
    caps = [i.max_price * i.quantity for i in found if i.max_price is not None]
    cap = sum(caps) if len(caps) == len(found) and len(currencies) == 1 else None
    return IntentRequest(category=category, description=description, max_price=cap,
                         currency=currencies.pop() if len(currencies) == 1 else "EUR",
                         country=country, postcode_prefix=postcode_prefix,
                         expires_in=expires_in)
