"""`intentcast daemon`: the person's agent, its libp2p node and its local API, in one process.

It runs on trio until SIGINT or SIGTERM, then shuts down in order: stop taking
API requests, close negotiation streams, stop the libp2p host, close the store.
Every write that matters is a committed SQLite transaction by then, so an
interrupted daemon leaves nothing half-written.
"""

from __future__ import annotations

import logging
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from intentcast.agents.conversation.buyer import STEP_TIMEOUT
from intentcast.agents.net.network import NodeNetwork
from intentcast.agents.net.node import ASSISTANT_PROTOCOL, Node
from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.person.api.app import create_app
from intentcast.agents.person.data import PersonData
from intentcast.agents.person.desk import Desk
from intentcast.agents.runtime import home as homes
from intentcast.agents.runtime.home import NetOptions
from intentcast.agents.runtime.network import announce_ready, make_node
from intentcast.agents.runtime.process import until_signalled
from intentcast.agents.runtime.setup import HOST_SEED, MASTER_SEED, Passphrase, open_store, secret
from intentcast.agents.store.db import Store
from intentcast.protocol import MasterKey


def _status(node: Node) -> dict[str, Any]:
    return {"peer_id": node.peer_id, "addrs": node.multiaddrs(), "peers": node.peers(),
            "topics": node.topics(), "dropped": dict(node.dropped),
            "network": node.network_status()}


def run_person(home: Path, passphrase: Passphrase, *, net: NetOptions, api_port: int | None,
               step_timeout: float = STEP_TIMEOUT) -> int:
    config = homes.load_config(home)
    if config.role != "person":
        raise homes.HomeError(f"{home} is a {config.role} home; use `intentcast vendor run`")
    token = homes.read_token(home)
    store = open_store(home, passphrase)
    try:
        trio.run(_person_main, home, store, config, token, net, api_port, step_timeout)
    finally:
        store.close()
        (home / "api.json").unlink(missing_ok=True)
    return 0


async def _person_main(home: Path, store: Store, config: homes.Config, token: str,
                       net: NetOptions, api_port: int | None, step_timeout: float) -> None:
    master = MasterKey(secret(store, MASTER_SEED))
    # Negotiations whose streams died with the last run are over; countersigned agreements
    # the vendor never acknowledged are redelivered below (spec §7.1).
    store.end_interrupted(now=int(time.time()), note="interrupted: the daemon restarted")
    node = make_node(store, config, net, secret(store, HOST_SEED))
    async with node:
        desk = Desk(store, master, NodeNetwork(node))
        agent = PersonAgent(store, master, NodeNetwork(node), step_timeout=step_timeout,
                            desk=desk, data=PersonData(store, master, NodeNetwork(node),
                                                       deadline=step_timeout))

        node.set_negotiation_handler(agent.handle_channel)
        node.set_stream_handler(ASSISTANT_PROTOCOL, desk.handle)
        await node.join()  # every handler is set: the first identify lists them all
        app = create_app(agent, token, lambda: _status(node), node.wait_for_topic_peers,
                         network=node)
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
            nursery.start_soon(agent.buyer.redeliver_forever)
            binds = await nursery.start(
                partial(serve, app, hyper, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]
            )
            bound_port = int(binds[0].rsplit(":", 1)[1])
            homes.write_api_address(home, config.api_host, bound_port, os.getpid())
            announce_ready(node, {"event": "ready", "role": "person", "peer_id": node.peer_id,
                                  "addrs": node.multiaddrs(), "api": f"http://{config.api_host}:"
                                  f"{bound_port}"})
            await until_signalled()
            stop.set()
            nursery.cancel_scope.deadline = trio.current_time() + 5
