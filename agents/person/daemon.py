"""`intentcast daemon`: the person's agent, its libp2p node and its local API, in one process.

It runs on trio until SIGINT or SIGTERM, then shuts down in order, within a second: stop
taking API requests (those in flight get STOP_GRACE to finish), cancel the rest, stop the
libp2p host, close the store. Every write that matters is a committed SQLite transaction by
then, so an interrupted daemon leaves nothing half-written. One daemon per home: it holds the
home's lock (runtime/lock.py) from before it opens anything until it has closed everything.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from intentcast.agents.conversation.buyer import STEP_TIMEOUT
from intentcast.agents.net.network import NodeNetwork
from intentcast.agents.net.node import ASSISTANT_PROTOCOL, Node
from intentcast.agents.net.ports import PortError, bind_tcp
from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.person.api.app import create_app
from intentcast.agents.person.api.serve import ApiCounters, serve_api
from intentcast.agents.person.data import PersonData
from intentcast.agents.person.desk import Desk
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
from intentcast.agents.runtime.setup import (
    HOST_SEED,
    MASTER_SEED,
    Passphrase,
    open_store,
    secret,
)
from intentcast.agents.store.db import Store, explain
from intentcast.protocol import MasterKey

if TYPE_CHECKING:  # trio's types as mypy sees them here: libp2p brings trio-typing's stubs
    from trio_typing import TaskStatus

log = logging.getLogger("intentcast.daemon")
STOP_GRACE = 0.5
"""Seconds the API gets, once told to stop, to answer the requests in flight."""


def _status(node: Node) -> dict[str, Any]:
    return {"peer_id": node.peer_id, "addrs": node.multiaddrs(), "peers": node.peers(),
            "topics": node.topics(), "dropped": dict(node.dropped),
            "network": node.network_status()}


def run_person(home: Path, passphrase: Passphrase, *, net: NetOptions, api_port: int | None,
               step_timeout: float = STEP_TIMEOUT) -> int:
    config = homes.load_config(home)
    if config.role != "person":
        raise homes.HomeError(f"{home} is a {config.role} home; use `intentcast vendor run`")
    with lock.hold(home, "intentcast daemon"):
        exposed = homes.readable_by_others(home / "api-token")
        check_listen(home, net.listen or config.listening)
        api = _bind_api(home, config, api_port)
        try:
            store = open_store(home, passphrase)  # makes the home private again
            try:
                if exposed:
                    homes.new_token(home)  # others could read it: it is worth nothing now
                token = homes.read_token(home)
                run_agent(home, _person_process, home, store, config, token, net, api,
                          step_timeout)
            finally:
                store.close()
                (home / "api.json").unlink(missing_ok=True)
        finally:
            api.close()
    return 0


def _bind_api(home: Path, config: homes.Config, api_port: int | None) -> socket.socket:
    """The API's socket, bound here so that a port in use is one line naming the setting."""
    port = config.api_port if api_port is None else api_port
    try:
        return bind_tcp(config.api_host, port)
    except PortError as exc:
        raise homes.HomeError(f"{exc}; change api.port in {home / 'config.toml'} or pass "
                              "--api-port (0 takes any free port)") from exc


async def _person_process(home: Path, store: Store, config: homes.Config, token: str,
                          net: NetOptions, api: socket.socket, step_timeout: float) -> None:
    async with stop_on_signals() as stopping:
        await _person_main(stopping, home, store, config, token, net, api, step_timeout)


async def _person_main(stopping: Stop, home: Path, store: Store, config: homes.Config,
                       token: str, net: NetOptions, api: socket.socket,
                       step_timeout: float) -> None:
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
        counters = ApiCounters()
        app = create_app(agent, token, lambda: {**_status(node), "api": counters.snapshot()},
                         node.wait_for_topic_peers, network=node)
        _answer_environment_faults(app)
        stop = trio.Event()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(desk.watch_expiry)
            nursery.start_soon(agent.buyer.redeliver_forever)
            nursery.start_soon(agent.republish_forever)
            # serve_api catches what any API connection raises: no client can end the node.
            bound_port: int = await nursery.start(
                partial(_serve_then_stop, app, counters, api, stop, nursery.cancel_scope))
            homes.write_api_address(home, config.api_host, bound_port, os.getpid())
            announce({"event": "ready", "role": "person", "peer_id": node.peer_id,
                       "addrs": node.multiaddrs(), "api": f"http://{config.api_host}:"
                       f"{bound_port}"})
            await stopping.wait()
            agent.events.close()  # event streams end with a `closing` event, not a cut
            stop.set()
            nursery.cancel_scope.deadline = trio.current_time() + STOP_GRACE


def _answer_environment_faults(app: FastAPI) -> None:
    """A full disk or a failing store while the daemon runs: the request gets one line (503)
    instead of a 500 and a traceback; each write is a transaction, done whole or not at all,
    and the daemon runs on."""

    async def store_fault(_: Request, exc: Exception) -> JSONResponse:
        why = explain(exc) if isinstance(exc, sqlite3.Error) else str(exc)
        message = f"the daemon could not use its store: {why}"
        log.warning("%s", message)
        return JSONResponse({"error": message, "status": 503}, status_code=503)

    app.add_exception_handler(sqlite3.Error, store_fault)


async def _serve_then_stop(app: FastAPI, counters: ApiCounters, api: socket.socket,
                           stop: trio.Event, rest: trio.CancelScope, *,
                           task_status: TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the API; once it has stopped (its requests in flight answered), stop the rest."""
    await serve_api(app, counters, api, stop, task_status=task_status)  # type: ignore[arg-type]
    rest.cancel()
