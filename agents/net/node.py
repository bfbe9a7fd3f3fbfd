"""The libp2p node every agent runs: its host, its peers, and how it stays connected.

One host per agent: Ed25519 identity from a seed kept in the agent's vault, TCP,
Noise, Yamux. This module owns the host's life: every stream handler is set
before the first dial (`join`), so the first identify a peer runs already lists
them all; the peers it was connected to go into a peer book and are dialled
again at start, and again with capped backoff whenever a connection drops
(keeper.py); the DHT finds the peers of a topic beyond the bootstrap list
(discovery.py); a node behind NAT holds a relay slot and advertises the relayed
address first (relay.py); every peer is held to its share at the edge
(limits.py). gossip.py is the pubsub side, streams.py the framed protocols.
These modules are the only ones that import libp2p; libp2p's errors become ours.
"""

from __future__ import annotations

import collections
import ipaddress
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import INetConn, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.host.ping import PingService
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.rcmgr.metrics import Direction
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service
from libp2p.utils.address_validation import expand_wildcard_address

from intentcast.agents.net import dialer
from intentcast.agents.net.about import ABOUT_PROTOCOL, About, AboutError
from intentcast.agents.net.discovery import RELAY_TOPIC, Discovery
from intentcast.agents.net.edge import Edge
from intentcast.agents.net.gossip import Delivery, Gossip, GossipSettings, Published, intent_topic
from intentcast.agents.net.keeper import Keeper
from intentcast.agents.net.limits import Guard, Limits
from intentcast.agents.net.peerbook import MemoryPeerBook, PeerBook, PeerRecord, is_peer_id
from intentcast.agents.net.ports import PortError, check_listen
from intentcast.agents.net.relay import MAX_RESERVATIONS, Relay, is_relayed
from intentcast.agents.net.streams import (
    ASSISTANT_PROTOCOL,
    DATA_PROTOCOL,
    NEGOTIATE_PROTOCOL,
    StreamChannel,
    StreamHandler,
)
from intentcast.protocol import Intent, IntentcastError, envelope

log = logging.getLogger("intentcast.node")

__all__ = ["ASSISTANT_PROTOCOL", "DATA_PROTOCOL", "NEGOTIATE_PROTOCOL", "Delivery",
           "GossipSettings", "Node", "PeerView", "Published", "StreamChannel"]

REACHABILITY = ("auto", "public", "private")
RECENT = 7 * 86_400
"""Peers seen within this long are dialled again at start (at most `RECENT_PEERS`)."""
RECENT_PEERS = 16
POST_PEERS = 2
"""Peers of a topic a node that posts in it connects to (found in the DHT), if it knows
fewer: its intent reaches the topic's mesh through them."""
SERVE_PEERS = 6
"""Peers of a topic a node that serves it keeps connected to, picked at random among the
providers: gossipsub's mesh degree, and random links keep the topic's vendors one mesh."""
ADVERTISE_EVERY = 600.0
AGAIN = 15.0
"""Advertise, look up or refresh again this soon while it found too few peers."""
LOOKUP_EVERY = 600.0
PING_EVERY = 60.0
IDENTIFY_WAIT = 5.0
EventSink = Callable[[dict[str, Any]], None]
_QUIET = {"libp2p.kad_dht": logging.ERROR, "libp2p.relay.circuit_v2": logging.CRITICAL}
"""py-libp2p loggers that warn about every peer that closes a DHT query or a relay stream
its own way; the node logs what matters of both itself."""


@dataclass
class _Connected:
    since: float
    about: About = field(default_factory=About)
    latency_ms: float | None = None


@dataclass(frozen=True)
class PeerView:
    """A connected peer as `intentcast peers` shows it."""

    peer_id: str
    addrs: list[str]
    direction: str
    relayed: bool
    latency_ms: float | None
    role: str
    name: str
    topics: list[str]
    relay: bool
    connected_for: float


