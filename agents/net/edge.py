"""Every peer held to its share at the node's edge (the numbers are in limits.py).

Three hooks into py-libp2p: a notifee that hears each connection come and go (the
node decides what to do with it), a wrapper in front of the swarm's stream handler
that counts each inbound stream before its protocol is even negotiated (the rate and
the per-peer total), and py-libp2p's protocol -> handler table replaced by one that
counts each handler's streams per peer and protocol, the handlers py-libp2p registers
itself included, whenever it registers them. A stream over a limit is reset and its
peer handed to `cut_off`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import multiaddr
import trio
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.custom_types import StreamHandlerFn

from intentcast.agents.net.limits import Guard

CutOff = Callable[[str, str], Awaitable[None]]
"""(peer id, reason): close every connection of the peer, ban it, count it."""


class Edge:
    def __init__(self, guard: Guard, cut_off: CutOff, *,
                 connected: Callable[[INetConn], None],
                 disconnected: Callable[[INetConn], None]) -> None:
        self.guard = guard
        self.cut_off = cut_off
        self.connected = connected
        self.disconnected = disconnected

    def guard_handlers(self, host: IHost) -> None:
        """Count every protocol handler's streams, now and later (call once the host is made)."""
        mux = host.get_mux()
        mux.handlers = _Counted(self, mux.handlers)

    def guard_network(self, host: IHost) -> None:
        """Hear connections, and count inbound streams (call once the host runs)."""
        network = host.get_network()
        inner = network.common_stream_handler  # type: ignore[attr-defined]
        network.set_stream_handler(self._inbound(inner))
        network.register_notifee(_Watch(self))

    def _inbound(self, inner: StreamHandlerFn) -> StreamHandlerFn:
        async def handle(stream: INetStream) -> None:
            peer_id = stream.muxed_conn.peer_id.to_base58()
            verdict = self.guard.stream_opened(peer_id, trio.current_time())
            try:
                if verdict is not None:
                    await stream.reset()
                    await self.cut_off(peer_id, verdict)
                    return
                await inner(stream)
            finally:
                if verdict is None:
                    self.guard.stream_closed(peer_id)

        return handle


class _Counted(dict[Any, Any]):
    """py-libp2p's protocol -> handler table, each handler counted per peer and protocol."""

    def __init__(self, edge: Edge, handlers: dict[Any, Any]) -> None:
        super().__init__()
        self.edge = edge
        for protocol, handler in handlers.items():
            self[protocol] = handler

    def __setitem__(self, protocol: Any, handler: Any) -> None:
        edge, name = self.edge, str(protocol)

        async def counted(stream: INetStream) -> None:
            peer_id = stream.muxed_conn.peer_id.to_base58()
            verdict = edge.guard.protocol_opened(peer_id, name)
            try:
                if verdict is not None:
                    await stream.reset()
                    await edge.cut_off(peer_id, verdict)
                    return
                await handler(stream)
            finally:
                edge.guard.protocol_closed(peer_id, name)

        super().__setitem__(protocol, counted if handler is not None else None)


class _Watch(INotifee):
    """py-libp2p's connection events (they must return quickly: the node only books them)."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self.edge.connected(conn)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self.edge.disconnected(conn)

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        return None

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        return None
