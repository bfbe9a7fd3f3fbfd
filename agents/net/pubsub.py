"""py-libp2p's Pubsub, made to carry intentcast envelopes (spec §9).

- StrictNoSign: our messages carry no `from`, `seqno`, `signature` or `key` (the envelope
  signs itself), and a message that carries any of them is dropped and counted as invalid.
- Content-addressed message ids: SHA-256 of the message's data (the envelope bytes), so
  the same envelope published by two peers is one message.
- One verification per message: the intake (`check`) runs once, its result goes straight
  to the subscriber (`deliver`), and no py-libp2p cache stands in for it.
- Backpressure: a peer's RPCs are handled one after the other; delivering and forwarding
  wait for room, so a burst slows its sender instead of being dropped.

py-libp2p 0.8.1 is at fault in each place this class overrides; each override says how.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from google.protobuf.message import DecodeError
from libp2p.abc import INetStream, IPubsubRouter
from libp2p.io.exceptions import IOException
from libp2p.network.connection.exceptions import RawConnError
from libp2p.network.stream.exceptions import StreamClosed, StreamEOF, StreamError, StreamReset
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue
from libp2p.pubsub.utils import maybe_consume_signed_record
from libp2p.utils.varint import encode_uvarint

from intentcast.agents.net.outbound import BATCH_BYTES, OutboundQueue, Queues

log = logging.getLogger("intentcast.node")

TOPIC_PREFIX = "/intentcast/"
MAX_RPC = 1024 * 1024
"""Largest RPC read from a peer (py-libp2p's and go-libp2p's default)."""
MAX_SUBSCRIPTIONS = 64
"""Topics one peer may subscribe to as far as we track (one per top-level category)."""
SEEN_CAPACITY = 200_000
"""Message ids remembered as seen; past it the oldest go (the replay guard still holds)."""


def message_id(message: rpc_pb2.Message) -> bytes:
    """The gossip message id: SHA-256 of the data, nothing else (spec §9)."""
    return hashlib.sha256(message.data).digest()


class Refused(NamedTuple):
    """What the intake says of a message it will not deliver; `invalid` ones count
    against the peer that sent them (gossipsub's "reject"), the rest are "ignore"."""

    reason: str
    invalid: bool


Check = Callable[[str, str, bytes], "object | Refused"]
"""(topic, forwarding peer, data) -> what to deliver, or Refused."""
Deliver = Callable[[str, object, str], Awaitable[None]]
Drop = Callable[[str, str], None]


class SeenCache:
    """Message ids seen recently, each for `ttl` seconds from first sight, bounded.

    Replaces py-libp2p's LastSeenCache, which runs a thread, extends an entry's life on
    every lookup and answers "seen" for entries past their time until a sweep. This one
    is only a shortcut for duplicates: what it forgets, the replay guard still refuses."""

    def __init__(self, ttl: float, now: Callable[[], float],
                 capacity: int = SEEN_CAPACITY) -> None:
        self.ttl = ttl
        self.now = now
        self.capacity = capacity
        self._expiry: collections.OrderedDict[bytes, float] = collections.OrderedDict()

    def has(self, key: bytes) -> bool:
        expiry = self._expiry.get(key)
        return expiry is not None and expiry > self.now()

    def add(self, key: bytes) -> bool:
        now = self.now()
        while self._expiry and (len(self._expiry) >= self.capacity
                                or next(iter(self._expiry.values())) <= now):
            self._expiry.popitem(last=False)
        new = key not in self._expiry
        self._expiry[key] = now + self.ttl
        self._expiry.move_to_end(key)
        return new

    def length(self) -> int:
        return len(self._expiry)

    def stop(self) -> None:
        pass


class ContentPubsub(Pubsub):
    """Pubsub with the intake, signing policy, ids and queues of spec §9."""

    def __init__(self, host: object, router: IPubsubRouter, *, check: Check,
                 deliver: Deliver, drop: Drop, now: Callable[[], float],
                 seen_ttl: float) -> None:
        super().__init__(
            host, router,  # type: ignore[arg-type]
            strict_signing=False, msg_id_constructor=message_id,
            max_subscriptions_per_rpc=MAX_SUBSCRIPTIONS,
            max_subscriptions_per_peer=MAX_SUBSCRIPTIONS, max_inbound_rpc_size=MAX_RPC,
        )
        # py-libp2p's seen cache is a thread-swept LastSeenCache; ours is plain and bounded.
        self.seen_messages.stop()
        self.seen_messages = SeenCache(seen_ttl, now)  # type: ignore[assignment]
        self.peer_queues = Queues()
        self.check = check
        self.deliver = deliver
        self.drop = drop
        self.now = now
        self.invalid: Callable[[ID, str], None] = lambda peer, topic: None
        """Told of each invalid message, after the scorer (scoring.py decides on cut-offs)."""
        self.refuse: Callable[[ID], bool] = lambda peer: False
        """Whether to ignore a peer's RPCs altogether (graylisted or cut off)."""
        self.cut_off: dict[ID, float] = {}
        """Peers refused until a time: no pubsub stream, no messages."""
        self.duplicates = 0
        self._records: dict[ID, bytes] = {}

    # -- who we talk to -------------------------------------------------------------------

    def is_peer_blacklisted(self, peer_id: ID) -> bool:
        until = self.cut_off.get(peer_id)
        if until is None:
            return peer_id in self.blacklisted_peers
        if until > self.now():
            return True
        del self.cut_off[peer_id]
        return peer_id in self.blacklisted_peers

    def handle_subscription(self, origin_id: ID, sub_message: rpc_pb2.RPC.SubOpts) -> None:
        # py-libp2p tracks any topic a peer names (allowed_topics is a fixed set only);
        # we track only intentcast topics, MAX_SUBSCRIPTIONS of them per peer.
        if sub_message.subscribe and not sub_message.topicid.startswith(TOPIC_PREFIX):
            self.drop("foreign_topic", "")
            return
        super().handle_subscription(origin_id, sub_message)

    def _handle_dead_peer(self, peer_id: ID) -> None:
        self._records.pop(peer_id, None)
        super()._handle_dead_peer(peer_id)

    # -- reading ------------------------------------------------------------------------

    async def continuously_read_stream(self, stream: INetStream) -> None:
        """Read a peer's RPCs and handle each in turn.

        py-libp2p is at fault here: its loop reads the length prefix a byte at a time
        (each read returns yamux window credit in a frame of its own), verifies the
        sender's signed peer record again on every RPC, and spawns a task per message,
        so nothing pushes back on a burst. This loop reads what has arrived in one go,
        verifies a peer record only when it changes, and handles messages inline."""
        peer = stream.muxed_conn.peer_id
        buffer = bytearray()
        try:
            while self.manager.is_running:
                raw = await _next_rpc(stream, buffer)
                if raw is None:
                    return
                await self._handle_rpc(peer, raw)
        except _TooLarge:
            self.drop("rpc_too_large", "")
            await _reset(stream)
            self._handle_dead_peer(peer)
        except DecodeError:
            self.drop("bad_rpc", "")
            await _reset(stream)
            self._handle_dead_peer(peer)
        except (StreamEOF, StreamError, IOException, RawConnError) as exc:
            log.debug("pubsub stream of %s ended: %s", peer, exc)

    async def _handle_rpc(self, peer: ID, raw: bytes) -> None:
        if self.is_peer_blacklisted(peer) or self.refuse(peer):
            self.drop("graylisted", "")
            return
        rpc = rpc_pb2.RPC()
        rpc.ParseFromString(raw)
        if rpc.HasField("senderRecord"):
            if self._records.get(peer) != rpc.senderRecord:
                if not maybe_consume_signed_record(rpc, self.host, peer):
                    self.drop("bad_peer_record", "")
                    return
                self._records[peer] = rpc.senderRecord
            rpc.ClearField("senderRecord")  # the router would verify it once more
        for message in rpc.publish:
            await self.push_msg(peer, message)
        if rpc.subscriptions:
            if len(rpc.subscriptions) > self.max_subscriptions_per_rpc:
                self.drop("too_many_subscriptions", "")
            else:
                for sub in rpc.subscriptions:
                    self.handle_subscription(peer, sub)
        if rpc.HasField("control"):
            await self.router.handle_rpc(rpc, peer)

    # -- the intake -----------------------------------------------------------------------

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        """Check a message once, deliver it, forward it.

        py-libp2p is at fault here: its push_msg blacklists and drops by `from`, checks
        signatures only under StrictSign (nothing enforces StrictNoSign), caches a
        validator's "valid" for five minutes (past the seen cache's two, a replay skips
        the validator), knows only valid/invalid (a replay is not an offence), and hands
        subscribers the raw message to be verified again."""
        if self.is_peer_blacklisted(msg_forwarder):
            self.drop("cut_off", "")
            return
        topics = list(msg.topicIDs)
        topic = topics[0] if len(topics) == 1 else ""
        if any(msg.HasField(f) for f in ("from_id", "seqno", "signature", "key")):
            self._invalid(msg_forwarder, topic, "signed_gossip")
            return
        if not topic.startswith(TOPIC_PREFIX):
            self._invalid(msg_forwarder, topic, "bad_topic")
            return
        if topic not in self.subscribed_topics_send:
            self.drop("not_subscribed", topic)
            return
        mid = message_id(msg)
        if self.seen_messages.has(mid):
            self.duplicates += 1
            return
        result = self.check(topic, msg_forwarder.to_base58(), bytes(msg.data))
        if isinstance(result, Refused):
            if result.reason != "overloaded":  # may pass later, when there is room
                self.seen_messages.add(mid)
            if result.invalid:
                self._invalid(msg_forwarder, topic, result.reason, counted=True)
            return
        self.seen_messages.add(mid)
        scorer = getattr(self.router, "scorer", None)
        if scorer is not None:
            scorer.on_first_delivery(msg_forwarder, topic)
        await self.deliver(topic, result, msg_forwarder.to_base58())
        forward = getattr(self.router, "forward", None)
        if forward is not None:
            await forward(msg_forwarder, msg, mid)

    def _invalid(self, peer: ID, topic: str, reason: str, *, counted: bool = False) -> None:
        if not counted:
            self.drop(reason, topic)
        scorer = getattr(self.router, "scorer", None)
        if scorer is not None and topic:
            scorer.on_invalid_message(peer, topic)
        self.invalid(peer, topic)

    # -- publishing and sending ---------------------------------------------------------

    async def publish(self, topic_id: str | list[str], data: bytes) -> None:
        """py-libp2p is at fault here: its publish always sets `from` and `seqno`."""
        topics = [topic_id] if isinstance(topic_id, str) else topic_id
        await self.publish_message(rpc_pb2.Message(data=data, topicIDs=topics))

    async def publish_message(self, message: rpc_pb2.Message) -> int:
        """Send our own message to every subscriber; returns how many peers took it."""
        self.seen_messages.add(message_id(message))
        flood = getattr(self.router, "flood", None)
        if flood is None:
            raise TypeError("ContentPubsub needs a router that floods (router.IntentRouter)")
        sent: int = await flood(message)
        return sent

    def outbound(self, peer: ID) -> OutboundQueue | None:
        queue = self.peer_queues.get(peer)
        return queue if isinstance(queue, OutboundQueue) else None

    async def handle_sending_messages(self, peer_id: ID, stream: INetStream,
                                      queue: RpcQueue) -> None:
        """Write whatever is queued for a peer as one RPC per write (see outbound.py)."""
        ours = self.outbound(peer_id)
        if ours is None:
            return
        try:
            while True:
                batch = await ours.pop_batch(BATCH_BYTES)
                if batch is None:
                    return
                await stream.write(encode_uvarint(len(batch)) + batch)
        except (StreamClosed, StreamReset):
            self._handle_dead_peer(peer_id)
        except Exception:
            log.debug("sending to %s failed", peer_id, exc_info=True)
            self._handle_dead_peer(peer_id)


class _TooLarge(Exception):
    pass


async def _next_rpc(stream: INetStream, buffer: bytearray) -> bytes | None:
    """The next length-prefixed RPC, reading whatever has arrived; None at a clean end."""
    while True:
        length, used = _uvarint(buffer)
        if length is not None:
            if length > MAX_RPC:
                raise _TooLarge
            if len(buffer) >= used + length:
                raw = bytes(buffer[used:used + length])
                del buffer[:used + length]
                return raw
        elif used > 9:
            raise DecodeError("length prefix over 9 bytes")
        try:
            chunk = await stream.read(MAX_RPC)
        except StreamEOF:
            return None
        if not chunk:
            return None
        buffer += chunk


def _uvarint(buffer: bytearray) -> tuple[int | None, int]:
    value = 0
    for i, byte in enumerate(buffer[:10]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, i + 1
    return None, len(buffer[:10])


async def _reset(stream: INetStream) -> None:
    with contextlib.suppress(Exception):  # already gone
        await stream.reset()

