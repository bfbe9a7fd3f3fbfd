"""Intents and revocations over gossipsub (spec §9): each message verified once, on
arrival, before it is delivered or forwarded, and every verdict counted.

The pieces: pubsub.py (StrictNoSign, content ids, the intake, batched sending),
router.py (flood publishing, peer exchange, gossip, pruning by score), scoring.py
(the weights and thresholds), outbound.py (per-peer queues that push back).

Settings, and why (py-libp2p 0.8 defaults in brackets):
- heartbeat every 1 s [120 s]: meshes form and heal within a second or two;
- mesh degree 6, 4..12 (the gossipsub spec's values); our own messages flood to
  every subscriber; pruned peers get up to 16 others (peer exchange);
- no per-peer rate limit [10 messages/s per topic]: every message is a verified
  signature and bursts of intents are legitimate; scores police invalid ones;
- seen cache 120 s, then a replay guard per topic family that holds every accepted
  (signers, id) until the message expires, with a share per forwarding peer
  (intents: 100,000, 25,000 a peer; revocations: 20,000, 2,000 a peer);
- delivery queue per subscription of 4,096 [32] and outbound queue per peer of
  1,024 RPCs [32]: both push back on a full queue for a few seconds (the peer's
  stream is not read meanwhile) before anything is dropped, and a drop is counted.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import trio
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX

from intentcast.agents.net import scoring
from intentcast.agents.net.pubsub import ContentPubsub, Refused, message_id
from intentcast.agents.net.router import IntentRouter
from intentcast.protocol import Intent, IntentcastError, ReplayGuard, Revocation, Verified, envelope

log = logging.getLogger("intentcast.node")

INTENT_TOPIC = "/intentcast/1/intents/{}"
REVOCATION_TOPIC = "/intentcast/1/revocations"
REVOCATION_LIFETIME = 86_400
"""Longest `expires_at - issued_at` of a revocation accepted on the revocation topic."""
DELIVERY_QUEUE = 4096
DELIVERY_WAIT = 10.0
"""Seconds the intake waits for room in a full delivery queue before dropping (counted)."""
TOPIC_WAIT = 5.0
CUT_OFF_MEMORY = 10_000
"""Cut-off peers remembered at most (each costs a connection and nine invalid messages)."""
IGNORED = frozenset({"expired", "not_yet_valid", "replay", "overloaded"})
"""Refusals that say nothing against the forwarding peer (gossipsub's "ignore")."""


def intent_topic(category: str) -> str:
    return INTENT_TOPIC.format(category.split(".", 1)[0])


@dataclass(frozen=True)
class GossipSettings:
    seen_ttl: float = 120.0
    """Seconds a message id counts as seen (duplicates dropped without a check)."""
    cut_off_seconds: float = scoring.CUT_OFF_SECONDS


@dataclass(frozen=True)
class Delivery:
    """A verified gossip message and `via`, the peer it came from (the forwarder, not
    necessarily its author: gossip messages name no origin)."""

    verified: Verified
    via: str


@dataclass(frozen=True)
class Published:
    """What publishing did: the gossip message id and how many peers it was queued for."""

    message_id: bytes
    peers: int


class Gossip:
    """The node's pubsub: the intake, subscriptions and publishing."""

    def __init__(self, host: IHost, *, now: Callable[[], float],
                 drop: Callable[..., None],
                 settings: GossipSettings | None = None) -> None:
        self.host = host
        self.now = now
        self.drop = drop
        self.settings = settings or GossipSettings()
        self.delivered: collections.Counter[str] = collections.Counter()
        self.intent_guard = ReplayGuard(100_000, per_source=25_000)
        self.revocation_guard = ReplayGuard(20_000, per_source=2_000)
        self.router = IntentRouter(drop=drop)
        self.pubsub = ContentPubsub(host, self.router, check=self._check,
                                    deliver=self._deliver, drop=drop, now=now,
                                    seen_ttl=self.settings.seen_ttl)
        self.pubsub.invalid = self._on_invalid
        self.pubsub.refuse = self._graylisted
        self._inboxes: dict[str, _Inbox] = {}
        self.cut_offs = 0
        host.get_network().register_notifee(_RefuseCutOff(self))

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

    def stats(self) -> dict[str, int]:
        """Counters for status pages and benchmarks."""
        return {
            "delivered": sum(self.delivered.values()),
            "duplicates": self.pubsub.duplicates,
            "guard_refused": self.intent_guard.refused + self.revocation_guard.refused,
            "cut_off": self.cut_offs,
            "peers": len(self.pubsub.peers),
            "mesh": sum(len(p) for p in self.router.mesh.values()),
        }

    # -- the intake (pubsub.py calls it once per new message) --------------------------------

    def _check(self, topic: str, via: str, data: bytes) -> Verified | Refused:
        now = int(self.now())
        try:
            verified = envelope.open(data, now=now)
        except IntentcastError as exc:
            return self._refuse(exc.reason.value, topic, via)
        message = verified.message
        if topic == REVOCATION_TOPIC:
            if not isinstance(message, Revocation) or message.target_type != "delegation":
                return self._refuse("wrong_topic", topic, via)
            if message.expires_at - message.issued_at > REVOCATION_LIFETIME:
                return self._refuse("revocation_lifetime", topic, via)
            guard = self.revocation_guard
        elif isinstance(message, Intent) and intent_topic(message.category) == topic:
            guard = self.intent_guard
        else:
            return self._refuse("wrong_topic", topic, via)
        # The replay check of spec §4.2, last, on the forwarder's share of the guard.
        key = ReplayGuard.key(verified.signers, message.id)
        if guard.seen(key):
            return self._refuse("replay", topic, via)
        try:
            guard.remember(key, message.expires_at, now=now, source=via)
        except IntentcastError as exc:
            return self._refuse(exc.reason.value, topic, via)
        return verified

    def _refuse(self, reason: str, topic: str, via: str) -> Refused:
        self.drop(reason, topic, via)
        return Refused(reason, reason not in IGNORED)

    async def _deliver(self, topic: str, verified: object, via: str) -> None:
        inbox = self._inboxes.get(topic)
        if inbox is None or not isinstance(verified, Verified):
            return
        delivery = Delivery(verified, via)
        if inbox.put(delivery):
            return
        with trio.move_on_after(DELIVERY_WAIT):
            await inbox.wait_room()
        if not inbox.put(delivery):
            self.drop("queue_full", topic)

    def _on_invalid(self, peer: ID, topic: str) -> None:
        self.router.rescore(peer)
        if self.router.score(peer) >= scoring.GRAYLIST_THRESHOLD:
            return
        if peer in self.pubsub.cut_off:
            return
        # Past the graylist threshold: cut off, disconnected and refused for a while.
        now = self.now()
        if len(self.pubsub.cut_off) >= CUT_OFF_MEMORY:  # forget those whose time is up
            for gone in [p for p, until in self.pubsub.cut_off.items() if until <= now]:
                del self.pubsub.cut_off[gone]
        if len(self.pubsub.cut_off) >= CUT_OFF_MEMORY:  # bounded even under a Sybil swarm
            del self.pubsub.cut_off[min(self.pubsub.cut_off, key=self.pubsub.cut_off.__getitem__)]
        self.pubsub.cut_off[peer] = now + self.settings.cut_off_seconds
        self.cut_offs += 1
        self.drop("cut_off", topic)
        log.warning("cut off peer %s for invalid messages (score %.0f)", peer,
                    self.router.score(peer))
        self.pubsub.manager.run_task(self._disconnect, peer)

    def _graylisted(self, peer: ID) -> bool:
        return self.router.score(peer) < scoring.GRAYLIST_THRESHOLD

    async def _disconnect(self, peer: ID) -> None:
        try:
            await self.host.disconnect(peer)
        except Exception:  # gone already
            log.debug("disconnecting %s failed", peer, exc_info=True)

    # -- receiving ------------------------------------------------------------------------

    async def subscribe_intents(self, category: str) -> AsyncIterator[Delivery]:
        """Verified intents on `category`'s topic, as they arrive."""
        return await self._subscribe(intent_topic(category))

    async def subscribe_revocations(self) -> AsyncIterator[Delivery]:
        """Verified revocations, as they arrive (whether they count is the chain's business)."""
        return await self._subscribe(REVOCATION_TOPIC)

    async def _subscribe(self, topic: str) -> AsyncIterator[Delivery]:
        inbox = self._inboxes[topic] = _Inbox(DELIVERY_QUEUE)
        # py-libp2p's own 32-slot subscription channel stays empty: the intake delivers
        # verified messages to ours (pubsub.py never calls notify_subscriptions).
        await self.pubsub.subscribe(topic)
        return self._deliveries(topic, inbox)

    async def _deliveries(self, topic: str, inbox: _Inbox) -> AsyncIterator[Delivery]:
        while True:
            for delivery in await inbox.take_all():
                if delivery.verified.message.expires_at <= self.now():  # expired while queued
                    self.drop("expired", topic)
                    continue
                self.delivered[topic] += 1
                yield delivery

    # -- publishing -----------------------------------------------------------------------

    async def publish_intent(self, data: bytes) -> Published:
        """Publish an intent envelope on its category's topic; refuse an invalid one here."""
        verified = envelope.open(data, now=int(self.now()))
        if not isinstance(verified.message, Intent):
            raise ValueError("only intents are published on intent topics")
        return await self._publish(intent_topic(verified.message.category), data)

    async def publish_revocation(self, data: bytes) -> Published:
        verified = envelope.open(data, now=int(self.now()))
        message = verified.message
        if not isinstance(message, Revocation) or message.target_type != "delegation":
            raise ValueError("only revocations of delegations go on the revocation topic")
        if message.expires_at - message.issued_at > REVOCATION_LIFETIME:
            raise ValueError("a revocation on the network lives at most a day (spec §9)")
        return await self._publish(REVOCATION_TOPIC, data)

    async def publish_raw(self, topic: str, data: bytes, *, signed: bool = False) -> Published:
        """Publish bytes unchecked (for tests that play a hostile peer); `signed` adds the
        from/seqno/signature/key of py-libp2p's StrictSign, which receivers refuse."""
        message = rpc_pb2.Message(data=data, topicIDs=[topic])
        if signed:
            message.from_id = self.host.get_id().to_bytes()
            message.seqno = int(self.now() * 1e6).to_bytes(8, "big")
            message.signature = self.host.get_private_key().sign(
                PUBSUB_SIGNING_PREFIX.encode() + message.SerializeToString())
            message.key = self.host.get_public_key().serialize()
        return await self._send(message)

    async def _publish(self, topic: str, data: bytes) -> Published:
        if not self.topic_peers(topic):
            # Just connected (an assistant, a fresh daemon): give subscriptions a moment
            # to arrive rather than publish to nobody.
            with trio.move_on_after(TOPIC_WAIT):
                await self.wait_for_topic_peers(topic, 1)
        return await self._send(rpc_pb2.Message(data=data, topicIDs=[topic]))

    async def _send(self, message: rpc_pb2.Message) -> Published:
        peers = await self.pubsub.publish_message(message)
        return Published(message_id(message), peers)


class _Inbox:
    """A subscription's deliveries, taken in batches.

    A trio memory channel hands over one item per scheduling round; when the intake
    verifies a batch of 500 messages in one go, the subscriber then trails behind one
    message a round and the intake waits on it. Here the subscriber takes everything
    queued at each wake-up, and the intake waits only when `limit` are queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: collections.deque[Delivery] = collections.deque()
        self._ready = trio.Event()
        self._room = trio.Event()

    def put(self, delivery: Delivery) -> bool:
        if len(self._items) >= self.limit:
            return False
        self._items.append(delivery)
        self._ready.set()
        return True

    async def wait_room(self) -> None:
        while len(self._items) >= self.limit:
            await self._room.wait()

    async def take_all(self) -> list[Delivery]:
        while not self._items:
            self._ready = trio.Event()
            await self._ready.wait()
        taken = list(self._items)
        self._items.clear()
        self._room.set()
        self._room = trio.Event()
        return taken


class _RefuseCutOff(INotifee):
    """Closes new connections from cut-off peers (counted) while their time runs."""

    def __init__(self, gossip: Gossip) -> None:
        self.gossip = gossip

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        pubsub = self.gossip.pubsub
        peer = conn.muxed_conn.peer_id
        if peer in pubsub.cut_off and pubsub.is_peer_blacklisted(peer):
            self.gossip.drop("cut_off_refused", "")
            if pubsub.manager.is_running:
                pubsub.manager.run_task(conn.close)

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        await trio.lowlevel.checkpoint()

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def listen(self, network: INetwork, multiaddr: object) -> None:
        await trio.lowlevel.checkpoint()

    async def listen_close(self, network: INetwork, multiaddr: object) -> None:
        await trio.lowlevel.checkpoint()
