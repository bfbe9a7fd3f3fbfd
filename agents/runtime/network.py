"""An agent's libp2p node, made from its config, its command line and its store.

The three roles make their node here, so they share one reading of `[network]`
(the command line adds to it), one peer book (the agent's SQLite store) and one
way of reporting what happens on the network: a JSON line per event
(`peer_connected`, `peer_disconnected`, `behind_nat`, `reachable`, `cut_off`, ...).
"""

from __future__ import annotations

from typing import Any

from intentcast.agents.net.about import About
from intentcast.agents.net.node import EventSink, Node
from intentcast.agents.net.peerbook import PeerRecord
from intentcast.agents.runtime.home import Config, NetOptions
from intentcast.agents.runtime.process import announce
from intentcast.agents.store import peerbook
from intentcast.agents.store.db import Store


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


class HeldEvents:
    """Network events, held back until the agent has printed its `ready` line (which the
    demo and the tests read first), then printed as they come."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self.held: list[dict[str, Any]] | None = []

    def __call__(self, event: dict[str, Any]) -> None:
        if self.held is None:
            self.sink(event)
        elif len(self.held) < 256:
            self.held.append(event)

    def release(self) -> None:
        held, self.held = self.held or [], None
        for event in held:
            self.sink(event)


def announce_ready(node: Node, event: dict[str, Any]) -> None:
    """Print the agent's `ready` line, then the network events held back until now."""
    announce(event)
    if isinstance(node.on_event, HeldEvents):
        node.on_event.release()


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
        on_event=on_event or HeldEvents(announce))
