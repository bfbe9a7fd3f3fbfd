"""An agent's libp2p node, made from its config, its command line and its store.

The three roles make their node here, so they share one reading of `[network]`
(the command line adds to it), one peer book (the agent's SQLite store) and one
way of reporting what happens on the network: a log line at INFO per event
(`peer_connected`, `peer_disconnected`, `topic_peers`, `behind_nat`, `reachable`,
`relay_lost`, `cut_off`), its text a JSON object with `at`, the machine's monotonic
clock, so that a program reading the log can time what it sees. stdout stays the
agent's own events.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from intentcast.agents.net.about import About
from intentcast.agents.net.node import EventSink, Node
from intentcast.agents.net.peerbook import PeerRecord
from intentcast.agents.runtime.home import Config, NetOptions
from intentcast.agents.store import peerbook
from intentcast.agents.store.db import Store

log = logging.getLogger("intentcast.net")


class StoredPeerBook:
    """The node's peer book, kept in the agent's store (agents/store/peerbook.py)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def remember(self, record: PeerRecord) -> None:
        peerbook.remember(self.store, peerbook.KnownPeer(
            record.peer_id, record.addrs, record.last_seen, record.role, record.name,
            record.topics))

    def get(self, peer_id: str) -> PeerRecord | None:
        found = peerbook.get(self.store, peer_id)
        return _record(found) if found else None

    def forget(self, peer_id: str) -> None:
        peerbook.forget(self.store, peer_id)

    def recent(self, *, since: int, limit: int) -> list[PeerRecord]:
        return [_record(p) for p in peerbook.recent(self.store, since=since, limit=limit)]


def _record(peer: peerbook.KnownPeer) -> PeerRecord:
    return PeerRecord(peer.peer_id, peer.addrs, peer.last_seen, peer.role, peer.name,
                      peer.topics).cleaned()


def log_event(event: dict[str, Any]) -> None:
    """One network event as one log line (logger `intentcast.net`, level INFO)."""
    log.info("%s", json.dumps({**event, "at": round(time.monotonic(), 3)}))


def make_node(store: Store, config: Config, options: NetOptions, host_seed: bytes, *,
              about: About | None = None, on_event: EventSink | None = None) -> Node:
    relay_service = options.relay_service or config.relay_service
    about = about or About()
    return Node(
        host_seed, listen=options.listen or config.listening,
        bootstrap=list(dict.fromkeys([*config.bootstrap, *options.bootstrap])),
        enable_mdns=options.mdns or config.mdns, peer_book=StoredPeerBook(store),
        about=About(about.role, about.name, about.topics, relay=relay_service),
        relay_service=relay_service,
        relays=list(dict.fromkeys([*config.relays, *options.relays])),
        reachability=options.reachability or config.reachability,
        on_event=on_event or log_event)
