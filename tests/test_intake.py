"""The vendor's intake under attack: bounded queues, fair starts, a tarpit's dials capped.

Logic only (trio's autojump clock); tests/test_e2e_hostile.py runs the same attacks
against real processes."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from parties import BUYER, NOW, TERMS

from intentcast.agents.vendor.intake import Intake, Limits, Ticket, destination
from intentcast.protocol import Intent, ReplyTo, envelope, new_id, open_envelope

PEERS = ["12D3KooW" + c * 44 for c in "ABCDEFGHJK"]


def intent(peer: str = PEERS[0], addr: str = "/ip4/198.51.100.7/tcp/4001") -> Intent:
    return Intent(id=new_id(), issued_at=NOW, expires_at=NOW + 600, category="outdoor",
                  description="tent", terms=TERMS,
                  reply_to=ReplyTo(peer_id=peer, addrs=[addr] if addr else []))


def ticket(intake: Intake, **kw: str) -> Ticket:
    return intake.ticket(open_envelope(envelope.seal(intent(**kw), BUYER), now=NOW))


def test_a_destination_is_its_host_and_port_or_its_peer():
    assert destination(intent()) == ("198.51.100.7:4001", "198.51.100.7")
    assert destination(intent(addr="/ip6/2001:db8::1/tcp/4001")) == ("2001:db8::1:4001",
                                                                    "2001:db8::1")
    relayed = "/ip4/203.0.113.9/tcp/4001/p2p/" + PEERS[1] + "/p2p-circuit"
    assert destination(intent(addr=relayed)) == (f"peer:{PEERS[0]}", "")
    assert destination(intent(addr="")) == (f"peer:{PEERS[0]}", "")


async def test_an_attacker_holding_its_share_never_delays_an_honest_buyer(autojump):
    # 500 intents naming the attacker, which then holds every stream idle.
    dropped: list[str] = []
    intake = Intake(Limits(slots=64, per_destination=8), on_drop=dropped.append)
    started: dict[str, float] = {}

    async def negotiate(t: Ticket) -> None:
        t.dialled()
        started[t.intent.id] = trio.current_time()
        if t.destination.startswith("198.51.100.7"):
            await trio.sleep_forever()

    attacks = [ticket(intake) for _ in range(500)]
    queued = sum(intake.submit(t) for t in attacks)
    honest = ticket(intake, peer=PEERS[1], addr="/ip4/192.0.2.1/tcp/4001")
    assert intake.submit(honest)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(intake.serve, negotiate)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert queued == 64
    assert len(dropped) == 436  # the rest never queued: counted
    assert honest.intent.id in started
    assert sum(1 for t in attacks if t.intent.id in started) == 8  # its share, no more


async def test_a_tarpit_gets_two_dials_at_a_time_and_each_gives_up(autojump):
    intake = Intake(Limits(dials_per_destination=2, dial_timeout=5))
    in_flight, most, started = [0], [0], []

    async def negotiate(t: Ticket) -> None:
        if t.destination.startswith("198.51.100.7"):  # accepts TCP, never speaks
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
            with trio.move_on_after(intake.limits.dial_timeout):
                await trio.sleep_forever()
            in_flight[0] -= 1
            t.dialled()
            return
        t.dialled()
        started.append(trio.current_time())

    for _ in range(600):
        intake.submit(ticket(intake))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(intake.serve, negotiate)
        await trio.sleep(1)
        assert intake.submit(ticket(intake, peer=PEERS[2], addr="/ip4/192.0.2.1/tcp/4001"))
        await trio.sleep(1)
        assert started
        assert started[0] - 1 < 0.01  # the honest one started at once
        await trio.sleep(200)
        nursery.cancel_scope.cancel()
    assert most[0] == 2
    assert len(intake) == 0  # the tarpit's 64 queued tickets all gave up in turn


async def test_limits_per_peer_and_per_ip_hold_across_ports(autojump):
    intake = Intake(Limits(per_destination=8, per_peer=3, per_ip=5))
    running: list[Ticket] = []

    async def negotiate(t: Ticket) -> None:
        t.dialled()
        running.append(t)
        await trio.sleep_forever()

    for port in range(4001, 4011):  # one IP, ten ports, ten peer ids
        for _ in range(4):
            intake.submit(ticket(intake, peer=PEERS[port - 4001],
                                 addr=f"/ip4/198.51.100.7/tcp/{port}"))
    for _ in range(5):
        intake.submit(ticket(intake, peer=PEERS[0], addr="/ip4/192.0.2.1/tcp/4001"))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(intake.serve, negotiate)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    by_ip = [t for t in running if t.ip == "198.51.100.7"]
    assert len(by_ip) == 5  # one IP, however many ports
    # PEERS[0] reached its 3 with both of its destinations together.
    assert sum(1 for t in running if t.peer == PEERS[0]) == 3
    assert len(running) == 5 + 3 - sum(1 for t in by_ip if t.peer == PEERS[0])


@pytest.mark.parametrize("queued", [1, 2])
async def test_the_whole_queue_is_bounded_too(autojump, queued):
    intake = Intake(Limits(queued=queued * 10, queued_per_destination=64))
    accepted = sum(intake.submit(ticket(intake, addr=f"/ip4/198.51.100.{i % 50}/tcp/1"))
                   for i in range(100))
    assert accepted == queued * 10
    assert intake.dropped == 100 - queued * 10
