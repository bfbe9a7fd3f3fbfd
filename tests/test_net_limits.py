"""What one peer may take from a node (agents/net/limits.py): counted, cut off, forgotten."""

from __future__ import annotations

import pytest

from intentcast.agents.net import limits as limits_module
from intentcast.agents.net.about import ABOUT_PROTOCOL
from intentcast.agents.net.limits import Guard, Limits
from intentcast.agents.net.streams import ASSISTANT_PROTOCOL, DATA_PROTOCOL, NEGOTIATE_PROTOCOL


def test_the_limits_name_the_protocols_the_node_serves():
    assert (limits_module.NEGOTIATE, limits_module.ASSISTANT, limits_module.DATA,
            limits_module.ABOUT) == (NEGOTIATE_PROTOCOL, ASSISTANT_PROTOCOL, DATA_PROTOCOL,
                                     ABOUT_PROTOCOL)


def test_a_fifth_connection_from_one_peer_is_over_the_limit():
    guard = Guard()
    assert [guard.connection_opened("p", n, 0.0) for n in range(4)] == [None] * 4
    assert guard.connection_opened("p", 4, 0.0) == "too_many_connections"
    assert guard.connection_opened("q", 0, 0.0) is None  # another peer is not affected


def test_the_node_full_of_connections_refuses_the_next_one():
    guard = Guard(Limits(connections=3))
    assert [guard.connection_opened(f"p{n}", n, 0.0) for n in range(3)] == [None] * 3
    assert guard.connection_opened("late", 9, 0.0) == "node_full"
    guard.connection_closed("late", 9)
    guard.connection_closed("p0", 0)
    assert guard.connection_opened("p9", 10, 0.0) is None


def test_streams_are_rate_limited_by_a_token_bucket():
    guard = Guard(Limits(stream_rate=10.0, stream_burst=20.0, streams_per_peer=10_000))
    guard.connection_opened("p", 1, 0.0)
    verdicts = [guard.stream_opened("p", 0.0) for _ in range(21)]
    assert verdicts[:20] == [None] * 20
    assert verdicts[20] == "stream_rate"
    assert guard.stream_opened("p", 0.5) is None  # half a second refills five tokens
    assert [guard.stream_opened("p", 0.5) for _ in range(5)][-1] == "stream_rate"


def test_open_streams_are_bounded_per_peer_and_per_protocol():
    guard = Guard(Limits(streams_per_peer=3, streams_per_protocol={"/x": 1},
                         streams_other_protocol=2))
    guard.connection_opened("p", 1, 0.0)
    assert [guard.stream_opened("p", 0.0) for _ in range(3)] == [None] * 3
    assert guard.stream_opened("p", 0.0) == "too_many_streams"
    guard.stream_closed("p")
    guard.stream_closed("p")
    assert guard.stream_opened("p", 0.0) is None
    assert guard.protocol_opened("p", "/x") is None
    assert guard.protocol_opened("p", "/x") == "too_many_streams"
    guard.protocol_closed("p", "/x")
    guard.protocol_closed("p", "/x")
    assert guard.protocol_opened("p", "/x") is None
    assert [guard.protocol_opened("p", "/other") for _ in range(3)] == [
        None, None, "too_many_streams"]


def test_a_banned_peer_is_refused_until_the_ban_ends_and_each_cut_off_is_counted():
    guard = Guard(Limits(ban_seconds=120.0))
    guard.ban("p", "stream_rate", now=10.0)
    guard.ban("q", "stream_rate", now=10.0)
    assert guard.cut_off == {"stream_rate": 2}
    assert guard.connection_opened("p", 1, 129.0) == "banned"
    assert guard.connection_opened("p", 1, 130.0) is None


@pytest.mark.parametrize("peers", [limits_module.MAX_BANS + 50])
def test_memory_is_bounded_whatever_the_number_of_peers(peers):
    guard = Guard()
    for n in range(peers):
        guard.ban(f"peer-{n}", "too_many_streams", now=0.0)
        guard.connection_opened(f"conn-{n}", n, 0.0)
        guard.connection_closed(f"conn-{n}", n)
    assert len(guard._bans) == limits_module.MAX_BANS
    assert guard._peers == {}
    assert guard.banned(f"peer-{peers - 1}", 1.0)
    assert not guard.banned("peer-0", 1.0)  # the oldest ban went first
