"""A vendor's catalog: what it sells, at which prices, and what data it needs, from TOML.

Prices are written as decimal strings ("219.00") and kept as integer minor
units, like everything else in intentcast; TOML floats are refused so that no
price ever passes through binary floating point. Every error names the file,
the item and the field, in one line.

    [vendor]
    name = "Trailhead Outfitters"
    currency = "EUR"
    policy = "intentcast.agents.vendor.policy:Concede"     # or "my_module:MyPolicy"
    concession_percent = 50              # of the gap, per round
    max_rounds = 4
    delete_on_revocation = true          # delete customer data when consent is revoked

    [[items]]
    sku = "TH-TENT-2"
    title = "Ridgeline 2P tent, 1.9 kg"
    category = "outdoor.camping.tents"
    keywords = ["tent", "backpacking"]
    list_price = "219.00"
    floor_price = "185.00"
    stock = 5
    data = [{ field = "shipping_address", purpose = "delivery", retention_days = 30,
              why = "to deliver the tent" }]
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from intentcast.protocol import (
    EXPONENTS,
    DataRequest,
    Intent,
    VendorTerms,
    category_within,
    parse_amount,
)

_SKU = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CATEGORY = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*){0,7}$")
_WORD = re.compile(r"[a-z0-9]+")


class CatalogError(ValueError):
    """The catalog file is not usable; the message says where and what to fix."""


@dataclass(frozen=True)
class Item:
    sku: str
    title: str
    category: str
    keywords: frozenset[str]
    list_price: int
    floor_price: int
    stock: int
    data: tuple[DataRequest, ...]
    why: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    name: str
    currency: str
    items: tuple[Item, ...]
    policy: str = "intentcast.agents.vendor.policy:Concede"
    concession_percent: int = 50
    max_rounds: int = 4
    offer_ttl: int = 600
    hold: int = 120
    """Seconds a signed agreement holds the stock for the buyer's countersignature."""
    loyalty_percent: int = 0
    """Credit issued to the buyer's pseudonym with each agreement, in % of its price."""
    delete_on_revocation: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    def terms_for(self, item: Item) -> VendorTerms:
        """The data terms an offer of `item` states."""
        return VendorTerms(
            requests=list(item.data), delete_on_revocation=self.delete_on_revocation
        )

    @property
    def topics(self) -> frozenset[str]:
        """Top-level categories to subscribe to."""
        return frozenset(item.category.split(".", 1)[0] for item in self.items)

    def matches(self, intent: Intent) -> list[Item]:
        """Items that could answer `intent`, best keyword match first."""
        words = set(_WORD.findall(intent.description.lower()))
        want = intent.constraints
        found: list[tuple[int, Item]] = []
        for item in self.items:
            if not (category_within(item.category, intent.category)
                    or category_within(intent.category, item.category)):
                continue
            hits = len(item.keywords & words)
            # A broader item category (we sell "outdoor", they want "outdoor.camping.tents")
            # needs the description to name the thing; an exact or narrower one does not.
            if item.keywords and hits == 0 and not category_within(item.category, intent.category):
                continue
            if item.stock < want.quantity:
                continue
            cap = want.max_price
            if cap is not None and (cap.currency != self.currency or item.floor_price > cap.amount):
                continue
            found.append((hits, item))
        found.sort(key=lambda hit: (-hit[0], hit[1].list_price))
        return [item for _, item in found]


def load(path: Path) -> Catalog:
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path} is not valid TOML: {exc}") from exc
    return parse(raw, where=str(path))


