"""The libp2p node every agent runs: gossipsub for intents, streams for negotiation.

The only module that imports libp2p. One host per agent: Ed25519 identity from
a seed kept in the agent's vault, TCP, Noise, Yamux. Intents travel on
`/intentcast/1/intents/<top-level category>`; every message on an intentcast
topic passes `envelope.open` in a topic validator before it is delivered or
forwarded, so a forged, expired or replayed intent dies at the first honest
node, and the node counts what it dropped and why.

Gossipsub settings, and why (py-libp2p 0.8 defaults in brackets):
- heartbeat every 1 s [120 s]: meshes form and heal within a second or two;
- spam protection off [10 messages/s per topic per peer]: every message is
  already a verified signature, and bursts of intents are legitimate;
- mesh degree 6, 4..12 (the gossipsub spec's values);
- delivery queue per subscription of 4,096 [32]: a burst is buffered, and a
  message refused by a full queue is counted in `dropped["queue_full"]`;
- our own publishing waits while any peer's outbound queue (32, not
  configurable) is nearly full, instead of letting py-libp2p drop the RPC.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service

from intentcast.agents.net.frames import FrameError, FrameReader, encode_frame
from intentcast.agents.net.ports import PortError, check_listen
from intentcast.protocol import Intent, IntentcastError, ReplayGuard, Revocation, Verified, envelope

log = logging.getLogger("intentcast.node")

GOSSIPSUB_PROTOCOLS = [TProtocol("/meshsub/1.1.0"), TProtocol("/meshsub/1.0.0")]
NEGOTIATE_PROTOCOL = TProtocol("/intentcast/negotiate/1")
INTENT_TOPIC = "/intentcast/1/intents/{}"
REVOCATION_TOPIC = "/intentcast/1/revocations"
DELIVERY_QUEUE = 4096
OUTBOUND_HIGH_WATER = 24
PEERSTORE_TTL = 3600
PUBLISH_WAIT = 5.0

ASSISTANT_PROTOCOL = TProtocol("/intentcast/assistant/1")
"""An assistant's requests to the person's daemon (hello, renew, record)."""
DATA_PROTOCOL = TProtocol("/intentcast/data/1")
"""Disclosures, revocations and credits between a person's agent and a vendor."""
NegotiationHandler = Callable[["StreamChannel"], Awaitable[None]]


def intent_topic(category: str) -> str:
    return INTENT_TOPIC.format(category.split(".", 1)[0])


class _EofAsEmpty:
    """py-libp2p raises StreamEOF where a byte stream returns b"": frames.py expects b""."""

    def __init__(self, stream: INetStream) -> None:
        self.stream = stream

    async def read(self, n: int | None = None, /) -> bytes:
        try:
            return await self.stream.read(n)
        except StreamEOF:
            return b""

    async def write(self, data: bytes, /) -> None:
        await self.stream.write(data)


class StreamChannel:
    """A framed libp2p stream (negotiation, assistant or data protocol): whole frames in and out.

    It is the `Channel` of agents/conversation/channel.py."""

    def __init__(self, stream: INetStream, node: Node) -> None:
        self._stream = stream
        self._node = node
        self._reader = FrameReader(_EofAsEmpty(stream))
        self.remote_peer_id = str(stream.muxed_conn.peer_id)

    @property
    def remote_public_key(self) -> bytes | None:
        """The remote's Ed25519 key, as Noise authenticated it (None for other key types)."""
        try:
            key = self._stream.muxed_conn.peer_id.extract_public_key()
        except Exception:
            return None
        raw = key.to_bytes() if key is not None else b""
        return raw if len(raw) == 32 else None

    async def send(self, data: bytes) -> None:
        await self._stream.write(encode_frame(data))

    async def receive(self) -> bytes | None:
        """The next envelope; None on a clean close. A framing violation resets the stream."""
        try:
            return await self._reader.read_frame()
        except FrameError as exc:
            self._node.drop("bad_frame")
            log.info("reset a negotiation stream from %s: %s", self.remote_peer_id, exc)
            await self.reset()
            return None
        except Exception as exc:  # the connection went away under us
            log.info("negotiation stream from %s broke: %s", self.remote_peer_id, exc)
            return None

    async def reset(self) -> None:
        try:
            await self._stream.reset()
        except Exception:  # already gone
            log.debug("reset of a dead stream", exc_info=True)

    async def close(self) -> None:
        try:
            await self._stream.close()
        except Exception:
            log.debug("close of a dead stream", exc_info=True)