def _peer_of(addr: str) -> str:
    """The peer id that ends '…/p2p/<id>'; ValueError if there is none."""
    _, sep, peer = addr.rpartition("/p2p/")
    if not sep or not is_peer_id(peer):
        raise ValueError(f"{addr!r} does not end in /p2p/<peer id>")
    return peer


def _ip_of(addr: str) -> str:
    parts = addr.split("/")
    return parts[2] if len(parts) > 2 and parts[1] in ("ip4", "ip6") else ""


class Node:
    """An agent's libp2p host. `async with Node(seed, ...) as node:`, set every stream
    handler, then `await node.join()` to dial the first peers."""

    def __init__(
        self,
        host_seed: bytes,
        *,
        listen: str = "/ip4/127.0.0.1/tcp/0",
        bootstrap: Sequence[str] = (),
        enable_mdns: bool = False,
        now: Callable[[], float] = time.time,
        gossip: GossipSettings | None = None,
        peer_book: PeerBook | None = None,
        about: About | None = None,
        relay_service: bool = False,
        relays: Sequence[str] = (),
        reachability: str = "auto",
        limits: Limits | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        if reachability not in REACHABILITY:
            raise ValueError(f"reachability is one of {', '.join(REACHABILITY)}")
        for name, level in _QUIET.items():
            logging.getLogger(name).setLevel(level)
        self.key_pair = create_new_key_pair(host_seed)
        self.listen = multiaddr.Multiaddr(listen)
        self.bootstrap = list(bootstrap)
        self.relays = list(relays)
        self.now = now
        self.book: PeerBook = peer_book or MemoryPeerBook()
        self.about = about or About(relay=relay_service)
        self.reachability = reachability
        self.guard = Guard(limits)
        self.on_event = on_event
        self.dropped: collections.Counter[str] = collections.Counter()
        self.on_drop: Callable[[str, str, str], None] | None = None
        """Called with (reason, topic or "") for everything the node refuses."""
        self.host = new_host(
            key_pair=self.key_pair,
            sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(
                self.key_pair, noise_privkey=create_x25519_key_pair().private_key)},
            muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
            enable_mDNS=enable_mdns,
            # No auto-connecting to strangers to reach a quota: the keeper and the DHT
            # decide whom to dial. py-libp2p prunes only above 192 connections.
            connection_config=ConnectionConfig(
                min_connections=0, low_watermark=0, high_watermark=192,
                max_connections=self.guard.limits.connections,
                max_connections_per_peer=3),
            addrs_factory=self._advertised,
        )
        self.peer_id = self.host.get_id().to_base58()
        self.gossip = Gossip(self.host, now=now, drop=self.drop, settings=gossip)
        self.discovery = Discovery(self.host, server=reachability != "private")
        self.relay = Relay(self.host, serve=relay_service)
        self.keeper = Keeper(self)
        self.ping = PingService(self.host)
        self._private = reachability == "private"
        self._served: list[str] = []
        self._connected: dict[str, _Connected] = {}
        self._changed = trio.Event()
        self._reachable = trio.Event()
        self._slot_lock = trio.Lock()
        self._asked_dht: dict[str, float] = {}
        self._stack = AsyncExitStack()
        self._nursery: trio.Nursery | None = None
        self._joined = False
        self._handler: StreamHandler | None = None
        self.edge = Edge(self.guard, self._cut_off, connected=self._on_connected,
                         disconnected=self._on_disconnected)
        self.edge.guard_handlers(self.host)
        self.host.set_stream_handler(NEGOTIATE_PROTOCOL, self._on_negotiation)
        self.set_stream_handler(ABOUT_PROTOCOL, self._serve_about)

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
            self.edge.guard_network(self.host)
            nursery = await stack.enter_async_context(trio.open_nursery())
            stack.callback(nursery.cancel_scope.cancel)
            self._nursery = nursery
            await stack.enter_async_context(background_trio_service(self.gossip.pubsub))
            await stack.enter_async_context(background_trio_service(self.gossip.router))
            await self.gossip.pubsub.wait_until_ready()
            await stack.enter_async_context(background_trio_service(self.discovery.dht))
            await self.relay.start(stack, nursery)
            self.keeper.start(nursery)
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

    async def join(self) -> None:
        """Go out to the network: dial the bootstrap peers and the recently seen ones (up to
        10 s for the first round), keep them connected, and start finding peers."""
        if self._joined:
            return
        self._joined = True
        first: dict[str, tuple[list[str], bool]] = {}
        for addr in self.bootstrap:
            try:
                peer = _peer_of(addr)
            except ValueError as exc:
                log.warning("bootstrap: %s", exc)
                continue
            first.setdefault(peer, ([], True))[0].append(addr)
        since = int(self.now()) - RECENT
        # The most recently seen, vendors and relays before peers met in passing (a DHT
        # query connects to many).
        recent = sorted(self.book.recent(since=since, limit=4 * RECENT_PEERS),
                        key=lambda r: (r.role != "", r.last_seen), reverse=True)
        for record in recent[:RECENT_PEERS]:
            if record.peer_id != self.peer_id and record.peer_id not in first:
                first[record.peer_id] = (list(record.addrs), False)
        with trio.move_on_after(dialer.DIAL_TIMEOUT):
            async with trio.open_nursery() as nursery:
                for peer, (addrs, _) in first.items():
                    nursery.start_soon(self.dial, peer, addrs)
        for peer, (addrs, forever) in first.items():
            self.keeper.want(peer, addrs, forever=forever)
        assert self._nursery is not None
        self._nursery.start_soon(self._maintain)

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def drop(self, reason: str, topic: str = "", via: str = "") -> None:
        """Count something refused (for a gossip message: `via` is the peer it came from)."""
        self.dropped[reason] += 1
        if self.on_drop is not None:
            self.on_drop(reason, topic, via)

    @property
    def delivered(self) -> collections.Counter[str]:
        return self.gossip.delivered

    # -- our addresses ------------------------------------------------------------------

    def _direct_addrs(self) -> list[multiaddr.Multiaddr]:
        if not hasattr(self, "peer_id"):  # BasicHost asks while it is being made
            return []
        out: list[multiaddr.Multiaddr] = []
        for addr in self.host.get_transport_addrs():
            if is_relayed(str(addr)):
                continue
            if _ip_of(str(addr)) in ("0.0.0.0", "::"):
                expanded = expand_wildcard_address(addr)
                out += [a for a in expanded if _ip_of(str(a)) not in ("0.0.0.0", "::")]
                out.append(multiaddr.Multiaddr(str(addr).replace("/0.0.0.0/", "/127.0.0.1/")
                                               .replace("/ip6/::/", "/ip6/::1/")))
            else:
                out.append(addr)
        return list(dict.fromkeys(out))

    def _advertised(self, candidates: list[multiaddr.Multiaddr]) -> list[multiaddr.Multiaddr]:
        """What identify and DHT records carry: our listen addresses, wildcards expanded
        (relayed addresses go in `multiaddrs()`: py-libp2p would mangle them here)."""
        return self._direct_addrs()

    def multiaddrs(self) -> list[str]:
        """Where peers reach us, ending in /p2p/<id>: through our relays first when we are
        behind NAT, then directly (the order of an intent's `reply_to`)."""
        suffix = f"/p2p/{self.peer_id}"
        direct = [f"{a}{suffix}" for a in self._direct_addrs()]
        # Loopback only when there is nothing else: elsewhere it names the dialler itself.
        outside = [a for a in direct if _ip_of(a) not in ("127.0.0.1", "::1")]
        return (self.relay.relayed_addrs() if self._private else []) + (outside or direct)

    @property
    def private(self) -> bool:
        """True when the node is behind NAT (told so, or seen so by a peer)."""
        return self._private

    async def wait_reachable(self) -> None:
        """Return once a node behind NAT holds a relay slot (at once for other nodes)."""
        if self._private and not self.relay.holds():
            await self._reachable.wait()

    # -- peers --------------------------------------------------------------------------

    def is_connected(self, peer_id: str) -> bool:
        try:
            return bool(self.host.get_network().get_connections(ID.from_base58(peer_id)))
        except Exception:  # a malformed id
            return False

    async def wait_disconnected(self, peer_id: str) -> None:
        while self.is_connected(peer_id):
            await self._changed.wait()

    async def wait_connected(self, peer_id: str) -> None:
        """Return once a new connection to the peer is up (not at once if one is up now)."""
        while True:
            changed = self._changed
            await changed.wait()
            if self.is_connected(peer_id):
                return

    def _changed_now(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def peer_addrs(self, peer_id: str) -> list[str]:
        """The addresses we know for a peer: from identify or a dial, then the peer book."""
        found: list[str] = []
        try:
            found = [str(a) for a in self.host.get_peerstore().addrs(ID.from_base58(peer_id))]
        except Exception:  # unknown peer, or a malformed id
            found = []
        record = self.book.get(peer_id)
        if record is not None:
            found += list(record.addrs)
        return [a for a in dict.fromkeys(found) if _ip_of(a) not in ("0.0.0.0", "::")][:8]

    def peers(self) -> list[str]:
        return sorted(p.to_base58() for p in self.host.get_connected_peers())

    def peer_views(self) -> list[PeerView]:
        views = []
        now = trio.current_time()
        for peer in self.host.get_connected_peers():
            peer_id = peer.to_base58()
            conns = self.host.get_network().get_connections(peer)
            if not conns:
                continue
            state = self._connected.get(peer_id) or _Connected(since=now)
            remote = [str(a) for c in conns for a in c.get_transport_addresses()]
            direction = getattr(conns[0], "direction", Direction.UNKNOWN)
            views.append(PeerView(
                peer_id=peer_id, addrs=remote[:4],
                direction={Direction.INBOUND: "inbound",
                           Direction.OUTBOUND: "outbound"}.get(direction, "unknown"),
                relayed=bool(remote) and all(is_relayed(a) for a in remote),
                latency_ms=state.latency_ms, role=state.about.role, name=state.about.name,
                topics=sorted(set(state.about.topics) | {
                    t for t, ps in self.gossip.pubsub.peer_topics.items()
                    if peer in ps and t.startswith("/intentcast/1/intents/")}),
                relay=state.about.relay, connected_for=round(now - state.since, 1)))
        return sorted(views, key=lambda v: v.peer_id)

    def network_status(self) -> dict[str, Any]:
        """Reachability, relays, the DHT and the limits, for `status` and the API."""
        return {
            "reachability": "private" if self._private else (
                "public" if self.reachability == "public" else "direct"),
            "relays": self.relay.holds(), "relay_service": self.relay.serve,
            "dht": {"server": self.discovery.server,
                    "routing_table": self.discovery.routing_table_size()},
            "serves": list(self._served), "kept": len(self.keeper.wanted()),
            "connections": self.guard.connections, "cut_off": dict(self.guard.cut_off),
        }

    def topics(self) -> dict[str, int]:
        return self.gossip.topics()

    def topic_peers(self, topic: str) -> int:
        return self.gossip.topic_peers(topic)

    async def wait_for_topic_peers(self, topic: str, count: int) -> None:
        await self.gossip.wait_for_topic_peers(topic, count)

    async def connect(self, addr: str) -> bool:
        """Dial a peer by its full multiaddr (…/p2p/<id>) and keep it connected from now
        on; False, logged, if the first dial fails (the keeper goes on trying)."""
        try:
            peer = _peer_of(addr)
            multiaddr.Multiaddr(addr)
        except Exception as exc:
            self.drop("dial_failed")
            log.warning("not a peer address %s: %s", addr, exc)
            return False
        ok = await self.dial(peer, [addr])
        if self._joined:
            self.keeper.want(peer, [addr], forever=True)
        return ok

    async def dial(self, peer_id: str, addrs: list[str]) -> bool:
        """Connect to a peer through `addrs` or anything else known of it (direct first,
        relayed soon after: dialer.py); True once connected. Never raises."""
        if peer_id == self.peer_id or not is_peer_id(peer_id):
            return False
        if self.is_connected(peer_id):
            return True
        try:
            await self._reach(peer_id, addrs)
        except Exception as exc:
            # Every address we knew failed: the peer may have moved. Ask the DHT where it is
            # (at most every 5 minutes for a peer, the keeper may be dialling it for days).
            now = trio.current_time()
            moved: list[str] = []
            if now - self._asked_dht.get(peer_id, -1e9) >= 300:
                self._asked_dht[peer_id] = now
                while len(self._asked_dht) > 1024:
                    del self._asked_dht[next(iter(self._asked_dht))]
                tried = set(addrs) | set(self.peer_addrs(peer_id))
                moved = [a for a in await self.discovery.find_peer(peer_id) if a not in tried]
            try:
                if not moved:
                    raise exc
                await self._reach(peer_id, moved)
            except Exception as last:
                log.info("could not connect to %s: %s", peer_id, last)
                self.drop("dial_failed")
                return False
        return True

    async def _reach(self, peer_id: str, addrs: list[str]) -> None:
        known = list(dict.fromkeys([*addrs, *self.peer_addrs(peer_id)]))
        await dialer.reach(self.host, self.relay, peer_id,
                           known or await self.discovery.find_peer(peer_id))

    # -- streams ------------------------------------------------------------------------

    def set_negotiation_handler(self, handler: StreamHandler) -> None:
        """Who answers negotiation streams (the protocol itself is served from the start)."""
        self._handler = handler

    def set_stream_handler(self, protocol: str, handler: StreamHandler) -> None:
        """Serve another framed-envelope protocol (the assistant desk, data) with `handler`.
        Before `join`: identify tells each peer our protocols at the first connection."""
        self._refuse_late(protocol)

        async def serve(stream: INetStream) -> None:
            channel = StreamChannel(stream, self.drop)
            try:
                await handler(channel)
            except Exception:  # one peer's stream must never take the node down
                self.drop("handler_error")
                log.exception("%s handler failed", protocol)
                await channel.reset()

        self.host.set_stream_handler(TProtocol(protocol), serve)

    def _refuse_late(self, what: str) -> None:
        if self._joined:
            raise RuntimeError(f"{what} must be set before join(): peers identified us "
                               "already")

    async def open_stream(self, peer_id: str, addrs: list[str], protocol: str
                          ) -> StreamChannel:
        """Open a framed stream of `protocol` to a peer, dialling it if need be (direct or
        through a relay, see `dial`). Raises ConnectionError if it cannot be reached."""
        if not self.is_connected(peer_id):
            await self._reach(peer_id, addrs)
        stream = await self.host.new_stream(ID.from_base58(peer_id), [TProtocol(protocol)])
        return StreamChannel(stream, self.drop)

    async def _on_negotiation(self, stream: INetStream) -> None:
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

    # -- gossip -------------------------------------------------------------------------

    async def subscribe_intents(self, category: str) -> AsyncIterator[Delivery]:
        """Verified intents on `category`'s topic, as they arrive."""
        return await self.gossip.subscribe_intents(category)

    async def subscribe_revocations(self) -> AsyncIterator[Delivery]:
        return await self.gossip.subscribe_revocations()

    async def publish_intent(self, data: bytes) -> Published:
        """Publish an intent, first finding peers of its topic in the DHT if we know too
        few (a person's daemon provides nothing itself: it only looks up)."""
        try:
            verified = envelope.open(data, now=int(self.now()))
        except IntentcastError:
            verified = None
        if verified is not None and isinstance(verified.message, Intent):
            topic = intent_topic(verified.message.category)
            if self.topic_peers(topic) < POST_PEERS:
                await self.find_topic_peers(topic, POST_PEERS)
        return await self.gossip.publish_intent(data)

    async def publish_revocation(self, data: bytes) -> Published:
        return await self.gossip.publish_revocation(data)

    async def publish_raw(self, topic: str, data: bytes, *, signed: bool = False) -> Published:
        """Publish bytes unchecked (for tests that play a hostile peer), at the same pace."""
        return await self.gossip.publish_raw(topic, data, signed=signed)

    # -- discovery ----------------------------------------------------------------------

    def serve(self, topics: Sequence[str]) -> None:
        """Advertise these topics in the DHT and keep connected to some of their peers
        (a vendor's categories). Call before `join`."""
        self._served = [t for t in topics if t not in self._served] + self._served

    async def find_topic_peers(self, topic: str, wanted: int) -> tuple[int, int]:
        """Look the topic's providers up and connect to some, picked at random and dialled
        together, until `wanted` are connected; (providers found, connected)."""
        found = await self.discovery.providers(topic)
        connected = [p for p in found if self.is_connected(p)]
        others = [p for p in found if p not in connected]
        random.shuffle(others)
        while others and len(connected) < wanted:
            batch, others = others[:wanted - len(connected)], others[wanted - len(connected):]
            async with trio.open_nursery() as nursery:
                for peer in batch:
                    nursery.start_soon(self.dial, peer, found[peer])
            connected += [p for p in batch if self.is_connected(p)]
        log.info("%d of %d providers of %s connected", len(connected), len(found), topic)
        self._emit({"event": "topic_peers", "topic": topic, "providers": len(found),
                    "connected": len(connected)})
        return len(found), len(connected)

    async def _maintain(self) -> None:
        """The node's own upkeep: DHT refresh, adverts and lookups of served topics,
        latencies. Runs from `join` until the node stops."""
        refreshed_at = -AGAIN
        advertised: dict[str, float] = {}
        """Topic -> when it is due again."""
        looked: dict[str, float] = {}
        pinged_at = trio.current_time()
        while True:
            now = trio.current_time()
            if now - refreshed_at >= (AGAIN if self.discovery.routing_table_size() < 5
                                      else LOOKUP_EVERY):
                refreshed_at = now
                await self.discovery.refresh()
            if self.about.relay and now >= advertised.get(RELAY_TOPIC, 0.0):
                reached = await self.discovery.advertise(RELAY_TOPIC)
                advertised[RELAY_TOPIC] = now + (ADVERTISE_EVERY if reached else AGAIN)
            for topic in self._served:
                if now < min(advertised.get(topic, 0.0), looked.get(topic, 0.0)):
                    continue
                reached = True
                if now >= advertised.get(topic, 0.0):
                    reached = await self.discovery.advertise(topic)
                if now >= looked.get(topic, 0.0):
                    found, count = await self.find_topic_peers(topic, SERVE_PEERS)
                    # Again soon while nobody else serves it or dials failed (the DHT is
                    # likely still forming: adverts go out again too, to the peers that
                    # joined); peers that come later find us themselves.
                    short = not found or count < min(SERVE_PEERS, found)
                    looked[topic] = now + (AGAIN if short else LOOKUP_EVERY)
                    advertised[topic] = now + (AGAIN if short or not reached
                                               else ADVERTISE_EVERY)
            if self._private and len(self.relay.holds()) < MAX_RESERVATIONS:
                await self._find_relays()
            if now - pinged_at >= PING_EVERY:
                pinged_at = now
                async with trio.open_nursery() as nursery:
                    for peer in list(self._connected):
                        nursery.start_soon(self._measure, peer)
            with trio.move_on_after(AGAIN):
                await self._changed.wait()
                await trio.sleep(1.0)  # let a burst of connection changes settle

    # -- what happens as peers come and go ----------------------------------------------

    def _on_connected(self, conn: INetConn) -> None:
        peer = conn.muxed_conn.peer_id
        peer_id = peer.to_base58()
        verdict = self.guard.connection_opened(peer_id, conn, trio.current_time())
        assert self._nursery is not None
        if verdict == "node_full":
            self.drop("node_full")
            self._nursery.start_soon(conn.close)
            return
        if verdict is not None:
            self._nursery.start_soon(self._cut_off, peer_id, verdict)
            return
        first = peer_id not in self._connected
        if first:
            self._connected[peer_id] = _Connected(since=trio.current_time())
        self._changed_now()
        self.keeper.poke(peer_id)
        remote = [str(a) for a in conn.get_transport_addresses()]
        direction = getattr(conn, "direction", Direction.UNKNOWN)
        self._emit({"event": "peer_connected", "peer_id": peer_id,
                    "relayed": bool(remote) and all(is_relayed(a) for a in remote),
                    "direction": "inbound" if direction == Direction.INBOUND else "outbound"})
        if first:
            self._nursery.start_soon(self._greet, peer_id)

    def _on_disconnected(self, conn: INetConn) -> None:
        peer_id = conn.muxed_conn.peer_id.to_base58()
        self.guard.connection_closed(peer_id, conn)
        if self.is_connected(peer_id):
            return
        state = self._connected.pop(peer_id, None)
        self._changed_now()
        if state is not None:
            self._emit({"event": "peer_disconnected", "peer_id": peer_id})
            if not self.guard.banned(peer_id, trio.current_time()):
                self._remember(peer_id, state)  # a peer we cut off is not dialled again
        if peer_id in self.relay.holds():
            self.relay.release(peer_id)
            self._emit({"event": "relay_lost", "relay": peer_id})

    async def _cut_off(self, peer_id: str, reason: str) -> None:
        """Close every connection of a peer over its limits, ban it a while, count it once
        (a banned peer's new connections are closed and counted as `banned_peer`)."""
        now = trio.current_time()
        if reason == "banned":
            self.drop("banned_peer")
        elif not self.guard.banned(peer_id, now):
            self.guard.ban(peer_id, reason, now)
            self.drop(f"cut_off_{reason}")
            self._forget(peer_id)
            log.warning("cut off %s: %s", peer_id, reason)
            self._emit({"event": "cut_off", "peer_id": peer_id, "reason": reason})
        try:
            await self.host.get_network().close_peer(ID.from_base58(peer_id))
        except Exception:
            log.debug("closing %s", peer_id, exc_info=True)

    async def _greet(self, peer_id: str) -> None:
        """A new peer: wait for identify, ask what it serves, add it to the DHT, measure it,
        remember it, and take a relay slot on it if we need one and it offers them."""
        peer = ID.from_base58(peer_id)
        with trio.move_on_after(IDENTIFY_WAIT):
            # py-libp2p signals no end of identify: look until it filled the peerstore.
            while not self._protocols(peer):  # noqa: ASYNC110
                await trio.sleep(0.05)
        state = self._connected.get(peer_id)
        if state is None:
            return
        protocols = self._protocols(peer)
        await self.discovery.add_peer(peer_id)
        if ABOUT_PROTOCOL in protocols:
            await self._ask_about(peer_id, state)
        await self._measure(peer_id)
        self._remember(peer_id, state)
        if self._private and (state.about.relay or HOP_PROTOCOL in protocols):
            await self._take_slot(peer_id)

    def _protocols(self, peer: ID) -> list[str]:
        try:
            return [str(p) for p in self.host.get_peerstore().get_protocols(peer)]
        except Exception:
            return []

    async def _ask_about(self, peer_id: str, state: _Connected) -> None:
        with trio.move_on_after(IDENTIFY_WAIT):
            try:
                channel = await self.open_stream(peer_id, [], ABOUT_PROTOCOL)
                try:
                    frame = await channel.receive()
                finally:
                    await channel.close()
                if frame is not None:
                    state.about = About.from_bytes(frame)
                    self._saw_us(state.about.seen)
            except AboutError as exc:
                self.drop("bad_about")
                log.info("about from %s: %s", peer_id, exc)
            except Exception as exc:
                log.debug("about from %s: %s", peer_id, exc)

    async def _serve_about(self, channel: StreamChannel) -> None:
        seen = ""
        for conn in self.host.get_network().get_connections(ID.from_base58(
                channel.remote_peer_id)):
            remote = [str(a) for a in conn.get_transport_addresses()]
            if remote and not is_relayed(remote[0]):
                seen = _ip_of(remote[0])
                break
        try:
            await channel.send(replace(self.about, seen=seen).to_bytes())
        except Exception:  # the asker went away: nothing to answer
            return
        await channel.close()

    def _saw_us(self, seen: str) -> None:
        """A peer saw us come from `seen`: an address that is not ours means NAT."""
        if self.reachability != "auto" or self._private or not seen:
            return
        ours = {_ip_of(str(a)) for a in self._direct_addrs()}
        try:
            ip = ipaddress.ip_address(seen)
        except ValueError:
            return
        if seen in ours or ip.is_loopback:
            return
        log.info("a peer saw us at %s, not at %s: behind NAT", seen, sorted(ours))
        self._private = True
        self._emit({"event": "behind_nat", "seen": seen})
        assert self._nursery is not None
        self._nursery.start_soon(self.discovery.set_server, False)
        self._nursery.start_soon(self._find_relays)

    async def _find_relays(self) -> None:
        """Take slots on relays: configured ones, then connected relays, then the DHT's."""
        candidates: dict[str, list[str]] = {}
        for addr in self.relays:
            try:
                peer = _peer_of(addr)
            except ValueError:
                continue
            candidates.setdefault(peer, []).append(addr)
        for peer_id, state in self._connected.items():
            if state.about.relay:
                candidates.setdefault(peer_id, self.peer_addrs(peer_id))
        if not candidates:
            candidates = await self.discovery.providers(RELAY_TOPIC, count=4)
        for peer_id, addrs in candidates.items():
            if len(self.relay.holds()) >= MAX_RESERVATIONS:
                break
            if peer_id not in self.relay.holds() and await self.dial(peer_id, addrs):
                self.keeper.want(peer_id, addrs, forever=peer_id in [
                    _peer_of(a) for a in self.relays])
                await self._take_slot(peer_id)

    async def _take_slot(self, peer_id: str) -> None:
        async with self._slot_lock:
            if peer_id in self.relay.holds() or len(self.relay.holds()) >= MAX_RESERVATIONS:
                return
            # Where we reached the relay first: the address others can reach it at too.
            conns = self.host.get_network().get_connections(ID.from_base58(peer_id))
            reached = [f"{a}/p2p/{peer_id}" for c in conns for a in c.get_transport_addresses()
                       if not is_relayed(str(a))]
            if await self.relay.reserve(peer_id, [*reached, *self.peer_addrs(peer_id)]):
                self._reachable.set()
                self._emit({"event": "reachable", "relay": peer_id,
                            "addrs": self.multiaddrs()})

    async def _measure(self, peer_id: str) -> None:
        state = self._connected.get(peer_id)
        if state is None:
            return
        with trio.move_on_after(IDENTIFY_WAIT):
            try:
                marks = [trio.current_time()]
                async for _ in self.ping.ping_iter(ID.from_base58(peer_id), ping_amt=2):
                    marks.append(trio.current_time())
                # The second round trip: the first also paid for opening the stream.
                state.latency_ms = round((marks[-1] - marks[-2]) * 1000, 2)
            except Exception as exc:
                log.debug("ping %s: %s", peer_id, exc)

    def _remember(self, peer_id: str, state: _Connected) -> None:
        record = PeerRecord(peer_id=peer_id, addrs=tuple(self.peer_addrs(peer_id)),
                            last_seen=int(self.now()),
                            role="relay" if state.about.relay and not state.about.role
                            else state.about.role,
                            name=state.about.name, topics=state.about.topics).cleaned()
        try:
            self.book.remember(record)
        except Exception:  # a full disk must not take the node down; the book is a cache
            log.exception("could not write the peer book")

    def _forget(self, peer_id: str) -> None:
        try:
            self.book.forget(peer_id)
        except Exception:
            log.exception("could not write the peer book")
