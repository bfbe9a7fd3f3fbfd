"""The message models, money and currencies, and the terms check.

Limits are tested at the bound (accepted) and one past it (refused). Expected values come from
specs/protocol.md §1, §5 and §6 and specs/intentcast.cddl, not from the models' own constants.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import cbor2
import pytest
from parties import BUYER, NOW, PEER, SELLER
from pydantic import BaseModel, ValidationError
from vector_files import load

from intentcast.protocol.currencies import EXPONENTS, format_amount, parse_amount
from intentcast.protocol.errors import IntentcastError, Reason
from intentcast.protocol.messages import (
    MAX_LIFETIME,
    MESSAGE_ADAPTER,
    Accept,
    Ack,
    Agreement,
    ConsentReceipt,
    Constraints,
    Counter,
    Delegation,
    DeletionReceipt,
    Intent,
    Location,
    Money,
    Offer,
    Reject,
    ReplyTo,
    Revocation,
    Scope,
    Withdraw,
    terms_hash,
    to_cbor_map,
)
from intentcast.protocol.terms import Conflict, CustomerTerms, DataRequest, VendorTerms, check

TTL = 3600
PURPOSES = ["fulfilment", "delivery", "receipt", "support", "warranty", "marketing",
            "analytics", "personalisation"]
TERMS = CustomerTerms(purposes=["delivery", "receipt"], retention_days=90)


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


COMMON: dict[str, Any] = {"id": "message-0001", "issued_at": NOW, "expires_at": NOW + TTL}
NEGOTIATION: dict[str, Any] = {"intent_id": "intent-0001", "in_reply_to": bytes(32)}
FIELDS: dict[type[BaseModel], dict[str, Any]] = {
    Intent: {"category": "outdoor.camping.tents", "description": "Two-person tent",
             "terms": TERMS, "reply_to": ReplyTo(peer_id=PEER)},
    Offer: {**NEGOTIATION, "sku": "TENT-UL2", "title": "Ultralight 2P tent", "quantity": 1,
            "price": eur(21_900)},
    Counter: {**NEGOTIATION, "round": 1, "price": eur(19_000)},
    Accept: {**NEGOTIATION, "price": eur(19_000)},
    Reject: {**NEGOTIATION, "reason": "no thanks"},
    Withdraw: {"intent_id": "intent-0001", "reason": "found one elsewhere"},
    Delegation: {"issuer": BUYER.did, "delegate": SELLER.did,
                 "scope": Scope(categories=["outdoor"]), "not_before": NOW,
                 "nonce": bytes(16)},
    Revocation: {"target": bytes(32), "target_type": "delegation"},
    ConsentReceipt: {"agreement_id": "agreement-0001", "terms_hash": bytes(32),
                     "subject": BUYER.did, "controller": SELLER.did, "fields": ["email"],
                     "purposes": ["receipt"], "retention_days": 30},
    DeletionReceipt: {"consent_id": "consent-0001", "agreement_id": "agreement-0001",
                      "controller": SELLER.did, "fields": ["email"], "deleted_at": NOW,
                      "cause": "retention"},
}


def build(cls: type[BaseModel], **changes: Any) -> Any:
    """A valid `cls` message, with `changes` applied."""
    return cls(**{**COMMON, **FIELDS[cls], **changes})


def refused(cls: type[BaseModel], **changes: Any) -> None:
    with pytest.raises(ValidationError):
        build(cls, **changes)


def agreement(**changes: Any) -> Agreement:
    offer_terms = VendorTerms(requests=[
        DataRequest(field="email", purpose="receipt", retention_days=30)])
    body: dict[str, Any] = {
        **COMMON, "intent_id": "intent-0001", "intent_hash": bytes(32),
        "offer_hash": bytes(32), "accept_hash": bytes(32), "buyer": BUYER.did,
        "vendor": SELLER.did, "sku": "TENT-UL2", "title": "Ultralight 2P tent",
        "quantity": 1, "price": eur(19_000), "customer_terms": TERMS,
        "vendor_terms": offer_terms, "countersign_by": COMMON["issued_at"] + 120,
    }
    body.update(changes)
    body.setdefault("terms_hash", terms_hash(
        sku=body["sku"], quantity=body["quantity"], price=body["price"],
        customer=body["customer_terms"], vendor=body["vendor_terms"]))
    return Agreement(**body)


# ------------------------------------------------------------------ money


def test_money_is_integer_minor_units_and_a_currency_code() -> None:
    price = Money(amount=1050, currency="EUR")
    assert (price.amount, price.currency) == (1050, "EUR")
    assert Money.model_validate({"amount": 0, "currency": "JPY"}).amount == 0
    assert Money(amount=10**15, currency="USD").amount == 10**15


@pytest.mark.parametrize("amount", [-1, -1050, 10**15 + 1])
def test_money_out_of_range_is_refused(amount: int) -> None:
    with pytest.raises(ValidationError):
        Money(amount=amount, currency="EUR")


@pytest.mark.parametrize("amount", [10.5, 1050.0, True, False, "1050", Decimal("1050"), None],
                         ids=repr)
def test_money_amount_must_be_an_int_not_a_float_bool_or_text(amount: Any) -> None:
    with pytest.raises(ValidationError):
        Money(amount=amount, currency="EUR")
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": amount, "currency": "EUR"})


@pytest.mark.parametrize("currency", ["XYZ", "eur", "Eur", "EURO", "EU", "", "EUR ", "DEM",
                                      "FRF", "HRK", "VEF", "MRO", "LTL"])
def test_money_in_an_unknown_or_withdrawn_currency_is_refused(currency: str) -> None:
    with pytest.raises(ValidationError):
        Money(amount=100, currency=currency)


def test_a_currency_must_be_text() -> None:
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": 100, "currency": 978})


def test_money_forbids_extra_fields_and_requires_both() -> None:
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": 100, "currency": "EUR", "exponent": 2})
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": 100})
    with pytest.raises(ValidationError):
        Money.model_validate({"currency": "EUR"})


# ------------------------------------------------------------------ the currency table


def test_the_currency_table_holds_iso_4217_codes_and_minor_units() -> None:
    assert len(EXPONENTS) > 140
    for code, exponent in EXPONENTS.items():
        assert len(code) == 3, code
        assert code.isascii(), code
        assert code.isalpha(), code
        assert code.isupper(), code
        assert exponent in (0, 2, 3), code


@pytest.mark.parametrize(("code", "exponent"), [
    ("EUR", 2), ("USD", 2), ("GBP", 2), ("CHF", 2), ("SEK", 2), ("CNY", 2), ("INR", 2),
    ("JPY", 0), ("KRW", 0), ("ISK", 0), ("CLP", 0), ("VND", 0), ("XOF", 0),
    ("BHD", 3), ("KWD", 3), ("OMR", 3), ("TND", 3), ("JOD", 3),
])
def test_known_currencies_have_their_iso_minor_units(code: str, exponent: int) -> None:
    assert EXPONENTS[code] == exponent
    assert Money(amount=1, currency=code).currency == code


def test_every_code_in_the_table_is_accepted_by_money() -> None:
    for code in EXPONENTS:
        assert Money(amount=1, currency=code).currency == code


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (1050, "EUR", "10.50 EUR"),
    (5, "EUR", "0.05 EUR"),
    (123_456_789, "EUR", "1,234,567.89 EUR"),
    (1000, "JPY", "1,000 JPY"),
    (1234, "BHD", "1.234 BHD"),
    (0, "USD", "0.00 USD"),
])
def test_format_amount(amount: int, currency: str, text: str) -> None:
    assert format_amount(amount, currency) == text


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("10.5", "EUR", 1050),
    ("10.50", "EUR", 1050),
    ("10", "EUR", 1000),
    (" 12 ", "EUR", 1200),
    ("0.05", "EUR", 5),
    ("1000", "JPY", 1000),
    ("1.234", "BHD", 1234),
])
def test_parse_amount(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(("text", "currency"), [
    ("10.505", "EUR"), ("10.5", "JPY"), ("1.2345", "BHD"), ("-1", "EUR"), ("1e3", "EUR"),
    ("", "EUR"), (".5", "EUR"), ("1,000", "EUR"), ("ten", "EUR"), ("10", "XYZ"),
])
def test_parse_amount_refuses(text: str, currency: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_amount(text, currency)


# ------------------------------------------------------------------ location


@pytest.mark.parametrize("fields", [
    {"country": "DE"},
    {"postcode_prefix": "10"},
    {"country": "DE", "postcode_prefix": "10115"},
    {"lat_e6": 52_520_008, "lon_e6": 13_404_954, "radius_km": 25},
    {"country": "DE", "lat_e6": 0, "lon_e6": 0, "radius_km": 1},
    {"lat_e6": 90_000_000, "lon_e6": 180_000_000, "radius_km": 1000},
    {"lat_e6": -90_000_000, "lon_e6": -180_000_000, "radius_km": 1},
    {"postcode_prefix": "A"},
    {"postcode_prefix": "SW1A1"},
], ids=str)
def test_valid_locations(fields: dict[str, Any]) -> None:
    location = Location(**fields)
    for name, value in fields.items():
        assert getattr(location, name) == value


@pytest.mark.parametrize("fields", [
    {},
    {"lat_e6": 1, "lon_e6": 1},  # a circle needs all three
    {"radius_km": 10},
    {"country": "DE", "lat_e6": 1, "radius_km": 5},
    {"lat_e6": 1, "lon_e6": 1, "radius_km": 0},
    {"lat_e6": 1, "lon_e6": 1, "radius_km": 1001},
    {"lat_e6": 90_000_001, "lon_e6": 0, "radius_km": 1},
    {"lat_e6": -90_000_001, "lon_e6": 0, "radius_km": 1},
    {"lat_e6": 0, "lon_e6": 180_000_001, "radius_km": 1},
    {"lat_e6": 0, "lon_e6": -180_000_001, "radius_km": 1},
    {"lat_e6": 52.52, "lon_e6": 13.4, "radius_km": 1},  # floats, not micro-degrees
    {"postcode_prefix": "101150"},  # six characters
    {"postcode_prefix": ""},
    {"postcode_prefix": "sw1"},
    {"postcode_prefix": "10 1"},
    {"country": "de"},
    {"country": "DEU"},
    {"country": "D"},
    {"country": "DE\n"},
    {"country": "DE", "city": "Berlin"},
], ids=str)
def test_invalid_locations(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Location(**fields)


def test_a_location_travels_inside_an_intent() -> None:
    near = Location(lat_e6=52_520_008, lon_e6=13_404_954, radius_km=25)
    intent = build(Intent, constraints=Constraints(location=near))
    assert to_cbor_map(intent)["constraints"]["location"] == {
        "lat_e6": 52_520_008, "lon_e6": 13_404_954, "radius_km": 25}


# ------------------------------------------------------------------ bounds


@pytest.mark.parametrize("char", ["a", "ü", "😀"])
def test_short_texts_hold_280_characters_and_no_more(char: str) -> None:
    # the limit counts characters, not UTF-8 bytes
    assert build(Offer, title=char * 280).title == char * 280
    refused(Offer, title=char * 281)
    assert build(Reject, reason=char * 280).reason == char * 280
    refused(Reject, reason=char * 281)
    assert build(Counter, note=char * 280).note == char * 280
    refused(Counter, note=char * 281)
    assert build(Intent, disclosed={"size": char * 280}).disclosed["size"] == char * 280
    refused(Intent, disclosed={"size": char * 281})


@pytest.mark.parametrize("char", ["a", "ü"])
def test_a_description_holds_1000_characters_and_no_more(char: str) -> None:
    assert len(build(Intent, description=char * 1000).description) == 1000
    refused(Intent, description=char * 1001)


def test_message_ids_are_8_to_64_safe_characters() -> None:
    assert build(Offer, id="a" * 8).id == "a" * 8
    assert build(Offer, id="A-z_09" * 10 + "abcd").id == "A-z_09" * 10 + "abcd"
    for bad in ["a" * 7, "a" * 65, "abc.defgh", "abcdefg h", "abcdefgh\n", "äbcdefgh"]:
        refused(Offer, id=bad)
        refused(Offer, intent_id=bad)


def test_disclosed_holds_32_fields_and_no_more() -> None:
    fields = {f"f{i}": "x" for i in range(33)}
    assert len(build(Intent, disclosed=dict(list(fields.items())[:32])).disclosed) == 32
    refused(Intent, disclosed=fields)


def test_field_names_are_lower_case_and_at_most_32_characters() -> None:
    assert build(Intent, disclosed={"a" * 32: "x"}).disclosed == {"a" * 32: "x"}
    for bad in ["a" * 33, "Email", "1st", "_x", "e-mail", ""]:
        refused(Intent, disclosed={bad: "x"})
        with pytest.raises(ValidationError):
            DataRequest(field=bad, purpose="receipt", retention_days=1)


def test_reply_to_holds_8_addresses_of_up_to_256_characters() -> None:
    addr = "/" + "a" * 255
    assert len(ReplyTo(peer_id=PEER, addrs=[addr] * 8).addrs) == 8
    for bad in ([addr] * 9, ["/" + "a" * 256], ["ip4/127.0.0.1"], ["/"], ["/ip4/1.2.3.4 x"]):
        with pytest.raises(ValidationError):
            ReplyTo(peer_id=PEER, addrs=bad)


def test_peer_ids_are_32_to_64_base58_characters() -> None:
    assert ReplyTo(peer_id="1" * 32).peer_id == "1" * 32
    assert ReplyTo(peer_id="z" * 64).peer_id == "z" * 64
    for bad in ["1" * 31, "1" * 65, "0" * 40, "O" * 40, "I" * 40, "l" * 40]:
        with pytest.raises(ValidationError):
            ReplyTo(peer_id=bad)


def test_vendor_terms_hold_16_requests_and_no_more() -> None:
    request = DataRequest(field="email", purpose="receipt", retention_days=1)
    assert len(VendorTerms(requests=[request] * 16).requests) == 16
    with pytest.raises(ValidationError):
        VendorTerms(requests=[request] * 17)


def test_customer_terms_hold_1_to_8_distinct_purposes() -> None:
    assert CustomerTerms(purposes=PURPOSES, retention_days=0).purposes == PURPOSES
    for bad in ([], ["delivery", "delivery"], ["delivery", "selling"], ["Delivery"]):
        with pytest.raises(ValidationError):
            CustomerTerms(purposes=bad, retention_days=0)


def test_retention_is_0_to_3650_days() -> None:
    assert CustomerTerms(purposes=["receipt"], retention_days=3650).retention_days == 3650
    assert DataRequest(field="email", purpose="receipt", retention_days=0).retention_days == 0
    for bad in (-1, 3651):
        with pytest.raises(ValidationError):
            CustomerTerms(purposes=["receipt"], retention_days=bad)
        with pytest.raises(ValidationError):
            DataRequest(field="email", purpose="receipt", retention_days=bad)


def test_scope_holds_1_to_16_categories_and_32_disclosable_fields() -> None:
    assert len(Scope(categories=["outdoor"] * 16).categories) == 16
    assert len(Scope(categories=["outdoor"], may_disclose=["email"] * 32).may_disclose) == 32
    for bad in ({"categories": []}, {"categories": ["outdoor"] * 17},
                {"categories": ["outdoor"], "may_disclose": ["email"] * 33}):
        with pytest.raises(ValidationError):
            Scope(**bad)


def test_receipts_list_1_to_32_fields() -> None:
    for cls in (ConsentReceipt, DeletionReceipt):
        assert len(build(cls, fields=["email"] * 32).fields) == 32
        refused(cls, fields=[])
        refused(cls, fields=["email"] * 33)


def test_counter_rounds_are_1_to_16() -> None:
    assert build(Counter, round=16).round == 16
    refused(Counter, round=0)
    refused(Counter, round=17)


def test_quantities_are_1_to_a_million() -> None:
    assert build(Offer, quantity=1_000_000).quantity == 1_000_000
    refused(Offer, quantity=0)
    refused(Offer, quantity=1_000_001)
    assert Constraints(quantity=1_000_000).quantity == 1_000_000
    with pytest.raises(ValidationError):
        Constraints(quantity=1_000_001)


def test_timestamps_are_0_to_2_to_the_40() -> None:
    assert build(Offer, issued_at=2**40 - 10, expires_at=2**40).expires_at == 2**40
    refused(Offer, issued_at=2**40 - 10, expires_at=2**40 + 1)
    refused(Offer, issued_at=-1)


@pytest.mark.parametrize(("cls", "longest"), [(Offer, 86_400), (Intent, 30 * 86_400),
                                              (Revocation, 3650 * 86_400)])
def test_lifetimes_are_capped_per_type(cls: type, longest: int) -> None:
    # A replay guard keeps a message until it expires: rate times lifetime bounds it.
    assert MAX_LIFETIME[cls.model_fields["type"].default] == longest
    assert build(cls, issued_at=NOW, expires_at=NOW + longest).expires_at == NOW + longest
    refused(cls, issued_at=NOW, expires_at=NOW + longest + 1)


def test_expires_at_must_be_after_issued_at() -> None:
    refused(Offer, expires_at=NOW)
    refused(Offer, expires_at=NOW - 1)
    assert build(Offer, expires_at=NOW + 1).expires_at == NOW + 1


def test_digests_are_32_bytes() -> None:
    refused(Offer, in_reply_to=bytes(31))
    refused(Offer, in_reply_to=bytes(33))
    refused(Offer, in_reply_to=(bytes(32)).hex())


def test_skus_are_1_to_64_safe_characters() -> None:
    assert build(Offer, sku="S" * 64).sku == "S" * 64
    for bad in ["", "S" * 65, "TENT UL2", "TENT/UL2"]:
        refused(Offer, sku=bad)


def test_delegation_nonces_are_16_to_32_bytes() -> None:
    assert build(Delegation, nonce=bytes(32)).nonce == bytes(32)
    refused(Delegation, nonce=bytes(15))
    refused(Delegation, nonce=bytes(33))


@pytest.mark.parametrize("did", ["did:web:example.com", SELLER.did[:-1], SELLER.did + "z",
                                 "did:key:" + SELLER.did[9:], ""])
def test_dids_must_be_did_keys(did: str) -> None:
    # The did:key check raises the protocol's DidError (reason bad_did, spec §2.1) from
    # inside validation; the length limit raises pydantic's ValidationError.
    assert build(Delegation, delegate=SELLER.did).delegate == SELLER.did
    with pytest.raises((ValidationError, IntentcastError)) as info:
        build(Delegation, delegate=did)
    if isinstance(info.value, IntentcastError):
        assert info.value.reason is Reason.BAD_DID
    with pytest.raises((ValidationError, IntentcastError)):
        build(ConsentReceipt, controller=did)


# ------------------------------------------------------------------ strict, frozen, closed


@pytest.mark.parametrize("cls", list(FIELDS), ids=lambda cls: cls.__name__)
def test_every_message_is_frozen(cls: type[BaseModel]) -> None:
    message = build(cls)
    with pytest.raises(ValidationError):
        message.id = "another-0001"
    assert message.id == COMMON["id"]


def test_terms_money_and_location_are_frozen() -> None:
    values: list[tuple[BaseModel, str, Any]] = [
        (eur(100), "amount", 1),
        (Location(country="DE"), "country", "FR"),
        (TERMS, "retention_days", 3650),
        (DataRequest(field="email", purpose="receipt", retention_days=1), "resale", True),
        (VendorTerms(), "delete_on_revocation", False),
    ]
    for model, name, value in values:
        before = getattr(model, name)
        with pytest.raises(ValidationError):
            setattr(model, name, value)
        assert getattr(model, name) == before


@pytest.mark.parametrize("cls", list(FIELDS), ids=lambda cls: cls.__name__)
def test_every_message_forbids_unknown_fields(cls: type[BaseModel]) -> None:
    refused(cls, loyalty=1)
    wire = to_cbor_map(build(cls))
    assert MESSAGE_ADAPTER.validate_python(wire) == build(cls)
    with pytest.raises(ValidationError):
        MESSAGE_ADAPTER.validate_python({**wire, "loyalty": 1})


def test_nested_models_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        CustomerTerms.model_validate({"purposes": ["receipt"], "retention_days": 1, "x": 1})
    with pytest.raises(ValidationError):
        DataRequest.model_validate(
            {"field": "email", "purpose": "receipt", "retention_days": 1, "sell": True})
    with pytest.raises(ValidationError):
        VendorTerms.model_validate({"requests": [], "gdpr": True})
    with pytest.raises(ValidationError):
        ReplyTo.model_validate({"peer_id": PEER, "relay": "/ip4/1.2.3.4"})


@pytest.mark.parametrize(("field", "value"), [
    ("issued_at", str(NOW)), ("issued_at", float(NOW)), ("quantity", True), ("quantity", "1"),
    ("quantity", 1.0), ("title", 5), ("in_reply_to", list(bytes(32))),
])
def test_messages_are_strict_about_types(field: str, value: Any) -> None:
    refused(Offer, **{field: value})


@pytest.mark.parametrize("cls", list(FIELDS), ids=lambda cls: cls.__name__)
def test_a_message_map_is_dispatched_on_its_type(cls: type[BaseModel]) -> None:
    wire = to_cbor_map(build(cls))
    parsed = MESSAGE_ADAPTER.validate_python(wire)
    assert type(parsed) is cls
    assert parsed.type == wire["type"]


@pytest.mark.parametrize("wrong", ["offer", "accept", "agreement", "invoice", "Intent", "", None])
def test_a_map_under_the_wrong_type_is_refused(wrong: Any) -> None:
    wire = to_cbor_map(build(Intent))
    with pytest.raises(ValidationError):
        MESSAGE_ADAPTER.validate_python({**wire, "type": wrong})


def test_a_map_without_a_type_is_refused() -> None:
    wire = {k: v for k, v in to_cbor_map(build(Intent)).items() if k != "type"}
    with pytest.raises(ValidationError):
        MESSAGE_ADAPTER.validate_python(wire)


def test_a_model_cannot_claim_another_type() -> None:
    refused(Intent, type="offer")
    refused(Offer, type="intent")


def test_absent_optionals_are_left_out_of_the_wire_map() -> None:
    wire = to_cbor_map(build(Withdraw))
    assert "in_reply_to" not in wire
    assert None not in wire.values()
    assert "note" not in to_cbor_map(build(Counter))


# ------------------------------------------------------------------ categories


@pytest.mark.parametrize("category", [
    "outdoor", "outdoor.camping.tents", "a.b.c.d.e.f.g.h", "home-garden.bbq", "x1.y2-z3",
    "9", "a" * 128, ".".join(["a" * 15] * 8),
])
def test_valid_category_paths(category: str) -> None:
    assert build(Intent, category=category).category == category
    assert Scope(categories=[category]).categories == [category]


@pytest.mark.parametrize("category", [
    "", "a.b.c.d.e.f.g.h.i", "Outdoor", "outdoor.Camping", "outdoor..tents", ".outdoor",
    "outdoor.", "outdoor/camping", "out door", "out_door", "-outdoor", "outdoor-",
    "out--door", "outdoor.-tents", "a" * 129, ".".join(["a" * 16] * 8) + "a", "zelt.für",
    "outdoor\n",
], ids=repr)
def test_invalid_category_paths(category: str) -> None:
    refused(Intent, category=category)
    with pytest.raises(ValidationError):
        Scope(categories=[category])


def test_the_topic_category_is_the_first_segment() -> None:
    assert build(Intent, category="outdoor.camping.tents").topic_category == "outdoor"
    assert build(Intent, category="food").topic_category == "food"


# ------------------------------------------------------------------ the terms check


def request(field: str = "email", purpose: str = "receipt", retention_days: int = 30,
            **flags: bool) -> DataRequest:
    return DataRequest(field=field, purpose=purpose, retention_days=retention_days, **flags)


def clauses(conflicts: list[Conflict]) -> list[tuple[str, str | None]]:
    return [(c.clause, c.field) for c in conflicts]


def test_compatible_terms_have_no_conflicts() -> None:
    vendor = VendorTerms(requests=[request("email", "receipt", 90),
                                   request("shipping_address", "delivery", 0)])
    assert check(TERMS, vendor) == []
    assert check(TERMS, VendorTerms()) == []


def test_a_purpose_the_person_does_not_allow_conflicts() -> None:
    conflicts = check(TERMS, VendorTerms(requests=[request("email", "marketing")]))
    assert clauses(conflicts) == [("purposes", "email")]
    assert "marketing" in conflicts[0].detail


def test_retention_over_the_limit_conflicts_and_at_the_limit_does_not() -> None:
    assert check(TERMS, VendorTerms(requests=[request(retention_days=90)])) == []
    conflicts = check(TERMS, VendorTerms(requests=[request(retention_days=91)]))
    assert clauses(conflicts) == [("retention_days", "email")]
    assert "91" in conflicts[0].detail
    assert "90" in conflicts[0].detail


def test_resale_conflicts_only_when_the_person_forbids_it() -> None:
    vendor = VendorTerms(requests=[request(resale=True)])
    assert clauses(check(TERMS, vendor)) == [("no_resale", "email")]
    allowing = CustomerTerms(purposes=["receipt"], retention_days=90, no_resale=False)
    assert check(allowing, vendor) == []


def test_profiling_conflicts_only_when_the_person_forbids_it() -> None:
    vendor = VendorTerms(requests=[request(profiling=True)])
    assert clauses(check(TERMS, vendor)) == [("no_profiling", "email")]
    allowing = CustomerTerms(purposes=["receipt"], retention_days=90, no_profiling=False)
    assert check(allowing, vendor) == []


def test_refusing_deletion_on_revocation_conflicts_without_a_field() -> None:
    vendor = VendorTerms(requests=[request()], delete_on_revocation=False)
    assert clauses(check(TERMS, vendor)) == [("delete_on_revocation", None)]
    relaxed = CustomerTerms(purposes=["receipt"], retention_days=90, delete_on_revocation=False)
    assert check(relaxed, vendor) == []


def test_every_conflict_is_reported_in_request_order() -> None:
    vendor = VendorTerms(requests=[
        request("email", "receipt", 30),  # fine
        request("email", "marketing", 730, profiling=True),
        request("phone", "analytics", 30, resale=True),
        request("shipping_address", "delivery", 4000 - 350),
    ], delete_on_revocation=False)
    conflicts = check(TERMS, vendor)
    assert clauses(conflicts) == [
        ("purposes", "email"), ("retention_days", "email"), ("no_profiling", "email"),
        ("purposes", "phone"), ("no_resale", "phone"),
        ("retention_days", "shipping_address"),
        ("delete_on_revocation", None),
    ]
    for conflict in conflicts:
        assert conflict.detail.strip()
        assert "\n" not in conflict.detail


def test_one_request_breaking_every_clause_reports_each() -> None:
    vendor = VendorTerms(requests=[request("email", "marketing", 3650, resale=True,
                                           profiling=True)])
    assert [c.clause for c in check(TERMS, vendor)] == [
        "purposes", "retention_days", "no_resale", "no_profiling"]


def test_the_terms_vectors() -> None:
    for case in load("terms.json"):
        customer = CustomerTerms.model_validate(case["customer_terms"])
        vendor = VendorTerms.model_validate(case["vendor_terms"])
        expected = [(c["clause"], c["field"]) for c in case["conflicts"]]
        assert clauses(check(customer, vendor)) == expected, case["name"]


# ------------------------------------------------------------------ the terms hash


def _independent_terms_hash(sku: str, quantity: int, price: dict[str, Any],
                            customer: dict[str, Any], vendor: dict[str, Any]) -> bytes:
    # Text-only keys: cbor2's length-first canonical order is the bytewise order of §4.2.1.
    body = {"sku": sku, "quantity": quantity, "price": price, "customer_terms": customer,
            "vendor_terms": vendor}
    return hashlib.sha256(cbor2.dumps(body, canonical=True)).digest()


def test_the_terms_hash_is_the_spec_formula_with_defaults_written_out() -> None:
    vendor = VendorTerms(requests=[request()])
    got = terms_hash(sku="TENT-UL2", quantity=1, price=eur(19_950), customer=TERMS,
                     vendor=vendor)
    expected = _independent_terms_hash(
        "TENT-UL2", 1, {"amount": 19_950, "currency": "EUR"},
        {"purposes": ["delivery", "receipt"], "retention_days": 90, "no_resale": True,
         "no_profiling": True, "delete_on_revocation": True},
        {"requests": [{"field": "email", "purpose": "receipt", "retention_days": 30,
                       "resale": False, "profiling": False}],
         "delete_on_revocation": True},
    )
    assert got == expected
    assert len(got) == 32


def test_the_terms_hash_is_stable_and_matches_the_checked_in_vector() -> None:
    vector = next(v for v in load("envelopes.json") if v["name"] == "agreement")
    m = vector["message"]
    recorded = bytes.fromhex(m["terms_hash"])
    assert _independent_terms_hash(m["sku"], m["quantity"], m["price"], m["customer_terms"],
                                   m["vendor_terms"]) == recorded
    models = {"sku": m["sku"], "quantity": m["quantity"],
              "price": Money.model_validate(m["price"]),
              "customer": CustomerTerms.model_validate(m["customer_terms"]),
              "vendor": VendorTerms.model_validate(m["vendor_terms"])}
    assert terms_hash(**models) == recorded
    assert terms_hash(**models) == terms_hash(**models)


def test_the_terms_hash_does_not_depend_on_how_defaults_were_given() -> None:
    implicit = CustomerTerms(purposes=["receipt"], retention_days=30)
    explicit = CustomerTerms(purposes=["receipt"], retention_days=30, no_resale=True,
                             no_profiling=True, delete_on_revocation=True)
    args: dict[str, Any] = {"sku": "S1", "quantity": 2, "price": eur(100),
                            "vendor": VendorTerms()}
    assert terms_hash(customer=implicit, **args) == terms_hash(customer=explicit, **args)


@pytest.mark.parametrize("change", [
    {"sku": "S2"}, {"quantity": 3}, {"price": eur(101)},
    {"price": Money(amount=100, currency="USD")},
    {"customer": CustomerTerms(purposes=["receipt"], retention_days=31)},
    {"customer": CustomerTerms(purposes=["receipt"], retention_days=30, no_resale=False)},
    {"vendor": VendorTerms(delete_on_revocation=False)},
    {"vendor": VendorTerms(requests=[request()])},
], ids=str)
def test_the_terms_hash_changes_with_every_bound_term(change: dict[str, Any]) -> None:
    base: dict[str, Any] = {"sku": "S1", "quantity": 2, "price": eur(100),
                            "customer": CustomerTerms(purposes=["receipt"], retention_days=30),
                            "vendor": VendorTerms()}
    assert terms_hash(**{**base, **change}) != terms_hash(**base)


def test_an_agreement_must_carry_the_right_terms_hash() -> None:
    good = agreement()
    assert good.terms_hash == terms_hash(sku="TENT-UL2", quantity=1, price=eur(19_000),
                                         customer=TERMS, vendor=good.vendor_terms)
    with pytest.raises(ValidationError):
        agreement(terms_hash=bytes(32))
    with pytest.raises(ValidationError):
        agreement(terms_hash=good.terms_hash, price=eur(18_000))


def test_countersign_by_lies_between_issued_at_and_expires_at() -> None:
    good = agreement()
    for wrong in (good.issued_at, good.issued_at - 1, good.expires_at + 1):
        with pytest.raises(ValidationError):
            agreement(countersign_by=wrong)


def test_an_ack_carries_a_reason_exactly_when_it_refuses() -> None:
    common = {**COMMON, "about": bytes(32)}
    assert Ack(**common, outcome="stored").reason is None
    assert Ack(**common, outcome="refused", reason="too late").reason == "too late"
    for wrong in ({"outcome": "stored", "reason": "why"}, {"outcome": "refused"},
                  {"outcome": "maybe"}):
        with pytest.raises(ValidationError):
            Ack(**common, **wrong)


def test_an_agreement_needs_two_different_parties() -> None:
    with pytest.raises(ValidationError):
        agreement(vendor=BUYER.did)


def test_reply_addresses_are_printable_ascii_as_the_cddl_says() -> None:
    with pytest.raises(ValidationError):
        ReplyTo(peer_id=PEER, addrs=["/ip4/é"])
    assert ReplyTo(peer_id=PEER, addrs=["/ip4/127.0.0.1/tcp/1"]).addrs


@pytest.mark.parametrize("code", ["XCG", "VED"])
def test_recent_iso_4217_codes_are_known(code: str) -> None:
    assert Money(amount=1, currency=code).currency == code


@pytest.mark.parametrize("text", ["\u0661\u0662", "\u00b2", "1.\u0665"])
def test_amounts_are_ascii_digits_only(text: str) -> None:
    with pytest.raises(ValueError, match="is not an amount"):
        parse_amount(text, "EUR")
