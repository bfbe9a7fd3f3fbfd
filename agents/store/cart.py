"""The person's portable cart: things wanted, kept in their own store, not a shop's.

`request_from_cart` (agents/person/requests.py) makes the whole cart one intent, broadcast to every
vendor whose catalog matches: "take your shopping cart with you". The intent's
category is the deepest category all items share (so it reaches every vendor
that sells any of them), its description lists the items, and its price cap is
the sum of the items' caps when each has one in the same currency.
"""

from __future__ import annotations

from dataclasses import dataclass

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.store.db import Store

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
        raise AgentError(Kind.CONFLICT, f"the cart holds at most {MAX_ITEMS} items")
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
            raise AgentError(Kind.NOT_FOUND, f"no cart item {item_id}")


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
        raise AgentError(Kind.INVALID, "the cart's items span several top-level categories ("
                              + ", ".join(sorted({s[0] for s in split}))
                              + "): post one intent per category")
    return ".".join(common)
