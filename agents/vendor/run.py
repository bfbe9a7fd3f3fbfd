"""`intentcast vendor run`: a vendor's responder, its data side and its libp2p node.

It answers every intent its catalog fits until SIGINT or SIGTERM; each
negotiation, disclosure and deletion is a committed SQLite transaction before
the buyer hears of it, so an interrupted responder leaves nothing half-written.
One responder per home (one identity, one stock): it holds the home's lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import trio

from intentcast.agents.net.about import About
from intentcast.agents.net.gossip import intent_topic
from intentcast.agents.net.network import NodeNetwork
from intentcast.agents.net.node import DATA_PROTOCOL, Delivery
from intentcast.agents.runtime import home as homes
from intentcast.agents.runtime import lock
from intentcast.agents.runtime.home import NetOptions
from intentcast.agents.runtime.network import make_node
from intentcast.agents.runtime.process import (
    Stop,
    announce,
    check_listen,
    run_agent,
    stop_on_signals,
)
from intentcast.agents.runtime.setup import HOST_SEED, VENDOR_SEED, Passphrase, open_store, secret
from intentcast.agents.store.db import Store
from intentcast.agents.vendor.catalog import Catalog
from intentcast.agents.vendor.catalog import load as load_catalog
from intentcast.agents.vendor.closing import Closing
from intentcast.agents.vendor.data import VendorData
from intentcast.agents.vendor.policy import PricingPolicy, load_policy
from intentcast.agents.vendor.responder import VendorAgent
from intentcast.protocol import KeyPair


def run_vendor(home: Path, passphrase: Passphrase, *, net: NetOptions, catalog: Path | None,
               as_json: bool) -> int:
    config = homes.load_config(home)
    if config.role != "vendor":
        raise homes.HomeError(f"{home} is a {config.role} home; use `intentcast daemon`")
    path = catalog or (Path(config.catalog) if config.catalog else None)
    if path is None:
        raise homes.HomeError("no catalog: pass --catalog FILE or set vendor.catalog")
    parsed = load_catalog(path)
    policy = load_policy(parsed.policy, parsed)
    with lock.hold(home, "intentcast vendor run"):
        check_listen(home, net.listen or config.listening)
        store = open_store(home, passphrase)
        try:
            run_agent(home, _vendor_main, store, config, parsed, policy, net)
        finally:
            store.close()
    return 0


async def _vendor_main(store: Store, config: homes.Config, catalog: Catalog, policy: PricingPolicy,
                       net: NetOptions) -> None:
    async with stop_on_signals() as stopping:
        await _serve(stopping, store, config, catalog, policy, net)


async def _serve(stopping: Stop, store: Store, config: homes.Config, catalog: Catalog,
                 policy: PricingPolicy, net: NetOptions) -> None:
    key = KeyPair(secret(store, VENDOR_SEED))
    closing = Closing(store, key, hold=catalog.hold, on_event=announce)
    # What a stopped responder left in flight: holds that lapsed meanwhile give their stock
    # back; negotiations whose streams died are over (spec §7.1, reconciliation).
    closing.lapse_due()
    store.end_interrupted(now=closing.now(), note="interrupted: the responder restarted")
    topics = sorted(catalog.topics)
    about = About(role="vendor", name=catalog.name, topics=tuple(intent_topic(t) for t in topics))
    node = make_node(store, config, net, secret(store, HOST_SEED), about=about)
    async with node, trio.open_nursery() as nursery:
        node.on_drop = lambda reason, topic, via: announce(
            {"event": "dropped", "reason": reason, "topic": topic,
             **({"via": via} if via else {})})
        agent = VendorAgent(store, key, catalog, policy, NodeNetwork(node), closing=closing,
                            on_refused=lambda event: announce({"event": "refused", **event}),
                            on_drop=lambda reason: node.drop(reason))
        nursery.start_soon(agent.serve)
        nursery.start_soon(_learn_revocations, await node.subscribe_revocations(), agent)
        data = VendorData(store, key, on_event=announce,
                          loyalty_percent=catalog.loyalty_percent, offer_open=agent.offer_open,
                          closing=closing)
        node.set_stream_handler(DATA_PROTOCOL, data.handle)
        nursery.start_soon(data.purge_forever)
        nursery.start_soon(closing.lapse_forever)
        for topic in topics:
            intents = await node.subscribe_intents(topic)
            nursery.start_soon(_answer_all, intents, agent)
        node.serve(about.topics)  # advertised in the DHT, found by people posting in them
        await node.join()  # every handler is set: the first identify lists them all
        announce({"event": "ready", "role": "vendor", "did": key.did, "name": catalog.name,
                   "peer_id": node.peer_id, "addrs": node.multiaddrs(),
                   "topics": sorted(catalog.topics)})
        await stopping.wait()
        nursery.cancel_scope.cancel()


async def _answer_all(intents: AsyncIterator[Delivery], agent: VendorAgent) -> None:
    async for delivery in intents:
        verified = delivery.verified
        announce({"event": "intent", "id": verified.message.id, "signer": verified.signer,
                   "via": delivery.via})
        agent.hear(verified)


async def _learn_revocations(revocations: AsyncIterator[Delivery], agent: VendorAgent) -> None:
    async for delivery in revocations:
        verified = delivery.verified
        held = agent.learn_revocation(verified)
        if held is not None:
            announce({"event": "revocation", "digest": verified.digest.hex(),
                       "signer": verified.signer, "held": held})
