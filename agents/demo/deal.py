"""The deal scenario: an intent, offers, a counter, an accept and the agreement both keep."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from intentcast.agents.demo.harness import Agent, Demo, DemoError, wait_for_agreement, write_out
from intentcast.agents.person.client import Client
from intentcast.agents.runtime.render import short_did
from intentcast.protocol import envelope, format_amount


def negotiate(demo: Demo, api: Client, vendors: list[Agent], out: Path | None
               ) -> dict[str, Any]:
    say = demo.say
    outdoor = sum("outdoor" in v.ready["topics"] for v in vendors)
    topic = "/intentcast/1/intents/outdoor"
    api.call("GET", "/v1/peers", params={"topic": topic, "count": outdoor, "wait": 10})
    say(f"\n1. The person posts an intent through the daemon's API (signed with a key made\n"
        f"   for this intent alone) and it goes out on {topic}")
    intent = api.call("POST", "/v1/intents", json={
        "category": "outdoor.camping.tents",
        "description": "Two-person backpacking tent, under 2 kg",
        "max_price": "200.00", "currency": "EUR", "country": "DE", "postcode_prefix": "10",
        "disclosed": {"size": "2 persons"}, "expires_in": 3600,
    })
    say(f"   intent {intent['id']}: {intent['description']}, at most 200.00 EUR")
    offers = api.call("GET", f"/v1/intents/{intent['id']}/offers",
                      params={"wait": 15, "count": outdoor})
    say("\n2. Offers arrive over direct streams from the vendors whose catalogs match:")
    for o in offers:
        say(f"   {short_did(o['vendor'])}  {o['title']}  "
            f"{format_amount(o['price_minor'], o['currency'])}")
        if o["state"] == "rejected":
            say(f"      refused at once: its data terms break the person's terms "
                f"({o['note'].split(':')[0]})")
    say("   (the kitchen shop never heard the intent: it subscribes to kitchen only)")
    open_offers = [o for o in offers if o["state"] == "buyer_turn"]
    if not open_offers:
        raise DemoError("no vendor made an acceptable offer")
    best = min(open_offers, key=lambda o: o["price_minor"])
    say("\n3. The person counters the best offer at 180.00 EUR")
    answer = api.call("POST", f"/v1/offers/{best['ref']}/counter",
                      json={"price": "180.00", "note": "would you do 180?"})
    say(f"   the vendor's policy answers {format_amount(answer['price_minor'], 'EUR')}")
    say("\n4. The person accepts; the vendor signs the agreement, the person's agent checks it,")
    say("   stores it, then countersigns")
    agreement = api.call("POST", f"/v1/offers/{best['ref']}/accept")
    raw = bytes.fromhex(agreement["envelope_hex"])
    verified = envelope.open(raw, now=int(time.time()))
    vendor = next(v for v in vendors if v.ready["did"] == agreement["vendor"])
    kept = wait_for_agreement(vendor.home / "store.sqlite", agreement["id"])
    say(f"\n5. Agreement {agreement['id']}: "
        f"{format_amount(agreement['price_minor'], agreement['currency'])}, "
        f"{len(verified.signers)} valid signatures (COSE_Sign)")
    say(f"   stored by the person and by {vendor.ready['name']} "
        f"({'identical bytes' if kept == raw else 'DIFFERENT bytes'})")
    if kept != raw:
        raise DemoError("the vendor stored a different agreement")
    if out is not None:
        write_out(out, demo, vendors, raw)
        say(f"   every envelope is under {out}/; try: intentcast inspect "
            f"{out / 'person' / 'agreement.cbor'}")
    return {
        "intent_id": intent["id"],
        "offers": [{"vendor": o["vendor"], "price_minor": o["price_minor"],
                    "currency": o["currency"]} for o in offers],
        "agreement": {"id": agreement["id"], "buyer": agreement["buyer"],
                      "vendor": agreement["vendor"], "price_minor": agreement["price_minor"],
                      "currency": agreement["currency"], "signatures": len(verified.signers)},
    }