def parse(raw: dict[str, Any], *, where: str = "catalog") -> Catalog:
    vendor = _table(raw, "vendor", where)
    name = _text(vendor, "name", f"{where} [vendor]", limit=80)
    currency = _text(vendor, "currency", f"{where} [vendor]", limit=3)
    if currency not in EXPONENTS:
        raise CatalogError(f"{where} [vendor] currency: {currency!r} is not an ISO 4217 code")
    items_raw = raw.get("items")
    if not isinstance(items_raw, list) or not items_raw:
        raise CatalogError(f"{where}: add at least one [[items]] table")
    items = tuple(
        _item(entry, currency, f"{where} items[{n}]") for n, entry in enumerate(items_raw)
    )
    skus = [item.sku for item in items]
    if len(set(skus)) != len(skus):
        raise CatalogError(f"{where}: every item needs its own sku")
    unknown = set(vendor) - {"name", "currency", "policy", "concession_percent", "max_rounds",
                             "offer_ttl", "hold", "delete_on_revocation", "options",
                             "loyalty_percent"}
    if unknown:
        raise CatalogError(f"{where} [vendor]: unknown setting {sorted(unknown)[0]!r}")
    policy = vendor.get("policy", "intentcast.agents.vendor.policy:Concede")
    if not isinstance(policy, str) or not re.fullmatch(r"[\w.]+:\w+", policy):
        raise CatalogError(f"{where} [vendor] policy: write it as 'module.path:ClassName'")
    delete = vendor.get("delete_on_revocation", True)
    if not isinstance(delete, bool):
        raise CatalogError(f"{where} [vendor] delete_on_revocation: true or false")
    options = vendor.get("options", {})
    if not isinstance(options, dict):
        raise CatalogError(f"{where} [vendor] options: must be a table")
    return Catalog(
        name=name, currency=currency, items=items, policy=policy,
        concession_percent=_int(vendor, "concession_percent", f"{where} [vendor]", 0, 100, 50),
        max_rounds=_int(vendor, "max_rounds", f"{where} [vendor]", 0, 16, 4),
        offer_ttl=_int(vendor, "offer_ttl", f"{where} [vendor]", 10, 86_400, 600),
        hold=_int(vendor, "hold", f"{where} [vendor]", 10, 3600, 120),
        loyalty_percent=_int(vendor, "loyalty_percent", f"{where} [vendor]", 0, 50, 0),
        delete_on_revocation=delete, options=options,
    )


def _item(entry: Any, currency: str, where: str) -> Item:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: must be a table")
    unknown = set(entry) - {"sku", "title", "category", "keywords", "list_price", "floor_price",
                            "stock", "data"}
    if unknown:
        raise CatalogError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    sku = _text(entry, "sku", where, limit=64)
    if not _SKU.match(sku):
        raise CatalogError(f"{where} sku: use letters, digits, '.', '_' or '-' (at most 64)")
    category = _text(entry, "category", where, limit=128)
    if not _CATEGORY.match(category):
        raise CatalogError(f"{where} category: a dotted lower-case path like outdoor.camping")
    keywords = entry.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise CatalogError(f"{where} keywords: a list of words")
    list_price = _price(entry, "list_price", currency, where)
    floor_price = _price(entry, "floor_price", currency, where, default=list_price)
    if floor_price > list_price:
        raise CatalogError(f"{where}: floor_price is above list_price")
    data, why = _data(entry.get("data", []), where)
    return Item(
        sku=sku, title=_text(entry, "title", where, limit=280), category=category,
        keywords=frozenset(w for k in keywords for w in _WORD.findall(k.lower())),
        list_price=list_price, floor_price=floor_price,
        stock=_int(entry, "stock", where, 0, 10**9, None), data=data, why=why,
    )


def _data(entries: Any, where: str) -> tuple[tuple[DataRequest, ...], tuple[str, ...]]:
    if not isinstance(entries, list):
        raise CatalogError(f"{where} data: a list of {{field, purpose, retention_days, why}}")
    requests, reasons = [], []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise CatalogError(f"{where} data[{n}]: must be a table")
        spec = dict(entry)
        why = spec.pop("why", "")
        if not isinstance(why, str) or not why:
            raise CatalogError(f"{where} data[{n}] why: say why the vendor needs this field")
        try:
            requests.append(DataRequest(**spec))
        except (ValidationError, TypeError) as exc:
            raise CatalogError(f"{where} data[{n}]: {_first(exc)}") from exc
        reasons.append(why)
    return tuple(requests), tuple(reasons)


def _first(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(map(str, err['loc']))}: {err['msg']}"
    return str(exc)


def _table(raw: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise CatalogError(f"{where}: add a [{key}] table")
    return value


def _text(raw: dict[str, Any], key: str, where: str, *, limit: int) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where} {key}: required text")
    if len(value) > limit:
        raise CatalogError(f"{where} {key}: at most {limit} characters")
    return value


def _int(raw: dict[str, Any], key: str, where: str, low: int, high: int, default: int | None
         ) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CatalogError(f"{where} {key}: a whole number from {low} to {high}")
    return value


def _price(raw: dict[str, Any], key: str, currency: str, where: str, default: int | None = None
           ) -> int:
    value = raw.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise CatalogError(f'{where} {key}: write the price as a string, e.g. "219.00"')
    try:
        return parse_amount(value, currency)
    except ValueError as exc:
        raise CatalogError(f"{where} {key}: {exc}") from exc
