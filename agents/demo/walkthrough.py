"""`make demo` before the network exists: the whole protocol, in one process.

One person, three vendors. The person's agent broadcasts a signed intent; the
vendors whose category matches answer with signed offers; the person's agent
drops the offer whose data requests break the person's terms, counters the
best of the rest, accepts the vendor's answer, and both sides sign the
agreement. Every step runs the real protocol code on real envelopes; only the
transport is a function call.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from intentcast.agents.runtime.render import money, short_did
from intentcast.protocol import (
    Agreement,
    Constraints,
    CustomerTerms,
    DataRequest,
    Intent,
    KeyPair,
    Location,
    MasterKey,
    Money,
    Negotiation,
    ReplyTo,
    Role,
    VendorTerms,
    check_terms,
    envelope,
    new_id,
)

# A syntactically valid libp2p peer id: the walk-through sends nothing anywhere.
_DEMO_PEER = "12D3KooWDemoWa1kthroughNoNetworkXXXXXXXXXXXXXXXXXXXXX"


@dataclass
class Vendor:
    name: str
    category: str
    sku: str
    title: str
    list_price: int
    floor_price: int
    terms: VendorTerms
    key: KeyPair

    def matches(self, intent: Intent) -> bool:
        return intent.category == self.category or intent.category.startswith(self.category + ".")

    def answer(self, buyer_price: int) -> int:
        """Concede halfway toward the buyer's price, never below the floor."""
        return max(self.floor_price, (self.list_price + buyer_price) // 2)


@dataclass
class Wire:
    """Stands in for the network: hands envelopes over and keeps a copy of each."""

    received: list[tuple[str, bytes]] = field(default_factory=list)

    def deliver(self, party: str, machine: Negotiation, data: bytes, *, now: int) -> None:
        machine.receive(data, now=now)
        self.received.append((party, data))

    def write(self, out: Path) -> None:
        """Each envelope as raw CBOR under out/<receiving party>/; the final agreement
        is person/agreement.cbor."""
        for n, (party, data) in enumerate(self.received, 1):
            folder = out / party
            folder.mkdir(parents=True, exist_ok=True)
            kind = envelope.read_stored(data).type
            (folder / f"{n:02d}-{kind}.cbor").write_bytes(data)


def _vendors() -> list[Vendor]:
    receipt = DataRequest(field="email", purpose="receipt", retention_days=30)
    delivery = DataRequest(field="shipping_address", purpose="delivery", retention_days=30)
    return [
        Vendor("Trailhead Outfitters", "outdoor.camping", "TH-TENT-2", "Ridgeline 2P tent, 1.9 kg",
               21900, 18500, VendorTerms(requests=[receipt, delivery]), KeyPair(os.urandom(32))),
        Vendor("BargainBlast", "outdoor", "BB-TENT-2", "Budget dome tent 2P, 2.8 kg", 14900, 14900,
               VendorTerms(requests=[
                   receipt,
                   DataRequest(field="email", purpose="marketing", retention_days=730,
                               profiling=True),
               ], delete_on_revocation=False), KeyPair(os.urandom(32))),
        Vendor("Copper Kettle Kitchens", "kitchen", "CK-PAN-28", "Cast-iron pan 28 cm", 5900, 4900,
               VendorTerms(requests=[receipt]), KeyPair(os.urandom(32))),
    ]


def run(*, as_json: bool = False, out: Path | None = None) -> int:
    started = time.monotonic()
    wire = Wire()
    say = (lambda *_: None) if as_json else print
    now = int(time.time())
    person = MasterKey(os.urandom(32))
    intent_key = person.intent_key(os.urandom(16))
    terms = CustomerTerms(purposes=["delivery", "receipt"], retention_days=90)
    intent = Intent(
        id=new_id(), issued_at=now, expires_at=now + 3600,
        category="outdoor.camping.tents", description="Two-person backpacking tent, under 2 kg",
        constraints=Constraints(max_price=Money(amount=20000, currency="EUR"),
                                location=Location(country="DE", postcode_prefix="10")),
        disclosed={"size": "2 persons"}, terms=terms, reply_to=ReplyTo(peer_id=_DEMO_PEER),
    )
    intent_env = envelope.seal(intent, intent_key)
    say("intentcast walk-through: the protocol alone, in one process\n")
    say("1. The person's agent signs an intent with a key made for this intent only:")
    say(f"   {short_did(intent_key.did)} (derived from the person's master seed; it links to")
    say("   nothing else the person ever signed)")
    cap = intent.constraints.max_price
    assert cap is not None
    say(f"   wants: {intent.description!r} in {intent.category}, at most {money(cap)}")
    say("   discloses: size = 2 persons, location DE-10…; terms: data only for delivery and")
    say("   receipts, kept at most 90 days, no resale, no profiling, deleted on revocation")
    say(f"   envelope: {len(intent_env)} bytes, COSE_Sign1 / EdDSA, "
        f"topic /intentcast/1/intents/{intent.topic_category}\n")

    say("2. Vendors verify the intent and answer if it is theirs:")
    offers: list[tuple[Vendor, Negotiation, bytes]] = []
    buyers: dict[str, Negotiation] = {}
    parties: dict[str, str] = {}
    for n, vendor in enumerate(_vendors(), 1):
        vendor_party = f"vendor-{n}"
        envelope.open(intent_env, now=now)  # every vendor checks the signature first
        wire.received.append((vendor_party, intent_env))
        if not vendor.matches(intent):
            say(f"   {vendor.name}: sells {vendor.category}, not {intent.category}: no offer")
            continue
        seller = Negotiation(Role.SELLER, vendor.key, intent_env, now=now)
        offer_env = seller.offer(
            sku=vendor.sku, title=vendor.title, quantity=1,
            price=Money(amount=vendor.list_price, currency="EUR"), terms=vendor.terms, now=now,
        )
        buyer = Negotiation(Role.BUYER, intent_key, intent_env, now=now)
        wire.deliver("person", buyer, offer_env, now=now)
        buyers[vendor.name] = buyer
        parties[vendor.name] = vendor_party
        offers.append((vendor, seller, offer_env))
        say(f"   {vendor.name}: offers {vendor.title!r} at "
            f"{money(Money(amount=vendor.list_price, currency='EUR'))} "
            f"(signed by {short_did(vendor.key.did)})")

    say("\n3. The person's agent checks each offer's data requests against the person's terms:")
    fitting: list[tuple[Vendor, Negotiation]] = []
    for vendor, seller, _ in offers:
        conflicts = check_terms(terms, vendor.terms)
        buyer = buyers[vendor.name]
        if conflicts:
            for c in conflicts:
                say(f"   {vendor.name}: breaks '{c.clause}': {c.detail}")
            reject = buyer.reject(reason=conflicts[0].detail, now=now)
            wire.deliver(parties[vendor.name], seller, reject, now=now)
            say(f"   -> rejected {vendor.name}, telling it why")
        else:
            say(f"   {vendor.name}: fits the person's terms")
            fitting.append((vendor, seller))
    if not fitting:
        say("   no offer fits the person's terms")
        return 1

    vendor, seller = min(fitting, key=lambda vs: vs[0].list_price)
    buyer = buyers[vendor.name]
    party = parties[vendor.name]
    ask = Money(amount=18000, currency="EUR")
    say(f"\n4. The person counters {vendor.name} at {money(ask)}")
    wire.deliver(party, seller, buyer.counter(price=ask, now=now, note="180?"), now=now)
    answer = Money(amount=vendor.answer(ask.amount), currency="EUR")
    wire.deliver("person", buyer, seller.counter(price=answer, now=now), now=now)
    say(f"   {vendor.name} answers {money(answer)} (its floor is private to it)")

    if answer.amount > cap.amount:
        say("   over the person's budget: walking away")
        wire.deliver(party, seller, buyer.reject(reason="over budget", now=now), now=now)
        return 1
    say(f"\n5. Within budget: the person accepts {money(answer)}")
    wire.deliver(party, seller, buyer.accept(now=now), now=now)
    wire.deliver("person", buyer, seller.sign_agreement(now=now), now=now)
    say(f"   {vendor.name} signs the agreement; the person's agent checks it states exactly")
    say("   what was accepted, then countersigns")
    full = buyer.countersign(now=now)
    wire.deliver(party, seller, full, now=now)
    verified = envelope.open(full, now=now)
    agreement = verified.message
    assert isinstance(agreement, Agreement)
    say(f"\n6. Agreement {agreement.id}: {agreement.title} for {money(agreement.price)}")
    say(f"   buyer  {short_did(agreement.buyer)}  (the intent key: no account, no name)")
    say(f"   vendor {short_did(agreement.vendor)}")
    say(f"   {len(verified.signers)} valid signatures over one payload (COSE_Sign), binding the")
    say(f"   transcript of {len(seller.transcript)} signed messages and both parties' terms")
    if out is not None:
        wire.write(out)
        (out / "person").mkdir(parents=True, exist_ok=True)
        (out / "person" / "agreement.cbor").write_bytes(full)
        say(f"   every envelope is in {out}/; verify the deal anywhere with")
        say(f"   intentcast inspect {out / 'person' / 'agreement.cbor'}")
    elapsed_ms = round((time.monotonic() - started) * 1000)
    if as_json:
        print(json.dumps({
            "intent_id": intent.id,
            "offers": [{"vendor": v.key.did, "price_minor": v.list_price, "currency": "EUR"}
                       for v, _, _ in offers],
            "agreement": {
                "id": agreement.id, "buyer": agreement.buyer, "vendor": agreement.vendor,
                "price_minor": agreement.price.amount, "currency": agreement.price.currency,
                "signatures": len(verified.signers),
            },
            "elapsed_ms": elapsed_ms,
        }))
    else:
        say(f"\ndone in {elapsed_ms} ms")
    return 0
