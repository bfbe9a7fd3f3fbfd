"""Gossipsub v1.1 peer scoring for intentcast topics, and what a score leads to.

Every message is a signed envelope that an honest peer verifies before forwarding,
so an invalid one (a bad signature, a malformed envelope, a message on the wrong
topic, a signed gossip message) is never an honest peer's doing. The weights make
a few of them decisive and let honest delivery earn a little credit:

- P2, first deliveries: +1 each, capped at 10, decaying by 0.9 a heartbeat (1 s);
- P4, invalid messages: -10 each, capped at 1,000, decaying by 0.99 a heartbeat
  (half-life about 70 s);
- thresholds: no gossip to or from a peer below -10, no flood publishing to one
  below -50, and below -80 (graylisted) its RPCs are ignored and it is cut off:
  disconnected and refused for CUT_OFF_SECONDS.

So a peer is pruned from the mesh after one invalid message, loses gossip after
two, and is graylisted and cut off after nine (fewer credits, sooner). Replays,
expired messages and messages refused for a full replay guard are "ignored",
never held against the peer that forwarded them. IP colocation (P7) stays off:
the tests run every peer on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from libp2p.peer.id import ID
from libp2p.pubsub.score import PeerScorer, ScoreParams, TopicScoreParams

GOSSIP_THRESHOLD = -10.0
PUBLISH_THRESHOLD = -50.0
GRAYLIST_THRESHOLD = -80.0
ACCEPT_PX_THRESHOLD = 0.0
CUT_OFF_SECONDS = 600.0

PARAMS = ScoreParams(
    p2_first_message_deliveries=TopicScoreParams(weight=1.0, cap=10.0, decay=0.9),
    p4_invalid_messages=TopicScoreParams(weight=10.0, cap=1000.0, decay=0.99),
    publish_threshold=PUBLISH_THRESHOLD,
    gossip_threshold=GOSSIP_THRESHOLD,
    graylist_threshold=GRAYLIST_THRESHOLD,
    accept_px_threshold=ACCEPT_PX_THRESHOLD,
)

Drop = Callable[[str, str], None]


def score(scorer: PeerScorer | None, peer: ID, topics: Iterable[str]) -> float:
    """A peer's score over our topics and any topic it sent an invalid message on."""
    if scorer is None:
        return 0.0
    named = set(topics) | set(scorer.invalid_messages.get(peer, {}))
    return scorer.score(peer, sorted(named))
