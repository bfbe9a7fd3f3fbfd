"""Finding peers beyond the bootstrap list: py-libp2p's Kademlia DHT (spec §9, discovery).

What goes into the DHT, and nothing else: provider records, keyed by the SHA-256
multihash of a topic name, that say "this peer answers intents on this topic"
(vendors, for each top-level category they serve) or "this peer relays"
(`/intentcast/1/relay`, agents that serve circuit relay v2). A person's daemon
and an assistant never provide anything; they look up the providers of the
category they are about to post in and connect to a few, so their intent reaches
that category's gossip mesh.

py-libp2p 0.8.1 speaks the DHT as `/ipfs/kad/1.0.0` whatever its protocol prefix
says, so this DHT is intentcast's own only because our nodes dial only each
other. Its `find_providers` answers from the local record store alone as soon
as that holds any record for the key (after our own `provide`, always), so a
lookup here asks the peers closest to the key itself, every time.
"""

from __future__ import annotations

import hashlib
import logging

import trio
from libp2p.abc import IHost
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

log = logging.getLogger("intentcast.node")

RELAY_TOPIC = "/intentcast/1/relay"
"""What relays provide, so that a peer behind NAT finds one."""
LOOKUP_TIMEOUT = 20.0
QUERY_CONCURRENCY = 8


def topic_key(topic: str) -> bytes:
    """The DHT key of a topic: the SHA-256 multihash of its name (0x12, 0x20, digest)."""
    return b"\x12\x20" + hashlib.sha256(topic.encode("utf-8")).digest()


class Discovery:
    """The node's DHT: a server when the node is reachable, a client behind NAT."""

    def __init__(self, host: IHost, *, server: bool = True) -> None:
        self.host = host
        self.dht = KadDHT(host, DHTMode.SERVER if server else DHTMode.CLIENT)
        self.provided: set[str] = set()

    @property
    def server(self) -> bool:
        return self.dht.mode == DHTMode.SERVER

    async def set_server(self, server: bool) -> None:
        await self.dht.switch_mode(DHTMode.SERVER if server else DHTMode.CLIENT)

    def routing_table_size(self) -> int:
        return self.dht.get_routing_table_size()

    async def add_peer(self, peer_id: str) -> None:
        """A connected peer, once identified: kept if it serves the DHT."""
        try:
            await self.dht.add_peer(ID.from_base58(peer_id))
        except Exception as exc:  # a peer that went away meanwhile
            log.debug("DHT add_peer %s: %s", peer_id, exc)

    async def refresh(self) -> None:
        """Look ourselves up, so the peers near us learn of us and we of them."""
        with trio.move_on_after(LOOKUP_TIMEOUT):
            try:
                await self.dht.refresh_routing_table()
            except Exception as exc:
                log.info("DHT refresh failed: %s", exc)

    async def advertise(self, topic: str) -> bool:
        """Tell the peers closest to the topic's key that we provide it."""
        self.provided.add(topic)
        with trio.move_on_after(LOOKUP_TIMEOUT):
            try:
                return await self.dht.provider_store.provide(topic_key(topic))
            except Exception as exc:
                log.info("DHT provide %s failed: %s", topic, exc)
        return False

    async def providers(self, topic: str, count: int = 20) -> dict[str, list[str]]:
        """Peers that provide `topic` (not us), with the addresses their records carry."""
        key = topic_key(topic)
        store = self.dht.provider_store
        found: dict[str, list[str]] = {}

        def take(infos: list[PeerInfo]) -> None:
            for info in infos:
                if info.peer_id != self.host.get_id() and len(found) < count:
                    found.setdefault(info.peer_id.to_base58(), [str(a) for a in info.addrs][:8])

        take(store.get_providers(key))  # records other providers sent us, if we serve
        with trio.move_on_after(LOOKUP_TIMEOUT):
            try:
                closest = await self.dht.peer_routing.find_closest_peers_network(key)
            except Exception as exc:
                log.info("DHT lookup of %s failed: %s", topic, exc)
                return found
            limiter = trio.CapacityLimiter(QUERY_CONCURRENCY)

            async def ask(peer: ID) -> None:
                async with limiter:
                    # The one-peer query py-libp2p's find_providers runs (see above).
                    infos, _ = await store._get_providers_from_peer_with_closers(peer, key)
                    take(infos)

            async with trio.open_nursery() as nursery:
                for peer in closest:
                    if peer != self.host.get_id():
                        nursery.start_soon(ask, peer)
        return found

    async def find_peer(self, peer_id: str) -> list[str]:
        """A peer's addresses as the DHT knows them (empty if it does not)."""
        with trio.move_on_after(LOOKUP_TIMEOUT):
            try:
                info = await self.dht.find_peer(ID.from_base58(peer_id))
            except Exception as exc:
                log.info("DHT find_peer %s failed: %s", peer_id, exc)
                return []
            return [str(a) for a in info.addrs][:8] if info is not None else []
        return []
