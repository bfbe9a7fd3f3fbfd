"""`intentcast assistant run MODULE:NAME --delegation FILE`: an assistant as its own peer.

The assistant's libp2p host key is its signing key, so the person's daemon
knows who it is from the Noise handshake alone. It connects to the daemon
named in the grant file, takes the intents that name it, and serves the
vendors that call it until SIGINT or SIGTERM. One assistant per home: it holds the home's lock.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import trio

from intentcast.agents.assistant.agent import AssistantAgent
from intentcast.agents.assistant.desk_client import DeskClient
from intentcast.agents.assistant.sdk import Assistant
from intentcast.agents.net.network import NodeNetwork
from intentcast.agents.runtime import home as homes
from intentcast.agents.runtime import lock
from intentcast.agents.runtime.home import NetOptions
from intentcast.agents.runtime.network import log_event, make_node
from intentcast.agents.runtime.process import (
    Stop,
    announce,
    check_listen,
    run_agent,
    stop_on_signals,
)
from intentcast.agents.runtime.setup import ASSISTANT_SEED, Passphrase, open_store, secret
from intentcast.protocol import Delegation, IntentcastError, KeyPair, Scope, cose, envelope

_SPEC = re.compile(r"^(?P<module>[\w./-]+?)(?P<py>\.py)?:(?P<name>[A-Za-z_]\w*)$")
CONNECT_TIMEOUT = 20.0


def load_assistant(spec: str) -> Assistant:
    """`package.module:Name` or `path/to/file.py:Name`: a subclass of Assistant or one."""
    match = _SPEC.match(spec)
    if not match:
        raise homes.HomeError(f"{spec!r}: write MODULE:NAME, e.g. examples.assistants.best_price"
                              ":BestPrice")
    module_name, name = match["module"], match["name"]
    try:
        if match["py"]:
            path = Path(module_name + ".py")
            loader = importlib.util.spec_from_file_location(path.stem, path)
            if loader is None or loader.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(loader)
            loader.loader.exec_module(module)
        else:
            sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(module_name)
    except Exception as exc:  # a developer's module may fail in any way while importing
        raise homes.HomeError(f"{spec}: cannot import: {type(exc).__name__}: {exc}") from exc
    found = getattr(module, name, None)
    if isinstance(found, type) and issubclass(found, Assistant):
        return found()
    if isinstance(found, Assistant):
        return found
    raise homes.HomeError(f"{spec}: {name} is not an intentcast.agents.assistant.Assistant "
                          "(class or instance)")


def load_grant_file(path: Path, key: KeyPair) -> tuple[bytes, Scope, str, list[str]]:
    """The grant, its scope and the daemon's peer id and addresses, all checked."""
    try:
        raw = json.loads(path.read_text("utf-8"))
        grant = bytes.fromhex(raw["grant"])
        daemon = raw["daemon"]
        peer_id, addrs = daemon["peer_id"], daemon["addrs"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise homes.HomeError(f"{path}: not a grant file from `intentcast assistant grant` "
                              f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(peer_id, str) or not isinstance(addrs, list) or not all(
            isinstance(a, str) and a.startswith("/") for a in addrs):
        raise homes.HomeError(f"{path}: daemon.peer_id and daemon.addrs are malformed")
    try:
        message = envelope.parse_message(cose.verify(grant).payload)
    except IntentcastError as exc:
        raise homes.HomeError(f"{path}: the grant does not verify: {exc}") from exc
    if not isinstance(message, Delegation) or message.delegate != key.did:
        raise homes.HomeError(f"{path}: the grant is not to this assistant ({key.did})")
    return grant, message.scope, peer_id, addrs[:8]


def run_assistant(home: Path, passphrase: Passphrase, spec: str, delegation: Path, *,
                  net: NetOptions) -> int:
    config = homes.load_config(home)
    if config.role != "assistant":
        raise homes.HomeError(f"{home} is a {config.role} home; make one with "
                              "`intentcast assistant init`")
    assistant = load_assistant(spec)
    with lock.hold(home, "intentcast assistant run"):
        check_listen(home, net.listen or config.listening)
        store = open_store(home, passphrase)
        try:
            key = KeyPair(secret(store, ASSISTANT_SEED))
            grant, scope, peer_id, addrs = load_grant_file(delegation, key)
            run_agent(home, _main, store, config, key, assistant, grant, scope, peer_id, addrs,
                      net)
        finally:
            store.close()
    return 0


async def _main(store: Any, config: homes.Config, key: KeyPair, assistant: Assistant,
                grant: bytes, scope: Scope, peer_id: str, addrs: list[str], net: NetOptions
                ) -> None:
    async with stop_on_signals() as stopping:
        await _serve(stopping, store, config, key, assistant, grant, scope, peer_id, addrs,
                     net)


async def _serve(stopping: Stop, store: Any, config: homes.Config, key: KeyPair,
                 assistant: Assistant, grant: bytes, scope: Scope, peer_id: str,
                 addrs: list[str], net: NetOptions) -> None:
    # Negotiations whose streams died with the last run are over; countersigned agreements
    # the vendor never acknowledged are redelivered (spec §7.1).
    store.end_interrupted(now=int(time.time()), note="interrupted: the assistant restarted")
    node = make_node(store, config, net, key.seed)
    async with node, trio.open_nursery() as nursery:
        client = DeskClient(node, peer_id, addrs, grant,
                            on_state=lambda state: log_event({"event": "desk", "state": state}))
        agent = AssistantAgent(store, key, NodeNetwork(node), client, assistant, scope,
                               on_event=announce)
        agent.nursery = nursery
        nursery.start_soon(agent.buyer.redeliver_forever)

        node.set_negotiation_handler(agent.handle_channel)
        await node.join()
        # The person's daemon, kept connected for good: where the grant file says, else where
        # the peer book, identify or the DHT last saw it (a daemon may move).
        node.keeper.want(peer_id, addrs, forever=True)
        nursery.start_soon(client.events, agent.on_desk,
                           lambda why: announce({"event": "refused_by_person", "error": why}))
        with trio.move_on_after(CONNECT_TIMEOUT):
            await client.connected.wait()
        if not client.connected.is_set():
            announce({"event": "waiting", "error": "the person's daemon has not let us in yet"})
        announce({"event": "ready", "role": "assistant", "did": key.did, "name":
                   type(assistant).__name__, "peer_id": node.peer_id, "addrs": node.multiaddrs()})
        await stopping.wait()
        nursery.cancel_scope.cancel()
