"""What one peer may take from a node: connections, streams, and how fast it opens them.

Pure bookkeeping (no libp2p, no clock read: time is an argument); node.py feeds it
every connection and inbound stream at the edge and cuts off a peer it names.
The numbers, and why:

- 256 connections in all and 4 per peer: py-libp2p itself opens up to 3 to one
  peer when it races addresses, and a relayed one may sit beside a direct one;
- 1,024 inbound streams open at once per peer, and per protocol: 512 negotiation
  streams (one per intent a vendor answers: an honest vendor that answers a burst
  of a person's intents opens that many), 64 each for the assistant and data
  protocols, 32 for anything else py-libp2p serves (DHT, gossip, identify, ping,
  relay, hole punching), 4 for /intentcast/about/1;
- inbound streams opened at 50 per second per peer, in bursts of up to 500 (a token
  bucket): a vendor answering a burst of 300 intents stays under it; a peer opening
  streams as fast as py-libp2p lets it (about 200 a second over loopback) is cut off
  within seconds.

A peer over any limit is cut off (every connection closed), counted by reason and
banned for two minutes: its new connections are closed as soon as they are up.
Memory is bounded: state exists only for connected peers and at most 4,096 bans.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

NEGOTIATE = "/intentcast/negotiate/1"
ASSISTANT = "/intentcast/assistant/1"
DATA = "/intentcast/data/1"
ABOUT = "/intentcast/about/1"

MAX_BANS = 4096


def _protocol_defaults() -> dict[str, int]:
    return {NEGOTIATE: 512, ASSISTANT: 64, DATA: 64, ABOUT: 4}


@dataclass(frozen=True)
class Limits:
    connections: int = 256
    connections_per_peer: int = 4
    streams_per_peer: int = 1024
    streams_per_protocol: dict[str, int] = field(default_factory=_protocol_defaults)
    streams_other_protocol: int = 32
    stream_rate: float = 50.0
    """Inbound streams a peer may open per second, sustained."""
    stream_burst: float = 500.0
    ban_seconds: float = 120.0

    def for_protocol(self, protocol: str) -> int:
        return self.streams_per_protocol.get(protocol, self.streams_other_protocol)


@dataclass
class _Peer:
    connections: set[object] = field(default_factory=set)
    streams: int = 0
    protocols: collections.Counter[str] = field(default_factory=collections.Counter)
    tokens: float = 0.0
    refilled: float = 0.0


class Guard:
    """Counts what each connected peer holds; says why, when one goes over a limit."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._peers: dict[str, _Peer] = {}
        self._connections = 0
        self._bans: collections.OrderedDict[str, float] = collections.OrderedDict()
        self.cut_off: collections.Counter[str] = collections.Counter()
        """Peers cut off, by reason."""

    # -- bans -----------------------------------------------------------------------------

    def banned(self, peer: str, now: float) -> bool:
        until = self._bans.get(peer)
        if until is None:
            return False
        if now >= until:
            del self._bans[peer]
            return False
        return True

    def ban(self, peer: str, reason: str, now: float) -> None:
        """Count the cut-off and refuse the peer for a while."""
        self.cut_off[reason] += 1
        self._bans.pop(peer, None)
        self._bans[peer] = now + self.limits.ban_seconds
        while len(self._bans) > MAX_BANS:
            self._bans.popitem(last=False)

    # -- connections ----------------------------------------------------------------------

    def connection_opened(self, peer: str, conn: object, now: float) -> str | None:
        """Record a connection; the reason to cut the peer off, if there is one."""
        if self.banned(peer, now):
            return "banned"
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _Peer(tokens=self.limits.stream_burst, refilled=now)
        if conn not in state.connections:
            state.connections.add(conn)
            self._connections += 1
        if len(state.connections) > self.limits.connections_per_peer:
            return "too_many_connections"
        if self._connections > self.limits.connections:
            return "node_full"
        return None

    def connection_closed(self, peer: str, conn: object) -> None:
        state = self._peers.get(peer)
        if state is None or conn not in state.connections:
            return
        state.connections.discard(conn)
        self._connections -= 1
        if not state.connections:
            del self._peers[peer]

    @property
    def connections(self) -> int:
        return self._connections

    # -- inbound streams ------------------------------------------------------------------

    def stream_opened(self, peer: str, now: float) -> str | None:
        """An inbound stream before its protocol is known: the rate and the per-peer total."""
        state = self._peers.get(peer)
        if state is None:
            return None  # a stream racing its connection's teardown: nothing to hold
        limits = self.limits
        state.tokens = min(limits.stream_burst,
                           state.tokens + (now - state.refilled) * limits.stream_rate)
        state.refilled = now
        if state.tokens < 1.0:
            return "stream_rate"
        state.tokens -= 1.0
        state.streams += 1
        if state.streams > limits.streams_per_peer:
            return "too_many_streams"
        return None

    def stream_closed(self, peer: str) -> None:
        state = self._peers.get(peer)
        if state is not None and state.streams > 0:
            state.streams -= 1

    def protocol_opened(self, peer: str, protocol: str) -> str | None:
        state = self._peers.get(peer)
        if state is None:
            return None
        state.protocols[protocol] += 1
        if state.protocols[protocol] > self.limits.for_protocol(protocol):
            return "too_many_streams"
        return None

    def protocol_closed(self, peer: str, protocol: str) -> None:
        state = self._peers.get(peer)
        if state is not None and state.protocols[protocol] > 0:
            state.protocols[protocol] -= 1

    def holding(self, peer: str) -> tuple[int, int]:
        """(connections, inbound streams) the peer holds now."""
        state = self._peers.get(peer)
        return (len(state.connections), state.streams) if state else (0, 0)
