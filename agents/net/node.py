"""The libp2p node every agent runs: gossipsub for intents, streams for negotiation.

One host per agent: Ed25519 identity from a seed kept in the agent's vault,
TCP, Noise, Yamux. This module owns the host's life and its peers; gossip.py
is the pubsub side (every message verified before it is delivered or
forwarded) and streams.py the framed stream protocols. Together they are the
only modules that import libp2p; libp2p's errors become ours here.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service

from intentcast.agents.net.gossip import Delivery, Gossip, GossipSettings, Published
from intentcast.agents.net.ports import PortError, check_listen
from intentcast.agents.net.streams import (
    ASSISTANT_PROTOCOL,
    DATA_PROTOCOL,
    NEGOTIATE_PROTOCOL,
    StreamChannel,
    StreamHandler,
)

log = logging.getLogger("intentcast.node")

__all__ = ["ASSISTANT_PROTOCOL", "DATA_PROTOCOL", "NEGOTIATE_PROTOCOL", "Delivery",
           "GossipSettings", "Node", "Published", "StreamChannel"]

PEERSTORE_TTL = 3600


class Node:
    """An agent's libp2p host. Use as `async with Node(seed, ...) as node:`."""

    def __init__(
        self,
        host_seed: bytes,
        *,
        listen: str = "/ip4/127.0.0.1/tcp/0",
        bootstrap: list[str] | tuple[str, ...] = (),
        enable_mdns: bool = False,
        now: Callable[[], float] = time.time,
        gossip: GossipSettings | None = None,
    ) -> None:
        self.key_pair = create_new_key_pair(host_seed)
        self.listen = multiaddr.Multiaddr(listen)
        self.bootstrap = list(bootstrap)
        self.now = now
        self.dropped: collections.Counter[str] = collections.Counter()
        self.on_drop: Callable[[str, str], None] | None = None
        """Called with (reason, topic or "") for everything the node refuses."""
        self.host = new_host(
            key_pair=self.key_pair,
            sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(
                self.key_pair, noise_privkey=create_x25519_key_pair().private_key)},
            muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
            enable_mDNS=enable_mdns,
        )
        self.gossip = Gossip(self.host, now=now, drop=self.drop, settings=gossip)
        self.peer_id = self.host.get_id().to_base58()
        self._stack = AsyncExitStack()
        self._handler: StreamHandler | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Node:
        check_listen(str(self.listen))  # py-libp2p would share a taken port (net/ports.py)
        stack = self._stack
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self.host.run(listen_addrs=[self.listen]))
            stack.push_async_callback(self._close_listeners)
            if not self.host.get_addrs():  # py-libp2p logs a failed listen and runs on
                raise PortError(str(self.listen), "py-libp2p could not listen there")
            nursery = await stack.enter_async_context(trio.open_nursery())
            stack.callback(nursery.cancel_scope.cancel)
            await stack.enter_async_context(background_trio_service(self.gossip.pubsub))
            await stack.enter_async_context(background_trio_service(self.gossip.router))
            await self.gossip.pubsub.wait_until_ready()
            self.host.set_stream_handler(NEGOTIATE_PROTOCOL, self._on_stream)
            for addr in self.bootstrap:
                await self.connect(addr)
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    async def _close_listeners(self) -> None:
        # py-libp2p's host.run cancels its tasks, which closes the connections, but leaves the
        # listening sockets open: the port would stay taken after the node ends. (Swarm.close
        # would close them too, after each connection one by one, 0.1 s each in Yamux.close.)
        for listener in list(self.host.get_network().listeners.values()):
            await listener.close()

    def drop(self, reason: str, topic: str = "") -> None:
        self.dropped[reason] += 1
        if self.on_drop is not None:
            self.on_drop(reason, topic)

    @property
    def delivered(self) -> collections.Counter[str]:
        return self.gossip.delivered

    # -- peers --------------------------------------------------------------------------

    def multiaddrs(self) -> list[str]:
        suffix = f"/p2p/{self.peer_id}"
        return [str(a) if str(a).endswith(suffix) else f"{a}{suffix}"
                for a in self.host.get_addrs()]

    def peer_addrs(self, peer_id: str) -> list[str]:
        """The addresses the peerstore knows for a peer (from identify or a dial)."""
        try:
            found = self.host.get_peerstore().addrs(ID.from_base58(peer_id))
        except Exception:  # unknown peer, or a malformed id
            return []
        return [str(a) for a in found][:8]

    def peers(self) -> list[str]:
        return sorted(p.to_base58() for p in self.host.get_connected_peers())

    def topics(self) -> dict[str, int]:
        return self.gossip.topics()

    def topic_peers(self, topic: str) -> int:
        return self.gossip.topic_peers(topic)

    async def wait_for_topic_peers(self, topic: str, count: int) -> None:
        await self.gossip.wait_for_topic_peers(topic, count)

    async def connect(self, addr: str) -> bool:
        """Dial a peer by its full multiaddr (…/p2p/<id>); False, logged, if it fails."""
        try:
            info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
            await self.host.connect(info)
        except Exception as exc:
            self.drop("dial_failed")
            log.warning("could not connect to %s: %s", addr, exc)
            return False
        return True

    # -- gossip -------------------------------------------------------------------------

    async def subscribe_intents(self, category: str) -> AsyncIterator[Delivery]:
        """Verified intents on `category`'s topic, as they arrive."""
        return await self.gossip.subscribe_intents(category)

    async def subscribe_revocations(self) -> AsyncIterator[Delivery]:
        return await self.gossip.subscribe_revocations()

    async def publish_intent(self, data: bytes) -> Published:
        return await self.gossip.publish_intent(data)

    async def publish_revocation(self, data: bytes) -> Published:
        return await self.gossip.publish_revocation(data)

    async def publish_raw(self, topic: str, data: bytes, *, signed: bool = False) -> Published:
        """Publish bytes unchecked (for tests that play a hostile peer), at the same pace."""
        return await self.gossip.publish_raw(topic, data, signed=signed)

    # -- streams ------------------------------------------------------------------------

    def set_negotiation_handler(self, handler: StreamHandler) -> None:
        self._handler = handler

    def set_stream_handler(self, protocol: str, handler: StreamHandler) -> None:
        """Serve another framed-envelope protocol (the assistant desk, data) with `handler`."""

        async def serve(stream: INetStream) -> None:
            channel = StreamChannel(stream, self.drop)
            try:
                await handler(channel)
            except Exception:  # one peer's stream must never take the node down
                self.drop("handler_error")
                log.exception("%s handler failed", protocol)
                await channel.reset()

        self.host.set_stream_handler(TProtocol(protocol), serve)

    async def open_stream(self, peer_id: str, addrs: list[str], protocol: str
                          ) -> StreamChannel:
        """Open a framed stream of `protocol` to a peer, dialling `addrs` if need be."""
        peer = ID.from_base58(peer_id)
        maddrs: list[Any] = []
        for addr in addrs:
            try:
                maddrs.append(multiaddr.Multiaddr(addr))
            except Exception:
                continue
        if maddrs:
            await self.host.connect(PeerInfo(peer, maddrs))
        stream = await self.host.new_stream(peer, [TProtocol(protocol)])
        return StreamChannel(stream, self.drop)

    async def _on_stream(self, stream: INetStream) -> None:
        channel = StreamChannel(stream, self.drop)
        if self._handler is None:
            await channel.reset()
            return
        try:
            await self._handler(channel)
        except Exception:  # one peer's stream must never take the node down
            self.drop("handler_error")
            log.exception("negotiation handler failed")
            await channel.reset()

    async def open_negotiation(self, peer_id: str, addrs: list[str]) -> StreamChannel:
        """Open a negotiation stream to a peer, dialling one of `addrs` if not connected."""
        return await self.open_stream(peer_id, addrs, NEGOTIATE_PROTOCOL)
