"""In-process wiring of person and vendor agents for logic tests.

The network here is a pair of trio memory channels per negotiation: these
tests are about what the agents decide and store; the libp2p transport has its
own end-to-end tests over real processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nacl.pwhash
import trio

from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.store.db import Store
from intentcast.agents.vendor.catalog import Catalog, load
from intentcast.agents.vendor.data import VendorData
from intentcast.agents.vendor.policy import load_policy
from intentcast.agents.vendor.responder import VendorAgent
from intentcast.protocol import envelope
from intentcast.protocol.identity import KeyPair, MasterKey

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "catalogs"
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
PERSON_PEER = "12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"


@dataclass
class MemoryChannel:
    remote_peer_id: str
    outbox: trio.MemorySendChannel[bytes]
    inbox: trio.MemoryReceiveChannel[bytes]
    closed: bool = False

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise trio.ClosedResourceError("closed")
        await self.outbox.send(data)

    async def receive(self) -> bytes | None:
        try:
            return await self.inbox.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return None

    async def close(self) -> None:
        self.closed = True
        await self.outbox.aclose()

    async def reset(self) -> None:
        await self.close()
        await self.inbox.aclose()


def channel_pair(a: str, b: str) -> tuple[MemoryChannel, MemoryChannel]:
    a_to_b_send, a_to_b_recv = trio.open_memory_channel[bytes](16)
    b_to_a_send, b_to_a_recv = trio.open_memory_channel[bytes](16)
    return (MemoryChannel(b, a_to_b_send, b_to_a_recv),
            MemoryChannel(a, b_to_a_send, a_to_b_recv))


@dataclass
class Market:
    nursery: trio.Nursery
    clock: trio.abc.Clock
    person: PersonAgent | None = None
    vendors: list[VendorAgent] = field(default_factory=list)
    data: list[VendorData] = field(default_factory=list)
    topics: dict[int, frozenset[str]] = field(default_factory=dict)
    peer_id: str = PERSON_PEER
    down: set[str] = field(default_factory=set)
    """Vendor peers that refuse data streams (a vendor that is away)."""

    def now(self) -> float:
        return 1_800_000_000 + self.clock.current_time()

    def multiaddrs(self) -> list[str]:
        return ["/ip4/127.0.0.1/tcp/4001"]

    async def publish_intent(self, data: bytes) -> int:
        verified = envelope.open(data, now=int(self.now()))
        top = verified.message.category.split(".", 1)[0]
        heard = 0
        for n, vendor in enumerate(self.vendors):
            if top in self.topics[n]:
                vendor.hear(verified)
                heard += 1
        return heard

    def intent_listeners(self, category: str) -> int:
        top = category.split(".", 1)[0]
        return sum(1 for n in range(len(self.vendors)) if top in self.topics[n])

    def for_vendor(self, n: int) -> VendorNet:
        return VendorNet(self, n)

    def peer_addrs(self, peer_id: str) -> list[str]:
        return [f"/memory/{peer_id}"]

    async def open_data(self, peer_id: str, addrs: list[str]) -> MemoryChannel:
        if peer_id in self.down:
            raise ConnectionRefusedError(f"{peer_id} is away")
        n = int(peer_id.removeprefix("vendor-"))
        ours, theirs = channel_pair(self.peer_id, peer_id)
        self.nursery.start_soon(self.data[n].handle, theirs)
        return ours


@dataclass
class VendorNet:
    market: Market
    n: int

    async def open_negotiation(self, peer_id: str, addrs: list[str]) -> MemoryChannel:
        assert self.market.person is not None
        ours, theirs = channel_pair(f"vendor-{self.n}", peer_id)
        self.market.nursery.start_soon(self.market.person.handle_channel, theirs)
        return ours


def make_store(path: Path) -> Store:
    store = Store(path)
    store.init_vault("pw", **FAST)
    return store


def build(market: Market, tmp: Path, catalogs: list[Catalog | str]) -> None:
    market.person = PersonAgent(make_store(tmp / "person.sqlite"), MasterKey(b"\x07" * 32),
                                market, clock=market.now, step_timeout=30)
    for n, entry in enumerate(catalogs):
        catalog = load(EXAMPLES / entry) if isinstance(entry, str) else entry
        vendor = VendorAgent(
            make_store(tmp / f"vendor-{n}.sqlite"), KeyPair(bytes([n + 1]) * 32), catalog,
            load_policy(catalog.policy, catalog), market.for_vendor(n), clock=market.now,
        )
        market.vendors.append(vendor)
        market.nursery.start_soon(vendor.serve)
        market.data.append(VendorData(vendor.store, vendor.key, clock=market.now,
                                      closing=vendor.closing, offer_open=vendor.offer_open))
        market.topics[n] = catalog.topics
