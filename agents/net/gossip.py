"""Intents and revocations over gossipsub: every message verified before it is delivered
or forwarded, and the verdict counted.

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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import trio
from libp2p.abc import IHost
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub

from intentcast.protocol import Intent, IntentcastError, ReplayGuard, Revocation, Verified, envelope

log = logging.getLogger("intentcast.node")

GOSSIPSUB_PROTOCOLS = [TProtocol("/meshsub/1.1.0"), TProtocol("/meshsub/1.0.0")]
INTENT_TOPIC = "/intentcast/1/intents/{}"
REVOCATION_TOPIC = "/intentcast/1/revocations"
DELIVERY_QUEUE = 4096
OUTBOUND_HIGH_WATER = 24
PUBLISH_WAIT = 5.0


def intent_topic(category: str) -> str:
    return INTENT_TOPIC.format(category.split(".", 1)[0])


@dataclass(frozen=True)
class Delivery:
    """A verified gossip message and its origin: the `from` peer id it carries."""

    verified: Verified
    origin: str


class _CountingSender:
    """Wraps a subscription's send channel so that a full queue is counted, never silent."""

    def __init__(self, inner: trio.MemorySendChannel[rpc_pb2.Message],
                 drop: Callable[[str, str], None], topic: str) -> None:
        self.inner = inner
        self.drop = drop
        self.topic = topic

    def send_nowait(self, message: rpc_pb2.Message) -> None:
        try:
            self.inner.send_nowait(message)
        except trio.WouldBlock:
            self.drop("queue_full", self.topic)
            raise

    async def aclose(self) -> None:
        await self.inner.aclose()


class Gossip:
    """The node's pubsub: topic validators, subscriptions and publishing."""

    def __init__(self, host: IHost, *, now: Callable[[], float],
                 drop: Callable[[str, str], None]) -> None:
        self.now = now
        self.drop = drop
        self.delivered: collections.Counter[str] = collections.Counter()
        self.replay_guard = ReplayGuard()
        self.router = GossipSub(
            protocols=GOSSIPSUB_PROTOCOLS, degree=6, degree_low=4, degree_high=12,
            heartbeat_initial_delay=0.1, heartbeat_interval=1, time_to_live=60,
            spam_protection_enabled=False,
        )
        self.pubsub = Pubsub(host, self.router)
        self._validated: set[str] = set()

    # -- who listens ----------------------------------------------------------------------

    def topics(self) -> dict[str, int]:
        """Each intentcast topic known on the network, with how many peers subscribe to it."""
        return {t: len(p) for t, p in sorted(self.pubsub.peer_topics.items())
                if t.startswith("/intentcast/")}

    def topic_peers(self, topic: str) -> int:
        return len(self.pubsub.peer_topics.get(topic, ()))

    async def wait_for_topic_peers(self, topic: str, count: int) -> None:
        """Return once `count` peers are known to subscribe to `topic` (bound it yourself)."""
        # py-libp2p signals a subscription only per (peer, topic) pair, for peers named
        # in advance; a node waiting for "any N peers" can only look again.
        while self.topic_peers(topic) < count:  # noqa: ASYNC110
            await trio.sleep(0.05)

    # -- validation -----------------------------------------------------------------------

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

    # -- receiving ------------------------------------------------------------------------

    async def subscribe_intents(self, category: str) -> AsyncIterator[Delivery]:
        """Verified intents on `category`'s topic, as they arrive."""
        return await self._subscribe(intent_topic(category))

    async def subscribe_revocations(self) -> AsyncIterator[Delivery]:
        """Verified revocations, as they arrive (whether they count is the chain's business)."""
        return await self._subscribe(REVOCATION_TOPIC)

    async def _subscribe(self, topic: str) -> AsyncIterator[Delivery]:
        self._watch(topic)
        subscription = await self.pubsub.subscribe(topic)
        send, receive = trio.open_memory_channel[rpc_pb2.Message](DELIVERY_QUEUE)
        # Swap py-libp2p's 32-slot delivery channel for a deep, counted one.
        self.pubsub.subscribed_topics_send[topic] = _CountingSender(  # type: ignore[assignment]
            send, self.drop, topic)
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

    # -- publishing -----------------------------------------------------------------------

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

    async def publish_revocation(self, data: bytes) -> None:
        verified = envelope.open(data, now=int(self.now()))
        if not isinstance(verified.message, Revocation):
            raise ValueError("only revocations go on the revocation topic")
        self._watch(REVOCATION_TOPIC)
        await self._wait_for_outbound_room()
        await self.pubsub.publish(REVOCATION_TOPIC, data)

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
