"""Running agents: the person's daemon (node + local API) and the vendor's responder.

Both run on trio until SIGINT or SIGTERM, then shut down in order: stop taking
API requests, close negotiation streams, stop the libp2p host, close the store.
Every write that matters is a committed SQLite transaction by then, so an
interrupted agent leaves nothing half-written.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from protocol.identity import KeyPair, MasterKey

from . import home as homes
from .api import create_app
from .catalog import load as load_catalog
from .desk import Desk
from .init_cmd import HOST_SEED, MASTER_SEED, VENDOR_SEED, open_store
from .p2p import ASSISTANT_PROTOCOL, Delivery, NegotiationStream, Node
from .person import STEP_TIMEOUT, PersonAgent
from .person_data import DATA_PROTOCOL, PersonData
from .policy import load_policy
from .store import Store
from .vendor import VendorAgent
from .vendor_data import VendorData

log = logging.getLogger("intentcast.daemon")


class StreamChannel:
    """A node's negotiation stream as the agents' `Channel`."""

    def __init__(self, stream: NegotiationStream) -> None:
        self.stream = stream
        self.remote_peer_id = stream.remote_peer_id

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def receive(self) -> bytes | None:
        return await self.stream.receive()

    async def close(self) -> None:
        await self.stream.close()


class NodeNetwork:
    """The node as the agents' `Network` and `VendorNetwork`."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.peer_id = node.peer_id

    def multiaddrs(self) -> list[str]:
        return self.node.multiaddrs()

    async def publish_intent(self, data: bytes) -> None:
        await self.node.publish_intent(data)

    async def publish_revocation(self, data: bytes) -> None:
        await self.node.publish_revocation(data)

    async def open_data(self, peer_id: str, addrs: list[str]) -> NegotiationStream:
        return await self.node.open_stream(peer_id, addrs, DATA_PROTOCOL)

    def peer_addrs(self, peer_id: str) -> list[str]:
        return self.node.peer_addrs(peer_id)

    def peer_multiaddrs(self) -> list[str]:
        """Every connected peer as a dialable multiaddr ending in /p2p/<id>."""
        return [f"{a}/p2p/{p}" for p in self.node.peers() for a in self.node.peer_addrs(p)[:1]]

    async def connect(self, addr: str) -> bool:
        return await self.node.connect(addr)

    async def open_negotiation(self, peer_id: str, addrs: list[str]) -> StreamChannel:
        return StreamChannel(await self.node.open_negotiation(peer_id, addrs))


def _secret(store: Store, name: str) -> bytes:
    value = store.get_secret(name)
    if value is None:
        raise homes.HomeError(f"{store.path} lacks its {name}; was it made by `intentcast init`?")
    return value


async def _until_signalled(ready: trio.Event | None = None) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        if ready is not None:
            ready.set()
        async for _ in signals:
            return


def _status(node: Node) -> dict[str, Any]:
    return {"peer_id": node.peer_id, "addrs": node.multiaddrs(), "peers": node.peers(),
            "topics": node.topics(), "dropped": dict(node.dropped)}


def run_person(home: Path, *, listen: str | None, bootstrap: list[str], mdns: bool,
               api_port: int | None, step_timeout: float = STEP_TIMEOUT) -> int:
    config = homes.load_config(home)
    if config.role != "person":
        raise homes.HomeError(f"{home} is a {config.role} home; use `intentcast vendor run`")
    token = homes.read_token(home)
    store = open_store(home)
    try:
        trio.run(_person_main, home, store, config, token, listen, bootstrap, mdns, api_port,
                 step_timeout)
    finally:
        store.close()
        (home / "api.json").unlink(missing_ok=True)
    return 0


