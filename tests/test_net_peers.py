"""Peer books, the about frame and the keeper's backoff, without a network."""

from __future__ import annotations

import random

import pytest
import trio

from intentcast.agents.net.about import MAX_ABOUT, About, AboutError
from intentcast.agents.net.keeper import Backoff, Keeper
from intentcast.agents.net.peerbook import MemoryPeerBook, PeerRecord
from intentcast.agents.runtime.network import StoredPeerBook
from intentcast.agents.store import peerbook
from intentcast.agents.store.db import Store
from intentcast.protocol import encode

PEER = "12D3KooWEhFuXX7NMpd6EGA23jRxGyS1vwycG388Lciv7SyDgdYA"
OUTDOOR = "/intentcast/1/intents/outdoor"


def _peer(n: int) -> str:
    return PEER[:-4] + f"{n:04d}".translate(str.maketrans("0", "A"))


# -- the peer book ----------------------------------------------------------------------


def test_a_record_is_bounded_before_it_is_kept():
    addrs = [f"/ip4/10.0.0.{n}/tcp/1" for n in range(20)]
    record = PeerRecord(PEER, addrs=(*addrs, "not an address"), role="king",
                        name="Shop\x1b[31m " + "x" * 200,
                        topics=(OUTDOOR, "/elsewhere", OUTDOOR)).cleaned()
    assert len(record.addrs) == 8
    assert all(a.startswith("/ip4/") for a in record.addrs)
    assert record.role == ""
    assert "\x1b" not in record.name
    assert len(record.name) <= 64
    assert record.topics == (OUTDOOR,)


