"""The node as the roles see it: one adapter for every `*Network` protocol they declare.

Each role names only what it needs (publish an intent, open a negotiation, open
a data stream, ...); this adapter gives all of it from one `Node`.
"""

from __future__ import annotations

from intentcast.agents.net.gossip import intent_topic
from intentcast.agents.net.node import DATA_PROTOCOL, Node, StreamChannel


class NodeNetwork:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.peer_id = node.peer_id

    def multiaddrs(self) -> list[str]:
        return self.node.multiaddrs()

    async def publish_intent(self, data: bytes) -> int:
        """Publish; how many peers subscribed to its topic it was sent to."""
        return (await self.node.publish_intent(data)).peers

    def intent_listeners(self, category: str) -> int:
        """How many peers subscribe to the topic intents of `category` travel on."""
        return self.node.topic_peers(intent_topic(category))

    async def publish_revocation(self, data: bytes) -> None:
        await self.node.publish_revocation(data)

    async def open_data(self, peer_id: str, addrs: list[str]) -> StreamChannel:
        return await self.node.open_stream(peer_id, addrs, DATA_PROTOCOL)

    def peer_addrs(self, peer_id: str) -> list[str]:
        return self.node.peer_addrs(peer_id)

    def peer_multiaddrs(self) -> list[str]:
        """Every connected peer as a dialable multiaddr ending in /p2p/<id>."""
        return [f"{a}/p2p/{p}" for p in self.node.peers() for a in self.node.peer_addrs(p)[:1]]

    async def connect(self, addr: str) -> bool:
        return await self.node.connect(addr)

    async def open_negotiation(self, peer_id: str, addrs: list[str]) -> StreamChannel:
        return await self.node.open_negotiation(peer_id, addrs)
