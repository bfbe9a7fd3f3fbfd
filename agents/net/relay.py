"""Reachable behind NAT: circuit relay v2 and hole punching (DCUtR), from py-libp2p.

Every node accepts relayed connections (the "stop" side) and can dial through a
relay. A node configured to serve as a relay (`network.relay_service`, or
`--relay-service`) also runs the "hop" side, within `SERVE_LIMITS`. A node that
learns it is behind NAT reserves a slot on a relay and advertises
`<relay address>/p2p/<relay>/p2p-circuit/p2p/<itself>` first, so vendors can
open their negotiation stream to it through the relay.

DCUtR runs on every node: over a relayed connection, py-libp2p first dials the
peer's direct addresses and then tries a hole punch. Where one side has a public
address (the usual case: a person behind a home router, a vendor on a server)
the side behind NAT dials out and the two move to a direct connection. It closes
the relayed one after a grace period only when no stream is open on it
(`_SafeDCUtR`): py-libp2p would close it under a running negotiation.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

import multiaddr
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.dcutr import DCUtRProtocol
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

log = logging.getLogger("intentcast.node")

SERVE_LIMITS = RelayLimits(duration=3600, data=16 * 1024 * 1024, max_circuit_conns=64,
                           max_reservations=128, reservation_ttl=3600)
"""A relay's bounds: a relayed connection lasts up to an hour and carries up to 16 MiB;
128 reservations and 64 circuits at once."""
MAX_RESERVATIONS = 2
"""Relays a node behind NAT holds a slot on at once."""
RESERVE_TIMEOUT = 15.0


def is_relayed(addr: str) -> bool:
    return "/p2p-circuit" in addr


class _SafeDCUtR(DCUtRProtocol):
    """py-libp2p's DCUtR, but a relayed connection with open streams is left alone."""

    async def _close_relayed_conns_after_grace(self, peer_id: ID, grace: float = 60.0
                                               ) -> None:
        await trio.sleep(grace)
        for conn in list(self.host.get_network().connections.get(peer_id, [])):
            addrs = [str(a) for a in conn.get_transport_addresses()]
            if addrs and all(is_relayed(a) for a in addrs) and not conn.get_streams():
                await conn.close()


class Relay:
    """The relay side of a node: dial through relays, accept relayed peers, hold slots."""

    def __init__(self, host: IHost, *, serve: bool) -> None:
        self.host = host
        self.serve = serve
        roles = RelayRole.STOP | (RelayRole.HOP if serve else RelayRole.STOP)
        # No CLIENT role: with it py-libp2p takes a reservation on every relay it dials
        # through; this node reserves only where it chooses (`reserve`).
        self.protocol = CircuitV2Protocol(host, limits=SERVE_LIMITS, allow_hop=serve)
        self.transport = CircuitV2Transport(host, self.protocol,
                                            RelayConfig(roles=roles, limits=SERVE_LIMITS))
        self.dcutr = _SafeDCUtR(host)
        self._slots: dict[str, list[str]] = {}
        """Relay peer id -> the relay's addresses we reached it at, while we hold a slot."""
        self._nursery: trio.Nursery | None = None

    async def start(self, stack: AsyncExitStack, nursery: trio.Nursery) -> None:
        await stack.enter_async_context(background_trio_service(self.protocol))
        await self.protocol.event_started.wait()
        await stack.enter_async_context(background_trio_service(self.dcutr))
        await self.dcutr.event_started.wait()
        self._nursery = nursery

    # -- dialling through a relay ---------------------------------------------------------

    async def dial(self, addr: str) -> None:
        """A relayed connection to the peer at the end of `addr` (…/p2p-circuit/p2p/<id>)."""
        await self.transport.dial(multiaddr.Multiaddr(addr))

    # -- holding slots --------------------------------------------------------------------

    def holds(self) -> list[str]:
        return list(self._slots)

    def relayed_addrs(self) -> list[str]:
        """Our addresses through the relays we hold a slot on, best first."""
        me = self.host.get_id().to_base58()
        out = []
        for relay, addrs in self._slots.items():
            for addr in addrs:
                base = addr.split("/p2p/")[0]
                out.append(f"{base}/p2p/{relay}/p2p-circuit/p2p/{me}")
        return out[:4]

    async def reserve(self, relay: str, addrs: list[str]) -> bool:
        """Take (or renew) a slot on `relay`; py-libp2p renews it before it expires."""
        if self._nursery is None:
            return False
        relay_id = ID.from_base58(relay)
        direct = list(dict.fromkeys(a for a in addrs if not is_relayed(a)))
        # Loopback names the dialler itself, except on this very machine.
        outside = [a for a in direct if not a.startswith(("/ip4/127.", "/ip6/::1/"))]
        direct = outside or direct
        with trio.move_on_after(RESERVE_TIMEOUT):
            try:
                if direct:
                    await self.host.connect(PeerInfo(relay_id, [multiaddr.Multiaddr(a)
                                                                for a in direct]))
                stream = await self.host.new_stream(relay_id, [HOP_PROTOCOL])
                try:
                    ok = await self.transport.reserve(stream, relay_id, self._nursery)
                finally:
                    await stream.close()
            except Exception as exc:
                log.info("no slot on relay %s: %s", relay, exc)
                return False
            if ok:
                self._slots[relay] = direct[:2]
                log.info("holding a slot on relay %s", relay)
            return bool(ok)
        log.info("no slot on relay %s: no answer in %.0f s", relay, RESERVE_TIMEOUT)
        return False

    def release(self, relay: str) -> None:
        """The connection to `relay` is gone, and with it the slot (a new one is taken when
        the connection is back)."""
        self._slots.pop(relay, None)