def test_the_store_keeps_peers_across_a_restart(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    book = StoredPeerBook(store)
    book.remember(PeerRecord(PEER, ("/ip4/127.0.0.1/tcp/4711",), 100, "vendor", "Trailhead",
                             (OUTDOOR,)))
    book.remember(PeerRecord(_peer(1), ("/ip4/127.0.0.1/tcp/4712",), 50))
    store.close()
    again = StoredPeerBook(Store(tmp_path / "store.sqlite"))
    assert again.get(PEER) == PeerRecord(PEER, ("/ip4/127.0.0.1/tcp/4711",), 100, "vendor",
                                         "Trailhead", (OUTDOOR,))
    assert [r.peer_id for r in again.recent(since=0, limit=10)] == [PEER, _peer(1)]
    assert [r.peer_id for r in again.recent(since=60, limit=10)] == [PEER]
    again.forget(PEER)  # a peer cut off for going over its limits
    assert again.get(PEER) is None


def test_the_stored_peer_book_forgets_the_least_recently_seen_beyond_its_cap(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(peerbook, "MAX_PEERS", 5)
    store = Store(tmp_path / "store.sqlite")
    for n in range(8):
        peerbook.remember(store, peerbook.KnownPeer(_peer(n), (), n, "", "", ()))
    kept = [p.peer_id for p in peerbook.recent(store, since=0, limit=100)]
    assert kept == [_peer(n) for n in range(7, 2, -1)]


def test_a_damaged_row_reads_as_no_addresses_not_a_crash(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    store.db.execute("INSERT INTO peers (peer_id, addrs, last_seen, topics) VALUES "
                     "(?, '{nope', 1, '[1, \"/intentcast/x\"]')", (PEER,))
    found = peerbook.get(store, PEER)
    assert found is not None
    assert (found.addrs, found.topics) == ((), ("/intentcast/x",))


def test_the_memory_peer_book_is_bounded():
    book = MemoryPeerBook(capacity=3)
    for n in range(5):
        book.remember(PeerRecord(_peer(n), last_seen=n))
    assert [r.peer_id for r in book.recent(since=0, limit=10)] == [_peer(4), _peer(3), _peer(2)]
    book.forget(_peer(3))
    assert [r.peer_id for r in book.recent(since=0, limit=10)] == [_peer(4), _peer(2)]


# -- the about frame --------------------------------------------------------------------


def test_about_round_trips_and_a_person_says_nothing():
    vendor = About(role="vendor", name="Trailhead", topics=(OUTDOOR,), relay=True, seen="1.2.3.4")
    assert About.from_bytes(vendor.to_bytes()) == vendor
    assert About().to_bytes() == encode({})


@pytest.mark.parametrize("frame", [
    encode([1, 2]),
    encode({"role": "king"}),
    encode({"name": 7}),
    encode({"topics": ["x"] * 17}),
    encode({"relay": "yes"}),
    encode({"seen": "x" * 100}),
    bytes.fromhex("a1616101a1616101"),  # trailing bytes
    b"\xff",
    encode({"name": "x" * MAX_ABOUT}),
])
def test_a_bad_about_frame_is_refused(frame):
    with pytest.raises(AboutError):
        About.from_bytes(frame)


def test_unknown_about_keys_are_ignored_and_names_cleaned():
    about = About.from_bytes(encode({"role": "vendor", "name": "A\nB\x00C", "later": 1}))
    assert about == About(role="vendor", name="ABC")


# -- the keeper -------------------------------------------------------------------------


class Dialer:
    """A peer that answers only from `up_at` on, and can be disconnected by the test."""

    def __init__(self, up_at: float = 0.0) -> None:
        self.up_at = up_at
        self.connected = False
        self.dials: list[float] = []
        self.dropped = trio.Event()

    def is_connected(self, peer_id: str) -> bool:
        return self.connected

    async def dial(self, peer_id: str, addrs: list[str]) -> bool:
        self.dials.append(trio.current_time())
        self.connected = trio.current_time() >= self.up_at
        return self.connected

    async def wait_disconnected(self, peer_id: str) -> None:
        while self.connected:
            await self.dropped.wait()

    def drop(self) -> None:
        self.connected = False
        self.dropped.set()
        self.dropped = trio.Event()


def _keeper(dialer: Dialer, **kwargs: object) -> Keeper:
    return Keeper(dialer, backoff=Backoff(jitter=0.0), rng=random.Random(1), **kwargs)


async def test_a_peer_that_is_down_is_dialled_with_capped_exponential_backoff(autojump):
    dialer = Dialer(up_at=100.0)
    keeper = _keeper(dialer)
    async with trio.open_nursery() as nursery:
        keeper.start(nursery)
        keeper.want(PEER, ["/ip4/127.0.0.1/tcp/1"])
        await trio.sleep(200)  # virtual time: every dial the keeper makes in 200 s
        nursery.cancel_scope.cancel()
    gaps = [round(b - a, 2) for a, b in zip(dialer.dials, dialer.dials[1:], strict=False)]
    assert gaps[:8] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert max(gaps) == 30.0
    assert dialer.connected
    assert dialer.dials[-1] >= 100.0


async def test_a_dropped_connection_is_dialled_again_and_a_poke_dials_at_once(autojump):
    dialer = Dialer()
    keeper = _keeper(dialer)
    async with trio.open_nursery() as nursery:
        keeper.start(nursery)
        keeper.want(PEER, [])
        await trio.sleep(1)
        assert dialer.dials == [0.0]
        dialer.drop()
        await trio.sleep(1)
        assert dialer.connected
        assert dialer.dials[1] == pytest.approx(1.25)
        dialer.up_at = 1e9
        dialer.drop()
        await trio.sleep(10)
        count = len(dialer.dials)
        dialer.up_at = 0.0
        keeper.poke(PEER)
        await trio.sleep(0.01)
        assert len(dialer.dials) == count + 1
        assert dialer.connected
        nursery.cancel_scope.cancel()


async def test_remembered_peers_are_given_up_after_a_day_bootstrap_peers_never(autojump):
    remembered, told = Dialer(up_at=1e12), Dialer(up_at=1e12)
    keepers = [_keeper(remembered), _keeper(told)]
    async with trio.open_nursery() as nursery:
        for keeper in keepers:
            keeper.start(nursery)
        keepers[0].want(PEER, [])
        keepers[1].want(PEER, [], forever=True)
        await trio.sleep(2 * 86_400)
        assert (keepers[0].wanted(), keepers[1].wanted()) == ([], [PEER])
        assert remembered.dials[-1] < 86_400 + 31 < told.dials[-1]
        nursery.cancel_scope.cancel()
