"""How a vendor prices: the opening offer and the answer to each counter.

A vendor picks a policy in its catalog (`policy = "module:ClassName"`). The
class is built with the catalog and must provide `opening` and `respond`; the
default, `Concede`, moves a fixed share of the gap toward the buyer each round
and never goes below an item's floor price.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from intentcast.agents.vendor.catalog import Catalog, CatalogError, Item
from intentcast.protocol import Intent


@dataclass(frozen=True)
class Situation:
    """Where a negotiation stands when the buyer's counter arrives."""

    item: Item
    intent: Intent
    round: int
    """The round number of the buyer's counter (1 for the first)."""
    our_last: int
    their_price: int
    max_rounds: int


@dataclass(frozen=True)
class CounterWith:
    price: int


@dataclass(frozen=True)
class Decline:
    reason: str


Decision = CounterWith | Decline


@runtime_checkable
class PricingPolicy(Protocol):
    def opening(self, item: Item, intent: Intent) -> int | None:
        """The first offer's price in minor units, or None to stay silent."""

    def respond(self, situation: Situation) -> Decision:
        """Answer the buyer's counter."""


class Concede:
    """Offer at list price (or at the buyer's cap, if that is above the floor);
    then concede `concession_percent` of the gap per round, never below the floor."""

    def __init__(self, catalog: Catalog) -> None:
        self.percent = catalog.concession_percent

    def opening(self, item: Item, intent: Intent) -> int | None:
        cap = intent.constraints.max_price
        if cap is None:
            return item.list_price
        if cap.amount < item.floor_price:
            return None
        return min(item.list_price, cap.amount)

    def respond(self, situation: Situation) -> Decision:
        s = situation
        if s.their_price >= s.our_last:
            return CounterWith(s.our_last)  # already there: repeat so the buyer can accept
        if s.our_last <= s.item.floor_price:
            return Decline(f"our lowest price for {s.item.sku} is what we offered")
        if s.round + 1 > s.max_rounds:
            return Decline("that is as far as we negotiate")
        gap = s.our_last - s.their_price
        target = s.our_last - gap * self.percent // 100
        return CounterWith(max(s.item.floor_price, s.their_price, target))


def load_policy(spec: str, catalog: Catalog) -> PricingPolicy:
    """Import `module:ClassName` and build it with the catalog."""
    module_name, _, class_name = spec.partition(":")
    if module_name.startswith("agents."):  # catalogs written before the package moved
        raise CatalogError(f"policy {spec}: the built-in policies are in "
                           "intentcast.agents.vendor.policy now (e.g. "
                           "intentcast.agents.vendor.policy:Concede)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CatalogError(f"policy {spec}: cannot import {module_name} ({exc})") from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise CatalogError(f"policy {spec}: {module_name} has no class {class_name}")
    policy = cls(catalog)
    if not isinstance(policy, PricingPolicy):
        raise CatalogError(f"policy {spec}: the class needs opening() and respond() methods")
    return policy
