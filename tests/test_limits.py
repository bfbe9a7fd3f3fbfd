"""Streams a peer can hold open: its share and no more, counted (in one process)."""

from __future__ import annotations

import trio
import trio.testing
from agent_harness import Market, build, channel_pair

from intentcast.agents.conversation.buyer import STREAMS_PER_VENDOR
from intentcast.agents.conversation.limits import PeerSlots


def test_a_peer_gets_its_share_and_the_total_is_bounded():
    refused: list[str] = []
    slots = PeerSlots(per_peer=2, total=3, on_refused=refused.append)
    with slots.slot("a") as one, slots.slot("a") as two, slots.slot("a") as three:
        assert (one, two, three) == (True, True, False)
        with slots.slot("b") as four, slots.slot("c") as five:
            assert (four, five) == (True, False)  # the total is 3
    assert refused == ["a", "c"]
    assert len(slots) == 0
    with slots.slot("a") as again:
        assert again


async def test_a_vendor_opening_silent_streams_holds_its_share_of_the_buyer(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
        build(market, tmp_path, [])
        person = market.person
        ours = []
        for _ in range(STREAMS_PER_VENDOR + 8):  # a hostile vendor: streams, then silence
            mine, theirs = channel_pair("hostile-vendor", person.network.peer_id)
            ours.append(mine)
            nursery.start_soon(person.handle_channel, theirs)
        await trio.testing.wait_all_tasks_blocked()
        assert len(person.buyer.slots) == STREAMS_PER_VENDOR
        assert person.buyer.slots.refused == 8
        _honest, theirs = channel_pair("honest-vendor", person.network.peer_id)
        nursery.start_soon(person.handle_channel, theirs)
        await trio.testing.wait_all_tasks_blocked()
        assert len(person.buyer.slots) == STREAMS_PER_VENDOR + 1  # another vendor gets in
        await trio.sleep(60)  # the silent ones give up after the step timeout
        assert len(person.buyer.slots) == 0
        nursery.cancel_scope.cancel()
