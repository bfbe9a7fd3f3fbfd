"""py-libp2p's GossipSub router, made to deliver every intent to every subscriber (spec §9).

- Flood publishing (gossipsub v1.1): our own messages go to every peer subscribed to
  the topic whose score is at or above the publish threshold, not only to the mesh.
- Peer exchange: a peer we prune gets up to 16 other subscribers (signed peer records)
  so that peers that only know us can mesh with each other.
- Gossip that works: IHAVE carries the content ids the message cache holds, goes to
  peers outside the mesh even while they are backing off, and is bounded.
- Scores act: a mesh peer with a negative score is pruned at the next heartbeat.

py-libp2p 0.8.1 is at fault in each place this class overrides; each override says how.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.mcache import CacheEntry, MessageCache
from libp2p.pubsub.pb import rpc_pb2
from libp2p.utils.varint import encode_uvarint

from intentcast.agents.net import scoring
from intentcast.agents.net.pubsub import ContentPubsub, message_id

log = logging.getLogger("intentcast.node")

PROTOCOLS = [TProtocol("/meshsub/1.1.0"), TProtocol("/meshsub/1.0.0")]
DEGREE, DEGREE_LOW, DEGREE_HIGH = 6, 4, 12
GOSSIP_PEERS = 6
"""D_lazy: at least this many peers outside the mesh get IHAVE each heartbeat."""
GOSSIP_FACTOR = 0.25
MAX_IHAVE_LENGTH = 5000
"""Ids in one IHAVE we send or read (the gossipsub v1.1 default)."""
MAX_IWANT_LENGTH = 5000
"""Ids of one IWANT we answer."""
MCACHE_CAPACITY = 50_000
"""Messages the gossip cache holds at most (it keeps 5 heartbeats' worth)."""
_PUBLISH_FIELD = b"\x12"
"""RPC field 2 (publish), length-delimited."""
PX_PEERS = 16
PRUNE_BACKOFF = 60
FORWARD_WAIT = 5.0
"""Seconds a forwarder waits for room in a peer's queue before dropping (counted)."""
PUBLISH_WAIT = 10.0
"""Seconds our own publishing waits for room in a peer's queue before dropping (counted)."""


class ContentCache(MessageCache):
    """The gossip message cache, keyed by content id.

    py-libp2p is at fault here: MessageCache.put keys every message by `from + seqno`
    (mcache.default_msg_id_fn), which is empty under StrictNoSign, so it would hold one
    message and IHAVE/IWANT would name ids nobody else uses. It is also unbounded."""

    def put(self, msg: rpc_pb2.Message, mid: bytes | None = None) -> None:
        mid = message_id(msg) if mid is None else mid
        if mid in self.msgs or len(self.msgs) >= MCACHE_CAPACITY:
            return
        self.msgs[mid] = msg
        self.history[0].append(CacheEntry(mid, msg.topicIDs))


class IntentRouter(GossipSub):
    mcache: ContentCache

    def __init__(self, *, drop: scoring.Drop) -> None:
        super().__init__(
            protocols=PROTOCOLS, degree=DEGREE, degree_low=DEGREE_LOW, degree_high=DEGREE_HIGH,
            heartbeat_initial_delay=0.1, heartbeat_interval=1, time_to_live=60,
            gossip_window=3, gossip_history=5, do_px=True, px_peers_count=PX_PEERS,
            prune_back_off=PRUNE_BACKOFF, score_params=scoring.PARAMS,
            # py-libp2p's "adaptive" degree and gossip, per-peer rate limit (10 messages/s)
            # and IP-diversity grafting are off: they fight bursts of legitimate intents
            # and meshes of peers on one address; peer scoring does the policing.
            adaptive_gossip_enabled=False, spam_protection_enabled=False,
            eclipse_protection_enabled=False,
        )
        self.mcache = ContentCache(3, 5)
        self.drop = drop
        self._px_running = False
        self._scores: dict[ID, float] = {}

    @property
    def content_pubsub(self) -> ContentPubsub:
        assert isinstance(self.pubsub, ContentPubsub)
        return self.pubsub

    def score(self, peer: ID) -> float:
        """The peer's score, computed at most once a heartbeat (or after an offence)."""
        found = self._scores.get(peer)
        if found is None:
            found = self._scores[peer] = scoring.score(
                self.scorer, peer, self.content_pubsub.topic_ids)
        return found

    def rescore(self, peer: ID | None = None) -> None:
        if peer is None:
            self._scores.clear()
        else:
            self._scores.pop(peer, None)

    # -- sending messages ---------------------------------------------------------------

    async def publish(self, msg_forwarder: ID, pubsub_msg: rpc_pb2.Message) -> None:
        """py-libp2p is at fault here: its publish keys equivocation checks and the
        origin by `from + seqno` (empty under StrictNoSign: every message after the first
        would be an "equivocation") and drops what a full queue refuses."""
        await self.forward(msg_forwarder, pubsub_msg, message_id(pubsub_msg))

    async def forward(self, forwarder: ID, msg: rpc_pb2.Message, mid: bytes) -> None:
        """Send a message we accepted to our mesh peers for its topic."""
        self.mcache.put(msg, mid)
        topic = msg.topicIDs[0]
        peers = set(self.mesh.get(topic, ())) | set(self.direct_peers)
        peers.discard(forwarder)
        await self._send(msg, topic, peers, FORWARD_WAIT)

    async def flood(self, msg: rpc_pb2.Message) -> int:
        """Send our own message to every subscriber of its topic above the publish threshold."""
        self.mcache.put(msg)
        topic = msg.topicIDs[0]
        pubsub = self.content_pubsub
        peers = {p for p in pubsub.peer_topics.get(topic, ())
                 if self._is_gossipsub_peer(p) or p in self.direct_peers}
        peers = {p for p in peers if self.score(p) >= scoring.PUBLISH_THRESHOLD}
        self.time_since_last_publish[topic] = int(time.time())
        return await self._send(msg, topic, peers, PUBLISH_WAIT)

    async def _send(self, msg: rpc_pb2.Message, topic: str, peers: Iterable[ID],
                    wait: float) -> int:
        pubsub = self.content_pubsub
        queues = [q for p in peers if (q := pubsub.outbound(p)) is not None]
        if not queues:
            return 0
        # An RPC holding just this message, framed by hand: building rpc_pb2.RPC(publish=
        # [msg]) from a message parsed out of a large RPC cost a relay a sixth of its time.
        body = msg.SerializeToString()
        data = _PUBLISH_FIELD + encode_uvarint(len(body)) + body
        sent = 0
        for queue in queues:
            if queue.full():
                with trio.move_on_after(wait):
                    await queue.wait_room()
            if queue.push_bytes(data):
                sent += 1
            elif not queue.closed:
                self.drop("outbound_full", topic)
        return sent

    # -- heartbeat ------------------------------------------------------------------------

    def mesh_heartbeat(self) -> tuple[defaultdict[ID, list[str]], defaultdict[ID, list[str]]]:
        """py-libp2p is at fault here: its heartbeat never removes a peer for its score."""
        self.rescore()
        graft, prune = super().mesh_heartbeat()
        for topic, peers in self.mesh.items():
            for peer in [p for p in peers if self.score(p) < 0]:
                peers.discard(peer)
                if self.scorer is not None:
                    self.scorer.on_leave_mesh(peer, topic)
                if topic in graft.get(peer, ()):
                    graft[peer].remove(topic)
                prune[peer].append(topic)
                self.drop("mesh_pruned_for_score", topic)
        return graft, prune

    def gossip_heartbeat(self) -> defaultdict[ID, dict[str, list[bytes]]]:
        """IHAVE for the ids in the cache window, to peers subscribed but outside the mesh.

        py-libp2p is at fault here: it picks gossip peers among those *not* backing off,
        which excludes exactly the peers it just pruned, sends every id in the window
        however many, and sizes the choice by an "adaptive" health figure."""
        gossip: defaultdict[ID, dict[str, list[bytes]]] = defaultdict(dict)
        pubsub = self.content_pubsub
        for topic in set(self.mesh) | set(self.fanout):
            ids = self.mcache.window(topic)[-MAX_IHAVE_LENGTH:]
            if not ids:
                continue
            inside = self.mesh.get(topic) or self.fanout.get(topic) or set()
            outside = [p for p in pubsub.peer_topics.get(topic, ())
                       if p not in inside and self._is_gossipsub_peer(p)
                       and self.score(p) >= scoring.GOSSIP_THRESHOLD]
            count = max(GOSSIP_PEERS, int(GOSSIP_FACTOR * len(outside)))
            for peer in random.sample(outside, min(count, len(outside))):
                gossip[peer][topic] = list(ids)
        return gossip

    def _get_in_topic_gossipsub_peers_from_minus(
        self, topic: str, num_to_select: int, minus: Iterable[ID],
        backoff_check: bool = False,
    ) -> list[ID]:
        # py-libp2p grafts and exchanges peers whatever their score.
        chosen = super()._get_in_topic_gossipsub_peers_from_minus(
            topic, num_to_select + 8, minus, backoff_check)
        return [p for p in chosen if self.score(p) >= 0][:num_to_select]

    async def _emit_control_msgs(
        self, peers_to_graft: dict[ID, list[str]], peers_to_prune: dict[ID, list[str]],
        peers_to_gossip: dict[ID, dict[str, list[bytes]]],
    ) -> None:
        """One control message per peer: its GRAFTs, its PRUNEs (with backoff and, for
        peers in good standing, peer exchange) and its IHAVEs.

        py-libp2p is at fault here: its heartbeat PRUNEs carry no backoff and no PX, and
        it accumulates one peer's GRAFTs and PRUNEs into the next peer's message."""
        for peer in set(peers_to_graft) | set(peers_to_prune) | set(peers_to_gossip):
            control = rpc_pb2.ControlMessage()
            for topic in peers_to_graft.get(peer, ()):
                control.graft.append(rpc_pb2.ControlGraft(topicID=topic))
            for topic in peers_to_prune.get(peer, ()):
                control.prune.append(self._prune(topic, peer))
            for topic, ids in peers_to_gossip.get(peer, {}).items():
                control.ihave.append(rpc_pb2.ControlIHave(topicID=topic, messageIDs=ids))
            await self.emit_control_message(control, peer)

    def _prune(self, topic: str, peer: ID) -> rpc_pb2.ControlPrune:
        prune = rpc_pb2.ControlPrune(topicID=topic, backoff=self.prune_back_off)
        if self.score(peer) < 0 or self.pubsub is None:
            return prune
        store = self.pubsub.host.get_peerstore()
        for other in self._get_in_topic_gossipsub_peers_from_minus(
                topic, self.px_peers_count, [peer]):
            info = rpc_pb2.PeerInfo(peerID=other.to_bytes())
            record = store.get_peer_record(other)
            if record is not None:
                info.signedPeerRecord = record.marshal_envelope()
            prune.peers.append(info)
        return prune

    async def emit_prune(self, topic: str, to_peer: ID, do_px: bool,
                         is_unsubscribe: bool) -> None:
        prune = self._prune(topic, to_peer) if do_px else rpc_pb2.ControlPrune(
            topicID=topic, backoff=self.unsubscribe_back_off if is_unsubscribe
            else self.prune_back_off)
        await self.emit_control_message(rpc_pb2.ControlMessage(prune=[prune]), to_peer)

    # -- control messages from peers ------------------------------------------------------

    async def handle_ihave(self, ihave_msg: rpc_pb2.ControlIHave, sender_peer_id: ID) -> None:
        # py-libp2p reads every id of every IHAVE from any peer.
        if self.score(sender_peer_id) < scoring.GOSSIP_THRESHOLD:
            return
        if len(ihave_msg.messageIDs) > MAX_IHAVE_LENGTH:
            ihave_msg = rpc_pb2.ControlIHave(topicID=ihave_msg.topicID,
                                             messageIDs=ihave_msg.messageIDs[:MAX_IHAVE_LENGTH])
        await super().handle_ihave(ihave_msg, sender_peer_id)

    async def handle_iwant(self, iwant_msg: rpc_pb2.ControlIWant, sender_peer_id: ID) -> None:
        # py-libp2p answers any number of ids for any peer.
        if self.score(sender_peer_id) < scoring.GOSSIP_THRESHOLD:
            return
        if len(iwant_msg.messageIDs) > MAX_IWANT_LENGTH:
            iwant_msg = rpc_pb2.ControlIWant(messageIDs=iwant_msg.messageIDs[:MAX_IWANT_LENGTH])
        await super().handle_iwant(iwant_msg, sender_peer_id)

    async def _do_px(self, px_peers: list[rpc_pb2.PeerInfo]) -> None:
        # py-libp2p dials PX peers one by one inside the RPC handler, which stalls reading
        # from the peer that pruned us for as long as the dials take: dial in the
        # background instead, one exchange at a time.
        if self._px_running:
            return
        self._px_running = True
        self.manager.run_task(self._px, list(px_peers))

    async def _px(self, px_peers: Sequence[rpc_pb2.PeerInfo]) -> None:
        try:
            await super()._do_px(list(px_peers))
        finally:
            self._px_running = False

