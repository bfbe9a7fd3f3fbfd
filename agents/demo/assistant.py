"""`intentcast demo --assistant best-price`: the networked demo, an assistant negotiating.

Five processes: the person's daemon, three vendors and an assistant in its own
home with its own key. The person grants the assistant limits, posts an intent
naming it, and reads back what it did: every move it signed is in the person's
audit log, and the agreement names it as the agent, under a chain that starts
at the intent's key.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from intentcast.agents.demo.harness import (
    EXAMPLES,
    Agent,
    Demo,
    DemoError,
    init_home,
    wait_for_agreement,
    write_out,
)
from intentcast.agents.person.client import Client
from intentcast.agents.runtime.home import Config
from intentcast.agents.runtime.render import short_did
from intentcast.protocol import Agreement, envelope, format_amount, verify_chain

ASSISTANTS = {
    "best-price": "best_price.py:BestPrice",
    "privacy-guard": "privacy_guard.py:PrivacyGuard",
    "price-watch": "price_watch.py:PriceWatch",
}
EXAMPLE_ASSISTANTS = EXAMPLES / "assistants"
TOPIC = "/intentcast/1/intents/outdoor"


def negotiate(demo: Demo, api: Client, vendors: list[Agent], bootstrap: str, name: str,
              out: Path | None) -> dict[str, Any]:
    say = demo.say
    if name not in ASSISTANTS:
        raise DemoError(f"no assistant {name!r}; one of {', '.join(ASSISTANTS)}")
    home = demo.root / "assistant"
    did = init_home(home, Config(role="assistant"))
    say(f"\n1. An assistant, {name}, gets its own home and key: {short_did(did)}")
    grant = api.call("POST", "/v1/assistants/grants", json={
        "assistant": did, "categories": ["outdoor"], "max_price": "200.00", "currency": "EUR",
        "may_counter": True, "may_accept": True, "expires_in": 3600,
    })
    grant_file = demo.root / "grant.json"
    grant_file.write_text(json.dumps(grant["file"]))
    say("2. The person grants it: outdoor only, up to 200.00 EUR, may counter and accept,")
    say("   for one hour (signed with a key the person keeps for this assistant alone)")
    spec = str(EXAMPLE_ASSISTANTS / ASSISTANTS[name])
    agent = demo.wait_ready(demo.spawn("assistant", home, [
        "assistant", "run", spec, "--delegation", str(grant_file), "--bootstrap", bootstrap]))
    say(f"   the assistant runs as its own peer {agent.ready['peer_id'][:16]}…")
    outdoor = sum("outdoor" in v.ready["topics"] for v in vendors)
    api.call("GET", "/v1/peers", params={"topic": TOPIC, "count": outdoor, "wait": 10})
    intent = api.call("POST", "/v1/intents", json={
        "category": "outdoor.camping.tents", "description": "Two-person backpacking tent",
        "max_price": "200.00", "currency": "EUR", "expires_in": 3600, "assistant": did,
    })
    say(f"\n3. The person posts intent {intent['id']} naming the assistant; vendors call it")
    agreement = _await_agreement(api, intent["id"])
    raw = bytes.fromhex(api.call("GET", f"/v1/agreements/{agreement['id']}")["envelope_hex"])
    now = int(time.time())
    verified = envelope.open(raw, now=now)
    message = verified.message
    assert isinstance(message, Agreement)
    if message.delegation is None or message.agent is None:
        raise DemoError("the agreement does not name the assistant as its agent")
    chain = verify_chain(message.delegation, root=message.buyer, now=message.issued_at)
    say("\n4. What the assistant did, from the person's audit log (each entry a signed "
        "envelope):")
    for row in api.call("GET", "/v1/assistants/log", params={"intent_id": intent["id"]}):
        price = row.get("price")
        money = format_amount(price["amount"], price["currency"]) if price else ""
        say(f"   {row['kind']:<17} {row.get('type', ''):<9} {money:>11}  "
            f"{row.get('text') or row.get('note') or ''}".rstrip())
    vendor = next(v for v in vendors if v.ready["did"] == message.vendor)
    kept = wait_for_agreement(vendor.home / "store.sqlite", message.id)
    say(f"\n5. Agreement {message.id}: {format_amount(message.price.amount, 'EUR')} with "
        f"{vendor.ready['name']}, signed by the vendor and by the assistant for the person;")
    say(f"   chain {' -> '.join(short_did(d) for d in chain.chain)} (intent key -> assistant)")
    if kept != raw:
        raise DemoError("the vendor stored a different agreement")
    if out is not None:
        write_out(out, demo, vendors, raw)
    return {
        "intent_id": intent["id"], "assistant": did,
        "offers": _offers(demo),
        "agreement": {"id": message.id, "buyer": message.buyer, "vendor": message.vendor,
                      "price_minor": message.price.amount, "currency": message.price.currency,
                      "signatures": len(verified.signers), "accepted_by": _accepted_by(raw),
                      "delegation_chain": list(chain.chain)},
    }


def _await_agreement(api: Client, intent_id: str, timeout: float = 25.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [a for a in api.call("GET", "/v1/agreements") if a["intent_id"] == intent_id]
        if found:
            return dict(found[0])
        time.sleep(0.1)  # the person's daemon learns of it when the assistant files it
    raise DemoError("the assistant made no agreement in time (see its log)")


def _accepted_by(agreement: bytes) -> str:
    message = envelope.read_stored(agreement)
    assert isinstance(message, Agreement)
    return message.agent or message.buyer


def _offers(demo: Demo) -> list[dict[str, Any]]:
    """The offers the assistant received, read from its own store."""
    import sqlite3

    db = sqlite3.connect(f"file:{demo.root / 'assistant' / 'store.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT counterparty, raw FROM envelopes WHERE type = 'offer' "
                          "AND direction = 'in' ORDER BY at, rowid").fetchall()
    finally:
        db.close()
    offers = []
    for vendor, raw in rows:
        offer = envelope.read_stored(bytes(raw))
        price = getattr(offer, "price", None)
        if price is not None:
            offers.append({"vendor": vendor, "price_minor": price.amount,
                           "currency": price.currency})
    return offers
