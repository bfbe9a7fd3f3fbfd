"""`intentcast demo --scenario data-rights`: disclosure under consent, revocation, unlinkability.

A person and two vendors, each its own process. The person keeps attributes in
their own store, strikes one deal with each vendor (a tent, a rope), and each
vendor receives only the fields its agreement asks for, sealed to its key,
with a consent receipt. The person then withdraws the consent given to the
first vendor, which deletes and proves it. Finally the demo compares what the
two vendors received: leaving out the broadcast intents both got byte for
byte, they share no identifier.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from intentcast.agents.demo.harness import Agent, Demo, DemoError
from intentcast.agents.person.client import Client
from intentcast.protocol import ConsentReceipt, IntentcastError, cose, envelope

PROFILE = {"email": "ada@example.org", "shipping_address": "Hauptstr. 1, 10115 Berlin",
           "phone": "+49 30 1234567"}
DEALS = [("outdoor.camping.tents", "Two-person backpacking tent", "200.00"),
         ("outdoor.climbing.ropes", "A 60 m dynamic climbing rope", "150.00")]


def play(demo: Demo, api: Client, vendors: list[Agent], out: Path | None) -> dict[str, Any]:
    say = demo.say
    for name, value in PROFILE.items():
        api.call("PUT", f"/v1/profile/{name}", json={"value": value})
    say("\n1. The person's profile, sealed in their own store: "
        + ", ".join(PROFILE) + " (none of it in any intent)")
    api.call("GET", "/v1/peers", params={"topic": "/intentcast/1/intents/outdoor",
                                         "count": len(vendors), "wait": 10})
    agreements = []
    for n, (category, description, cap) in enumerate(DEALS, 2):
        intent = api.call("POST", "/v1/intents", json={
            "category": category, "description": description, "max_price": cap,
            "currency": "EUR", "expires_in": 3600})
        offer = api.call("GET", f"/v1/intents/{intent['id']}/offers",
                         params={"wait": 15, "count": 1})
        if not offer:
            raise DemoError(f"no offer for {description}")
        agreement = api.call("POST", f"/v1/offers/{offer[0]['ref']}/accept")
        agreements.append(agreement)
        vendor = next(v for v in vendors if v.ready["did"] == agreement["vendor"])
        say(f"\n{n}. {description}: agreed with {vendor.ready['name']} at "
            f"{offer[0]['price_minor'] / 100:.2f} EUR, signed with a key made for this "
            "intent alone")
    held = _consents(api, len(agreements))
    for c in held:
        vendor = next(v for v in vendors if v.ready["did"] == c["vendor"])
        say(f"   {vendor.ready['name']} received {', '.join(c['fields'])} for "
            f"{', '.join(c['purposes'])}, sealed to its key, with consent receipt {c['id']}")
    say("   (the phone number was asked for by no one, so it never left the person's store)")
    loyalty = _loyalty(demo, api, vendors)
    first = held[0]
    revoked = api.call("POST", f"/v1/consents/{first['id']}/revoke")
    say(f"\n5. The person withdraws consent {first['id']}: the vendor erases the data and "
        f"answers with a signed deletion receipt ({revoked['state']})")
    if revoked["state"] != "deleted":
        raise DemoError("the vendor did not prove the deletion")
    views = [_received(v.home) for v in vendors]
    shared = sorted(_identifiers(views[0]) & _identifiers(views[1]))
    say(f"\n6. What the two vendors could link: {shared or 'nothing'} (leaving out the two "
        "broadcast intents both received byte for byte)")
    if out is not None:
        parties = [("person", _received_by_person(demo.root / "person"))]
        parties += [(v.name, _received(v.home, intents=True)) for v in vendors]
        for party, view in parties:
            folder = out / party
            folder.mkdir(parents=True, exist_ok=True)
            for n, raw in enumerate(view, 1):
                kind = envelope.read_stored(raw).type
                (folder / f"{n:02d}-{kind}.cbor").write_bytes(raw)
    receipts = api.call("GET", "/v1/consents")
    return {
        "agreements": [{"id": a["id"], "vendor": a["vendor"], "price_minor": a["price_minor"],
                        "currency": a["currency"]} for a in api.call("GET", "/v1/agreements")],
        "consent_receipts": sum(_valid_receipt(demo, c) for c in receipts),
        "deletion_receipts": sum(_valid_deletion(c) for c in receipts),
        "shared_identifiers": shared,
        "loyalty": loyalty,
    }


def _loyalty(demo: Demo, api: Client, vendors: list[Agent]) -> dict[str, Any]:
    """The credit the first deal earned, spent on a later intent with the same vendor."""
    say = demo.say
    deadline = time.monotonic() + 10
    while not (held := api.call("GET", "/v1/credits")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the credit comes with the vendor's answer to the disclosure
    if not held:
        raise DemoError("no loyalty credit was issued")
    credit = held[0]
    issuer = next(v for v in vendors if v.ready["did"] == credit["vendor"])
    say(f"\n4. {issuer.ready['name']} gave the person's pseudonym with it a loyalty credit of "
        f"{credit['value_minor'] / 100:.2f} EUR: no account, no card")
    intent = api.call("POST", "/v1/intents", json={
        "category": "outdoor.camping.sleeping-bags", "description": "a down sleeping bag",
        "max_price": "160.00", "currency": "EUR", "expires_in": 3600})
    offer = api.call("GET", f"/v1/intents/{intent['id']}/offers",
                     params={"wait": 15, "count": 1})[0]
    honoured = api.call("POST", f"/v1/offers/{offer['ref']}/redeem")
    lower = offer["price_minor"] - honoured["value_minor"]
    api.call("POST", f"/v1/offers/{offer['ref']}/counter",
             json={"price": f"{lower / 100:.2f}", "note": "with my loyalty credit"})
    agreement = api.call("POST", f"/v1/offers/{offer['ref']}/accept")
    say(f"   on a later intent it presented the credit to that vendor only: "
        f"{offer['price_minor'] / 100:.2f} became {agreement['price_minor'] / 100:.2f} EUR")
    states = [c["state"] for c in api.call("GET", "/v1/credits")]
    return {"earned": len(held), "redeemed": states.count("spent"),
            "discount_minor": offer["price_minor"] - agreement["price_minor"]}


def _consents(api: Client, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        held = api.call("GET", "/v1/consents")
        if len(held) >= count:
            return list(held)
        time.sleep(0.1)  # each disclosure completes just after its agreement
    raise DemoError("the disclosures did not complete")


def _valid_receipt(demo: Demo, c: dict[str, Any]) -> bool:
    db = sqlite3.connect(f"file:{demo.root / 'person' / 'store.sqlite'}?mode=ro", uri=True)
    try:
        (raw,) = db.execute("SELECT receipt FROM consents WHERE id = ?", (c["id"],)).fetchone()
    finally:
        db.close()
    try:
        return isinstance(envelope.open(bytes(raw), now=int(time.time())).message,
                          ConsentReceipt)
    except IntentcastError:
        return False


def _valid_deletion(c: dict[str, Any]) -> bool:
    if not c["deletion_receipt_hex"]:
        return False
    try:
        deleted = envelope.open(bytes.fromhex(c["deletion_receipt_hex"]), now=int(time.time()))
    except IntentcastError:
        return False
    return bool(deleted.signer == c["vendor"])


def _received(home: Path, *, intents: bool = False) -> list[bytes]:
    """Every envelope a vendor received, from its own store (the broadcast intents only
    when asked: both vendors received them byte for byte)."""
    db = sqlite3.connect(f"file:{home / 'store.sqlite'}?mode=ro", uri=True)
    try:
        rows = [bytes(r[0]) for r in db.execute(
            "SELECT raw FROM envelopes WHERE direction = 'in'"
            + ("" if intents else " AND type != 'intent'") + " ORDER BY at, rowid")]
        for receipt, disclosure in db.execute("SELECT receipt, disclosure FROM consents"):
            rows += [bytes(receipt)] + ([bytes(disclosure)] if disclosure else [])
    finally:
        db.close()
    return rows


def _received_by_person(home: Path) -> list[bytes]:
    """Offers, counters and agreements the person received, and the deletion receipts."""
    db = sqlite3.connect(f"file:{home / 'store.sqlite'}?mode=ro", uri=True)
    try:
        rows = [bytes(r[0]) for r in db.execute(
            "SELECT raw FROM envelopes WHERE direction = 'in' ORDER BY at, rowid")]
        rows += [bytes(r[0]) for r in db.execute(
            "SELECT deletion FROM consents WHERE deletion IS NOT NULL")]
        rows += [bytes(r[0]) for r in db.execute("SELECT raw FROM credits")]
    finally:
        db.close()
    return rows


def _identifiers(envelopes: list[bytes]) -> set[str]:
    """DIDs, key ids, message ids, digests and peer ids in envelopes and their payloads."""
    found: set[str] = set()
    for raw in envelopes:
        signed = cose.parse(raw)
        found.update(s.signer for s in signed.signatures)
        _walk(envelope.parse_message(signed.payload).model_dump(), found)
    return found


def _walk(value: Any, found: set[str], key: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(v, found, k)
    elif isinstance(value, list):
        for v in value:
            _walk(v, found, key)
    elif isinstance(value, str) and (value.startswith("did:") or key.endswith("id")
                                     or key == "peer_id"):
        found.add(value)
    elif isinstance(value, bytes) and len(value) == 32:
        found.add(value.hex())
