"""The parties and values the protocol tests share: fixed keys, a fixed now, the person's terms."""

from __future__ import annotations

from intentcast.protocol.identity import KeyPair
from intentcast.protocol.messages import Agreement, Money, terms_hash
from intentcast.protocol.terms import CustomerTerms, DataRequest, VendorTerms

NOW = 1_800_000_000
PEER = "12D3KooWDemoWa1kthroughNoNetworkXXXXXXXXXXXXXXXXXXXXX"
BUYER = KeyPair(b"\x11" * 32)  # stands for the person's per-intent key
SELLER = KeyPair(b"\x22" * 32)
STRANGER = KeyPair(b"\x33" * 32)
PAIRWISE = KeyPair(b"\x55" * 32)  # the person's key for this vendor alone

TERMS = CustomerTerms(purposes=["delivery", "receipt"], retention_days=90)
FAIR = VendorTerms(requests=[
    DataRequest(field="email", purpose="receipt", retention_days=30),
    DataRequest(field="shipping_address", purpose="delivery", retention_days=30),
])
VALUES = {"email": "ada@example.org", "shipping_address": "Hauptstr. 1, 10115 Berlin",
          "phone": "+49 30 1234567"}
PRICE = Money(amount=18_500, currency="EUR")


def agreement() -> Agreement:
    return Agreement(
        id="agreement-0001", issued_at=NOW, expires_at=NOW + 3600, intent_id="intent-0001",
        intent_hash=bytes(32), offer_hash=bytes(32), accept_hash=bytes(32), buyer=BUYER.did,
        vendor=SELLER.did, sku="T-1", title="Tent", quantity=1, price=PRICE,
        customer_terms=TERMS, vendor_terms=FAIR,
        terms_hash=terms_hash(sku="T-1", quantity=1, price=PRICE, customer=TERMS, vendor=FAIR),
        countersign_by=NOW + 120,
    )