@dataclass(frozen=True)
class Delivery:
    """A verified gossip message and its origin: the `from` peer id it carries."""

    verified: Verified
    origin: str


class _CountingSender:
    """Wraps a subscription's send channel so that a full queue is counted, never silent."""

    def __init__(self, inner: trio.MemorySendChannel[rpc_pb2.Message], node: Node) -> None:
        self.inner = inner
        self.node = node

    def send_nowait(self, message: rpc_pb2.Message) -> None:
        try:
            self.inner.send_nowait(message)
        except trio.WouldBlock:
            self.node.drop("queue_full")
            raise

    async def aclose(self) -> None:
        await self.inner.aclose()


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
    ) -> None:
        self.key_pair = create_new_key_pair(host_seed)
        self.listen = multiaddr.Multiaddr(listen)
        self.bootstrap = list(bootstrap)
        self.now = now
        self.dropped: collections.Counter[str] = collections.Counter()
        self.on_drop: Callable[[str, str], None] | None = None
        """Called with (reason, topic or "") for everything the node refuses."""
        self.delivered: collections.Counter[str] = collections.Counter()
        self.replay_guard = ReplayGuard()
        self.host = new_host(
            key_pair=self.key_pair,
            sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(
                self.key_pair, noise_privkey=create_x25519_key_pair().private_key)},
            muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
            enable_mDNS=enable_mdns,
        )
        self.gossipsub = GossipSub(
            protocols=GOSSIPSUB_PROTOCOLS, degree=6, degree_low=4, degree_high=12,
            heartbeat_initial_delay=0.1, heartbeat_interval=1, time_to_live=60,
            spam_protection_enabled=False,
        )
        self.pubsub = Pubsub(self.host, self.gossipsub)
        self.peer_id = self.host.get_id().to_base58()
        self._stack = AsyncExitStack()
        self._nursery: trio.Nursery | None = None
        self._handler: NegotiationHandler | None = None
        self._handlers: dict[str, NegotiationHandler] = {}
        self._validated: set[str] = set()

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
            self._nursery = await stack.enter_async_context(trio.open_nursery())
            stack.callback(self._nursery.cancel_scope.cancel)
            await stack.enter_async_context(background_trio_service(self.pubsub))
            await stack.enter_async_context(background_trio_service(self.gossipsub))
            await self.pubsub.wait_until_ready()
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
        """Each intentcast topic known on the network, with how many peers subscribe to it."""
        return {t: len(p) for t, p in sorted(self.pubsub.peer_topics.items())
                if t.startswith("/intentcast/")}

    def topic_peers(self, topic: str) -> int:
        return len(self.pubsub.peer_topics.get(topic, ()))

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

    async def wait_for_topic_peers(self, topic: str, count: int) -> None:
        """Return once `count` peers are known to subscribe to `topic` (bound it yourself)."""
        # py-libp2p signals a subscription only per (peer, topic) pair, for peers named
        # in advance; a node waiting for "any N peers" can only look again.
        while self.topic_peers(topic) < count:  # noqa: ASYNC110
            await trio.sleep(0.05)

    # -- gossip -------------------------------------------------------------------------

    def _validator(self, topic: str) -> Callable[[ID, rpc_pb2.Message], bool]:
        def validate(forwarder: ID, message: rpc_pb2.Message) -> bool:
            try:
                verified = envelope.open(bytes(message.data), now=int(self.now()),
                                         seen=self.replay_guard)
            except IntentcastError as exc:
                self.drop(exc.reason.value, topic)
                return False
            message_ = verified.message
            if topic == REVOCATION_TOPIC:
                if not isinstance(message_, Revocation):
                    self.drop("wrong_topic", topic)
                    return False
            elif not isinstance(message_, Intent) or intent_topic(message_.category) != topic:
                self.drop("wrong_topic", topic)
                return False
            return True

        return validate

    def _watch(self, topic: str) -> None:
        if topic not in self._validated:
            self.pubsub.set_topic_validator(topic, self._validator(topic), False)
            self._validated.add(topic)

    async def subscribe_intents(self, category: str) -> AsyncIterator[Delivery]:
        """Verified intents on `category`'s topic, as they arrive."""
        return await self._subscribe(intent_topic(category))

    async def subscribe_revocations(self) -> AsyncIterator[Delivery]:
        """Verified revocations, as they arrive (whether they count is the chain's business)."""
        return await self._subscribe(REVOCATION_TOPIC)

    async def publish_revocation(self, data: bytes) -> None:
        verified = envelope.open(data, now=int(self.now()))
        if not isinstance(verified.message, Revocation):
            raise ValueError("only revocations go on the revocation topic")
        self._watch(REVOCATION_TOPIC)
        await self._wait_for_outbound_room()
        await self.pubsub.publish(REVOCATION_TOPIC, data)

    async def _subscribe(self, topic: str) -> AsyncIterator[Delivery]:
        self._watch(topic)
        subscription = await self.pubsub.subscribe(topic)
        send, receive = trio.open_memory_channel[rpc_pb2.Message](DELIVERY_QUEUE)
        # Swap py-libp2p's 32-slot delivery channel for a deep, counted one.
        self.pubsub.subscribed_topics_send[topic] = _CountingSender(send, self)  # type: ignore[assignment]
        del subscription
        return self._deliveries(topic, receive)

    async def _deliveries(self, topic: str, receive: trio.MemoryReceiveChannel[rpc_pb2.Message]
                          ) -> AsyncIterator[Delivery]:
        async for message in receive:
            try:
                # Already verified by the validator; this only rebuilds the typed value,
                # without the replay guard, which has recorded the message by now.
                verified = envelope.open(bytes(message.data), now=int(self.now()))
            except IntentcastError as exc:  # expired while queued
                self.drop(exc.reason.value, topic)
                continue
            self.delivered[topic] += 1
            origin = ID(bytes(message.from_id)).to_base58() if message.from_id else ""
            yield Delivery(verified, origin)

    async def publish_intent(self, data: bytes) -> None:
        """Publish an intent envelope on its category's topic; refuse an invalid one here."""
        verified = envelope.open(data, now=int(self.now()))
        if not isinstance(verified.message, Intent):
            raise ValueError("only intents are published on intent topics")
        topic = intent_topic(verified.message.category)
        self._watch(topic)
        if not self.topic_peers(topic):
            # Just connected (an assistant, a fresh daemon): give subscriptions a moment
            # to arrive rather than publish to nobody.
            with trio.move_on_after(PUBLISH_WAIT):
                await self.wait_for_topic_peers(topic, 1)
        await self._wait_for_outbound_room()
        await self.pubsub.publish(topic, data)

    async def publish_raw(self, topic: str, data: bytes) -> None:
        """Publish bytes unchecked (for tests that play a hostile peer), at the same pace."""
        await self._wait_for_outbound_room()
        await self.pubsub.publish(topic, data)

    async def _wait_for_outbound_room(self) -> None:
        # Backpressure: py-libp2p's outbound queue drops what does not fit and offers
        # no "room again" event; it drains within milliseconds, so look again soon.
        while any(len(q) >= OUTBOUND_HIGH_WATER  # noqa: ASYNC110
                  for q in self.pubsub.peer_queues.values()):
            await trio.sleep(0.001)

    # -- negotiation streams ------------------------------------------------------------

    def set_negotiation_handler(self, handler: NegotiationHandler) -> None:
        self._handler = handler

    def set_stream_handler(self, protocol: str, handler: NegotiationHandler) -> None:
        """Serve another framed-envelope protocol (the assistant desk) with `handler`."""
        self._handlers[protocol] = handler

        async def serve(stream: INetStream) -> None:
            channel = StreamChannel(stream, self)
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
        return StreamChannel(stream, self)

    async def _on_stream(self, stream: INetStream) -> None:
        channel = StreamChannel(stream, self)
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
