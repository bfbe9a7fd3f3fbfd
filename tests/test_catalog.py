"""Vendor catalogs from TOML, intent matching, and the pricing policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentcast.agents.vendor.catalog import Catalog, CatalogError, Item, load, parse
from intentcast.agents.vendor.policy import Concede, CounterWith, Decline, Situation, load_policy
from intentcast.protocol.messages import Constraints, Intent, Money, ReplyTo
from intentcast.protocol.terms import CustomerTerms, check

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "catalogs"
NOW = 1_800_000_000


def intent(category="outdoor.camping.tents", description="Two-person backpacking tent",
           cap: int | None = 20_000, currency="EUR", quantity=1) -> Intent:
    return Intent(
        id="intent-0001", issued_at=NOW, expires_at=NOW + 3600, category=category,
        description=description,
        constraints=Constraints(
            max_price=None if cap is None else Money(amount=cap, currency=currency),
            quantity=quantity,
        ),
        terms=CustomerTerms(purposes=["delivery", "receipt"], retention_days=90),
        reply_to=ReplyTo(peer_id="12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"),
    )


def base(**vendor) -> dict:
    return {
        "vendor": {"name": "Shop", "currency": "EUR", **vendor},
        "items": [{
            "sku": "A-1", "title": "Tent", "category": "outdoor.camping.tents",
            "keywords": ["tent"], "list_price": "200.00", "floor_price": "150.00", "stock": 2,
        }],
    }


@pytest.fixture
def trailhead() -> Catalog:
    return load(EXAMPLES / "trailhead.toml")


def test_examples_load():
    names = {load(p).name for p in EXAMPLES.glob("*.toml")}
    assert names == {"Trailhead Outfitters", "BargainBlast", "Copper Kettle Kitchens",
                     "Summit Supply"}


def test_prices_are_integer_minor_units(trailhead):
    tent = trailhead.items[0]
    assert (tent.list_price, tent.floor_price) == (21_900, 18_500)
    assert trailhead.topics == {"outdoor"}


def test_matching_by_category_keywords_price_and_stock(trailhead):
    assert [i.sku for i in trailhead.matches(intent())] == ["TH-TENT-2"]
    broad = intent(category="outdoor.camping", description="a tent for two")
    assert [i.sku for i in trailhead.matches(broad)] == ["TH-TENT-2", "TH-BAG-3S"]
    assert trailhead.matches(intent(category="kitchen", description="tent")) == []
    assert trailhead.matches(intent(cap=18_000)) == []          # below the floor
    assert trailhead.matches(intent(currency="USD")) == []      # another currency
    assert trailhead.matches(intent(quantity=6)) == []          # not enough stock
    assert [i.sku for i in trailhead.matches(intent(cap=None))] == ["TH-TENT-2"]


def test_a_broad_item_category_needs_a_keyword():
    bargain = load(EXAMPLES / "bargainblast.toml")
    assert [i.sku for i in bargain.matches(intent())] == ["BB-TENT-2"]
    assert bargain.matches(intent(description="hiking boots size 44")) == []


def test_the_discounters_terms_conflict_with_a_careful_person():
    bargain = load(EXAMPLES / "bargainblast.toml")
    terms = bargain.terms_for(bargain.items[0])
    clauses = {c.clause for c in check(intent().terms, terms)}
    assert clauses == {"purposes", "retention_days", "no_profiling", "delete_on_revocation"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vendor": None}, r"add a \[vendor\] table"),
        ({"items": []}, "at least one"),
        ({"vendor": {"name": "S", "currency": "EUROS"}}, "at most 3 characters"),
        ({"vendor": {"name": "S", "currency": "XYZ"}}, "not an ISO 4217 code"),
        ({"vendor": {"name": "S", "currency": "EUR", "colour": "red"}}, "unknown setting"),
        ({"vendor": {"name": "S", "currency": "EUR", "policy": "nope"}}, "module.path:ClassName"),
        ({"vendor": {"name": "S", "currency": "EUR", "max_rounds": 99}}, "max_rounds"),
        ({"vendor": {"name": "S", "currency": "EUR", "concession_percent": 0.5}},
         "concession_percent"),
    ],
)
def test_bad_vendor_settings_get_one_line_errors(change, message):
    raw = {**base(), **change}
    with pytest.raises(CatalogError, match=message) as err:
        parse(raw)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("list_price", 200.0, "write the price as a string"),
        ("list_price", "200.001", "2 decimal places"),
        ("list_price", "-5", "not an amount"),
        ("floor_price", "250.00", "floor_price is above list_price"),
        ("sku", "a sku with spaces", "sku"),
        ("category", "Outdoor/Camping", "dotted lower-case path"),
        ("stock", -1, "stock"),
        ("stock", True, "stock"),
        ("keywords", "tent", "keywords"),
        ("colour", "red", "unknown field"),
        ("data", [{"field": "email", "purpose": "spam", "retention_days": 1, "why": "x"}],
         "purpose"),
        ("data", [{"field": "email", "purpose": "receipt", "retention_days": 1}], "why"),
    ],
)
def test_bad_items_name_the_item_and_field(field, value, message):
    raw = base()
    raw["items"][0][field] = value
    with pytest.raises(CatalogError, match=message) as err:
        parse(raw, where="shop.toml")
    assert str(err.value).startswith("shop.toml")


def test_duplicate_skus_are_refused():
    raw = base()
    raw["items"].append(dict(raw["items"][0]))
    with pytest.raises(CatalogError, match="its own sku"):
        parse(raw)


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[vendor\nname=1")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load(bad)


def _situation(item: Item, *, our_last: int, their: int, round_: int = 1, max_rounds: int = 4):
    return Situation(item=item, intent=intent(), round=round_, our_last=our_last,
                     their_price=their, max_rounds=max_rounds)


def test_concede_opens_at_list_or_the_cap(trailhead):
    tent = trailhead.items[0]
    policy = Concede(trailhead)
    assert policy.opening(tent, intent(cap=None)) == 21_900
    assert policy.opening(tent, intent(cap=20_000)) == 20_000
    assert policy.opening(tent, intent(cap=30_000)) == 21_900
    assert policy.opening(tent, intent(cap=10_000)) is None


def test_concede_moves_half_the_gap_and_never_below_the_floor(trailhead):
    tent = trailhead.items[0]
    policy = Concede(trailhead)
    assert policy.respond(_situation(tent, our_last=20_000, their=18_000)) == CounterWith(19_000)
    assert policy.respond(_situation(tent, our_last=19_000, their=10_000)) == CounterWith(18_500)
    assert isinstance(policy.respond(_situation(tent, our_last=18_500, their=10_000)), Decline)
    assert policy.respond(_situation(tent, our_last=19_000, their=19_500)) == CounterWith(19_000)
    last = _situation(tent, our_last=20_000, their=18_000, round_=4, max_rounds=4)
    assert isinstance(policy.respond(last), Decline)


class FirmPolicy:
    """A custom policy, as a vendor would write one: never moves."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def opening(self, item: Item, intent: Intent) -> int | None:
        return item.list_price

    def respond(self, situation: Situation) -> CounterWith | Decline:
        return Decline("fixed prices")


def test_custom_policies_load_by_name(trailhead):
    assert isinstance(load_policy("intentcast.agents.vendor.policy:Concede", trailhead), Concede)
    firm = load_policy("test_catalog:FirmPolicy", trailhead)
    assert firm.opening(trailhead.items[0], intent()) == 21_900


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module:X", "cannot import"),
        ("intentcast.agents.vendor.policy:Nope", "has no class"),
        ("intentcast.agents.vendor.catalog:CatalogError", "needs opening"),
    ],
)
def test_bad_policies_are_explained(trailhead, spec, message):
    with pytest.raises(CatalogError, match=message):
        load_policy(spec, trailhead)


def test_a_policy_named_by_its_old_module_path_gets_the_new_one(trailhead):
    with pytest.raises(CatalogError, match=r"intentcast\.agents\.vendor\.policy:Concede"):
        load_policy("agents.policy:Concede", trailhead)