async def _person_main(home: Path, store: Store, config: homes.Config, token: str,
                       listen: str | None, bootstrap: list[str], mdns: bool,
                       api_port: int | None, step_timeout: float) -> None:
    master = MasterKey(_secret(store, MASTER_SEED))
    node = Node(_secret(store, HOST_SEED), listen=listen or config.listen,
                bootstrap=[*config.bootstrap, *bootstrap], enable_mdns=mdns or config.mdns)
    async with node:
        desk = Desk(store, master, NodeNetwork(node))
        agent = PersonAgent(store, master, NodeNetwork(node), step_timeout=step_timeout,
                            desk=desk, data=PersonData(store, master, NodeNetwork(node),
                                                       deadline=step_timeout))

        async def handle(stream: NegotiationStream) -> None:
            await agent.handle_channel(StreamChannel(stream))

        node.set_negotiation_handler(handle)
        node.set_stream_handler(ASSISTANT_PROTOCOL, desk.handle)
        app = create_app(agent, token, lambda: _status(node), node.wait_for_topic_peers)
        hyper = HypercornConfig()
        port = config.api_port if api_port is None else api_port
        hyper.bind = [f"{config.api_host}:{port}"]
        hyper.accesslog = None
        hyper.errorlog = logging.getLogger("intentcast.api")
        stop = trio.Event()

        async def shutdown_trigger() -> None:
            await stop.wait()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(desk.watch_expiry)
            binds = await nursery.start(
                partial(serve, app, hyper, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]
            )
            bound_port = int(binds[0].rsplit(":", 1)[1])
            homes.write_api_address(home, config.api_host, bound_port, os.getpid())
            _announce({"event": "ready", "role": "person", "peer_id": node.peer_id,
                       "addrs": node.multiaddrs(), "api": f"http://{config.api_host}:"
                       f"{bound_port}"})
            await _until_signalled()
            stop.set()
            nursery.cancel_scope.deadline = trio.current_time() + 5


def run_vendor(home: Path, *, listen: str | None, bootstrap: list[str], mdns: bool,
               catalog: Path | None, as_json: bool) -> int:
    config = homes.load_config(home)
    if config.role != "vendor":
        raise homes.HomeError(f"{home} is a {config.role} home; use `intentcast daemon`")
    path = catalog or (Path(config.catalog) if config.catalog else None)
    if path is None:
        raise homes.HomeError("no catalog: pass --catalog FILE or set vendor.catalog")
    parsed = load_catalog(path)
    policy = load_policy(parsed.policy, parsed)
    store = open_store(home)
    try:
        trio.run(_vendor_main, store, config, parsed, policy, listen, bootstrap, mdns)
    finally:
        store.close()
    return 0


async def _vendor_main(store: Store, config: homes.Config, catalog: Any, policy: Any,
                       listen: str | None, bootstrap: list[str], mdns: bool) -> None:
    key = KeyPair(_secret(store, VENDOR_SEED))
    node = Node(_secret(store, HOST_SEED), listen=listen or config.listen,
                bootstrap=[*config.bootstrap, *bootstrap], enable_mdns=mdns or config.mdns)
    async with node, trio.open_nursery() as nursery:
        node.on_drop = lambda reason, topic: _announce(
            {"event": "dropped", "reason": reason, "topic": topic})
        agent = VendorAgent(store, key, catalog, policy, NodeNetwork(node),
                            on_refused=lambda event: _announce({"event": "refused", **event}))
        nursery.start_soon(_learn_revocations, await node.subscribe_revocations(), agent)
        data = VendorData(store, key, on_event=_announce,
                          loyalty_percent=catalog.loyalty_percent, offer_open=agent.offer_open)
        node.set_stream_handler(DATA_PROTOCOL, data.handle)
        nursery.start_soon(data.purge_forever)
        for topic in sorted(catalog.topics):
            intents = await node.subscribe_intents(topic)
            nursery.start_soon(_answer_all, intents, agent, nursery)
        _announce({"event": "ready", "role": "vendor", "did": key.did, "name": catalog.name,
                   "peer_id": node.peer_id, "addrs": node.multiaddrs(),
                   "topics": sorted(catalog.topics)})
        await _until_signalled()
        nursery.cancel_scope.cancel()


async def _answer_all(intents: AsyncIterator[Delivery], agent: VendorAgent,
                      nursery: trio.Nursery) -> None:
    async for delivery in intents:
        verified = delivery.verified
        _announce({"event": "intent", "id": verified.message.id, "signer": verified.signer,
                   "origin": delivery.origin})
        nursery.start_soon(agent.on_intent, verified)


async def _learn_revocations(revocations: AsyncIterator[Delivery], agent: VendorAgent) -> None:
    async for delivery in revocations:
        verified = delivery.verified
        if agent.learn_revocation(verified):
            _announce({"event": "revocation", "digest": verified.digest.hex(),
                       "signer": verified.signer})


def _announce(event: dict[str, Any]) -> None:
    """One JSON line on stdout: how the demo and the tests learn an agent is up."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()
