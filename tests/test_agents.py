"""Person and vendor agents negotiating in one process (trio memory channels as the wire).

Time is trio's autojump clock: timeouts and deadlines pass instantly.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from agent_harness import Market, build

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.person.requests import IntentRequest
from intentcast.agents.store import audit
from intentcast.protocol import envelope

TENT = IntentRequest(category="outdoor.camping.tents", description="Two-person backpacking tent",
                     max_price=20_000, currency="EUR", country="DE", postcode_prefix="10",
                     disclosed={"size": "2 persons"})
CATALOGS = ["trailhead.toml", "bargainblast.toml", "copper-kettle.toml"]


async def _market(nursery, autojump, tmp_path, catalogs=CATALOGS):
    market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
    build(market, tmp_path, catalogs)
    return market


@pytest.mark.trio
async def test_offers_counter_accept_agreement(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market = await _market(nursery, autojump, tmp_path)
        person = market.person
        intent = await person.post_intent(TENT)
        offers = await person.wait_for_offers(intent.id, 2)
        await trio.testing.wait_all_tasks_blocked()
        offers = person.offers(intent.id)
        by_state = {o.state: o for o in offers}
        assert set(by_state) == {"buyer_turn", "rejected"}      # BargainBlast refused
        assert "no_profiling" in by_state["rejected"].note
        best = by_state["buyer_turn"]
        assert (best.sku, best.price_minor) == ("TH-TENT-2", 20_000)  # opened at the cap
        answered = await person.counter(best.ref, 18_000)
        assert (answered.state, answered.price_minor) == ("buyer_turn", 19_000)
        agreement = await person.accept(best.ref)
        assert agreement.price_minor == 19_000
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()

    verified = envelope.open(agreement.raw, now=int(market.now()))
    assert len(verified.signers) == 2
    trailhead = market.vendors[0]
    (kept,) = trailhead.store.agreements()
    assert kept.raw == agreement.raw
    assert trailhead.store.stock("TH-TENT-2") == 4
    assert market.vendors[2].stats["intents"] == 0            # kitchen never heard of it
    kinds = [e.kind for e in audit.entries(person.store.db)]
    assert kinds == ["intent_sent", "offer_accepted", "agreement_signed",
                     "agreement_acknowledged"]
    assert audit.verify(person.store.db) is None
    assert person.store.intent(intent.id).state == "agreed"


@pytest.mark.trio
async def test_the_vendor_declines_below_its_floor(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market = await _market(nursery, autojump, tmp_path, ["trailhead.toml"])
        person = market.person
        intent = await person.post_intent(TENT)
        (offer,) = await person.wait_for_offers(intent.id, 1)
        step = await person.counter(offer.ref, 10_000)
        assert step.price_minor == 18_500                     # halfway, floored
        step = await person.counter(offer.ref, 10_000)
        assert step.state == "rejected"
        with pytest.raises(AgentError) as err:
            await person.accept(offer.ref)
        assert err.value.kind is Kind.CONFLICT
        nursery.cancel_scope.cancel()
    assert market.vendors[0].store.stock("TH-TENT-2") == 5


@pytest.mark.trio
async def test_unanswered_offers_expire_and_free_nothing(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market = await _market(nursery, autojump, tmp_path, ["trailhead.toml"])
        person = market.person
        intent = await person.post_intent(TENT)
        (offer,) = await person.wait_for_offers(intent.id, 1)
        await trio.sleep(601)                                  # autojump: the offer's ttl
        await trio.testing.wait_all_tasks_blocked()
        assert person.offers(intent.id)[0].state == "expired"
        with pytest.raises(AgentError):
            await person.counter(offer.ref, 19_000)
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_withdraw_tells_every_vendor(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market = await _market(nursery, autojump, tmp_path, ["trailhead.toml"])
        person = market.person
        intent = await person.post_intent(TENT)
        await person.wait_for_offers(intent.id, 1)
        await person.withdraw(intent.id)
        await trio.testing.wait_all_tasks_blocked()
        assert person.intent(intent.id).state == "withdrawn"
        (vendor_view,) = market.vendors[0].store.negotiations()
        assert vendor_view.state == "withdrawn"
        with pytest.raises(AgentError) as err:
            await person.withdraw(intent.id)
        assert err.value.kind is Kind.CONFLICT
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_bad_requests_are_refused_with_a_reason(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market = await _market(nursery, autojump, tmp_path, [])
        person = market.person
        with pytest.raises(AgentError) as err:
            await person.post_intent(IntentRequest(category="Not A Category", description="x"))
        assert err.value.kind is Kind.INVALID
        assert "category" in err.value.message
        with pytest.raises(AgentError) as err2:
            person.intent("nope-nope")
        assert err2.value.kind is Kind.NOT_FOUND
        assert person.store.intents() == []
        nursery.cancel_scope.cancel()
