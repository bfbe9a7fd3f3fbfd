"""Closing a deal so neither side loses it (spec §7.1): the vendor's hold, the buyer's pending
agreement, the ack, redelivery, lapse. In one process, on trio's autojump clock."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from agent_harness import Market, build, make_store
from parties import BUYER, FAIR, NOW, PEER, SELLER, TERMS

from intentcast.agents.person.requests import IntentRequest
from intentcast.agents.store import deliveries, holds, seen
from intentcast.agents.store.db import Store, StoredNegotiation
from intentcast.agents.vendor.closing import Closing
from intentcast.protocol import (
    Constraints,
    Intent,
    IntentcastError,
    Money,
    Negotiation,
    NegotiationError,
    Reason,
    ReplyTo,
    Role,
    check_ack,
    envelope,
    new_id,
)

TENT = IntentRequest(category="outdoor.camping.tents", description="Two-person backpacking tent",
                     max_price=20_000, currency="EUR")


async def _deal_until_accept(market: Market) -> str:
    person = market.person
    assert person is not None
    intent = await person.post_intent(TENT)
    (offer,) = await person.wait_for_offers(intent.id, 1)
    return offer.ref


@pytest.mark.trio
async def test_the_vendor_stores_before_it_acks_and_both_keep_the_same_bytes(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
        build(market, tmp_path, ["trailhead.toml"])
        ref = await _deal_until_accept(market)
        agreement = await market.person.accept(ref)
        nursery.cancel_scope.cancel()
    vendor = market.vendors[0]
    assert agreement.state == "agreed"
    (kept,) = vendor.store.agreements()
    assert (kept.raw, kept.ack, kept.state) == (agreement.raw, agreement.ack, "agreed")
    ack = envelope.open(agreement.ack or b"", now=int(market.now()))
    assert check_ack(ack, about=agreement.raw, signer=kept.vendor).outcome == "stored"
    (hold,) = [holds.by_ref(vendor.store, ref)]
    assert hold is not None
    assert hold.state == "agreed"
    assert vendor.store.stock("TH-TENT-2") == 4
    assert deliveries.get(market.person.store, agreement.id).state == "acked"


class LosesTheAck:
    """A vendor that stores the countersignature and dies before its ack leaves."""

    def __init__(self, closing: Closing) -> None:
        self.closing = closing
        self.real = closing.countersigned

    def __call__(self, raw: bytes) -> bytes:
        self.real(raw)  # stored, durably
        self.closing.countersigned = self.real  # back up, as after a restart
        raise ConnectionResetError("the vendor's process died")


@pytest.mark.trio
async def test_a_lost_ack_leaves_the_deal_pending_until_redelivery_confirms_it(
        tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
        build(market, tmp_path, ["trailhead.toml"])
        person, vendor = market.person, market.vendors[0]
        vendor.closing.countersigned = LosesTheAck(vendor.closing)  # type: ignore[method-assign]
        ref = await _deal_until_accept(market)
        pending = await person.accept(ref)
        assert pending.state == "pending"  # never reported as agreed without the ack
        assert person.store.negotiation(ref).state == "countersigned"
        assert person.store.intent(pending.intent_id).state == "open"
        market.down.add("vendor-0")  # and the vendor is away for a while
        nursery.start_soon(person.buyer.redeliver_forever)
        await trio.sleep(30)
        (waiting,) = deliveries.pending(person.store)
        assert waiting.attempts >= 3  # backing off: 2, 4, 8, 16 s
        market.down.clear()
        await trio.sleep(300)
        nursery.cancel_scope.cancel()
    settled = person.store.agreement(pending.id)
    (kept,) = vendor.store.agreements()
    assert (settled.state, settled.raw, settled.ack) == ("agreed", kept.raw, kept.ack)
    assert person.store.negotiation(ref).state == "agreed"
    assert person.store.intent(pending.intent_id).state == "agreed"
    assert vendor.store.stock("TH-TENT-2") == 4


def _signed(closing: Closing, store_stock: int = 5) -> tuple[Negotiation, Negotiation, bytes]:
    """A buyer and a seller at the seller's signature, the seller's hold placed."""
    intent = envelope.seal(Intent(
        id=new_id(), issued_at=NOW, expires_at=NOW + 3600, category="outdoor.camping.tents",
        description="tent", constraints=Constraints(max_price=Money(amount=20_000,
                                                                    currency="EUR")),
        terms=TERMS, reply_to=ReplyTo(peer_id=PEER),
    ), BUYER)
    buyer = Negotiation(Role.BUYER, BUYER, intent, now=NOW)
    seller = Negotiation(Role.SELLER, SELLER, intent, now=NOW)
    closing.store.init_stock("T-1", store_stock)
    buyer.receive(seller.offer(sku="T-1", title="Tent", quantity=1,
                               price=Money(amount=19_000, currency="EUR"), terms=FAIR, now=NOW),
                  now=NOW)
    seller.receive(buyer.accept(now=NOW, ttl=86_400), now=NOW)
    half = closing.hold("ref001", seller, "T-1")
    assert half is not None
    buyer.receive(half, now=NOW)
    return buyer, seller, half


def test_the_hold_is_the_vendors_and_a_late_countersignature_is_refused_with_the_stock_back(
        tmp_path):
    clock = [float(NOW)]
    store = make_store(tmp_path / "vendor.sqlite")
    closing = Closing(store, SELLER, clock=lambda: clock[0], hold=120)
    buyer, _seller, _half = _signed(closing)
    assert store.stock("T-1") == 4  # set aside with the signed agreement, one transaction
    (hold,) = holds.due(store, NOW + 120)
    assert hold.countersign_by == NOW + 120  # the vendor's 120 s, not the buyer's day
    full = buyer.countersign(now=NOW + 60)
    clock[0] = NOW + 121
    assert closing.lapse_due() == 1
    assert store.stock("T-1") == 5
    assert closing.lapse_due() == 0  # once
    refusal = envelope.open(closing.countersigned(full), now=NOW + 121)
    answer = check_ack(refusal, about=full, signer=SELLER.did)
    assert answer.outcome == "refused"
    assert "countersign_by" in (answer.reason or "")
    assert store.agreements() == []
    assert store.stock("T-1") == 5


def test_a_countersignature_delivered_twice_is_stored_once_and_acked_the_same(tmp_path):
    store = make_store(tmp_path / "vendor.sqlite")
    closing = Closing(store, SELLER, clock=lambda: NOW + 10)
    buyer, _seller, _half = _signed(closing)
    full = buyer.countersign(now=NOW + 5)
    first = closing.countersigned(full)
    assert closing.countersigned(full) == first
    assert len(store.agreements()) == 1
    assert store.stock("T-1") == 4
    with pytest.raises(IntentcastError) as err:  # signed by the buyer alone
        closing.countersigned(envelope.seal(envelope.read_stored(full), BUYER))
    assert err.value.reason is Reason.MISSING_SIGNATURE
    other, _, _ = _signed(Closing(make_store(tmp_path / "other.sqlite"), SELLER,
                                  clock=lambda: NOW + 10))
    with pytest.raises(NegotiationError) as err:  # a deal this vendor's store never held
        closing.countersigned(other.countersign(now=NOW + 5))
    assert err.value.reason is Reason.TERMS_MISMATCH


def test_restarting_ends_streamless_negotiations_but_keeps_live_holds(tmp_path):
    store = make_store(tmp_path / "vendor.sqlite")
    closing = Closing(store, SELLER, clock=lambda: NOW + 10)
    _signed(closing)
    for ref, state in (("ref001", "seller_signed"), ("ref002", "buyer_turn"),
                       ("ref003", "agreed")):
        store.save_negotiation(StoredNegotiation(ref, "i", "c", state, "T-1", "Tent", 1, "EUR",
                                                 "", NOW))
    assert store.end_interrupted(now=NOW + 10, note="restarted") == 1
    states = {n.ref: n.state for n in store.negotiations()}
    assert states == {"ref001": "seller_signed", "ref002": "expired", "ref003": "agreed"}


def test_a_binding_message_replayed_after_a_restart_is_seen(tmp_path):
    store = make_store(tmp_path / "person.sqlite")
    offer = envelope.seal(Intent(
        id=new_id(), issued_at=NOW, expires_at=NOW + 60, category="outdoor", description="x",
        terms=TERMS, reply_to=ReplyTo(peer_id=PEER),
    ), SELLER)
    verified = envelope.open(offer, now=NOW)
    assert seen.first_time(store, verified, now=NOW)
    store.close()
    reopened = Store(tmp_path / "person.sqlite")
    assert not seen.first_time(reopened, verified, now=NOW + 1)
    assert seen.prune(reopened, NOW + 60) == 1
    assert seen.first_time(reopened, verified, now=NOW + 1)
