"""The person's event log: what the agent sees, in order, durable before announced, resumable."""

from __future__ import annotations

import trio
import trio.testing
from agent_harness import Market, build

from intentcast.agents.person.events import EventLog
from intentcast.agents.person.requests import IntentRequest

TENT = IntentRequest(category="outdoor.camping.tents", description="Two-person backpacking tent",
                     max_price=20_000, currency="EUR")


async def test_a_deal_as_events_in_order(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
        build(market, tmp_path, ["trailhead.toml", "bargainblast.toml"])
        person = market.person
        intent = await person.post_intent(TENT)
        await person.wait_for_offers(intent.id, 2)
        await trio.testing.wait_all_tasks_blocked()
        offer = next(o for o in person.offers(intent.id) if o.state == "buyer_turn")
        await person.counter(offer.ref, 18_000)
        await person.accept(offer.ref)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    kinds = [e.kind for e in person.events.since(None)]
    assert kinds[0] == "intent_posted"
    assert kinds.count("offer_received") == 2
    assert "offer_refused" in kinds  # BargainBlast's terms: the clause is named
    refused = next(e for e in person.events.since(None) if e.kind == "offer_refused")
    assert {c["clause"] for c in refused.data["conflicts"]} >= {"no_profiling"}
    assert kinds[-4:] == ["counter_answered", "offer_accepted", "agreement_signed",
                          "agreement_acknowledged"]
    ids = [e.id for e in person.events.since(None)]
    assert len(set(ids)) == len(ids)


async def test_resuming_after_an_id_gives_only_what_came_after(autojump):
    log = EventLog(run="r1")
    for n in range(5):
        log.emit("tick", n, n=n)
    assert [e.data["n"] for e in log.since("r1-3")] == [3, 4]
    assert len(log.since("r0-3")) == 5  # an id from another run: everything still held
    got: list[int] = []

    async def follow() -> None:
        async for event in log.follow("r1-4"):
            got.append(event.data["n"])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(follow)
        await trio.testing.wait_all_tasks_blocked()
        log.emit("tick", 5, n=5)
        log.emit("tick", 6, n=6)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert got == [4, 5, 6]


def test_the_log_holds_a_bounded_number():
    log = EventLog(capacity=10, run="r")
    for n in range(25):
        log.emit("tick", n)
    assert len(log) == 10
    assert log.since(None)[0].id == "r-16"
