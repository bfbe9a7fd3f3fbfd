"""Staying connected over real processes: restarts, the peer book, `connect` and `peers`.

Agents listen on fixed ports here (as they do by default outside tests), so a restart
keeps the address peers know; nobody is told anything after a restart. The figures
printed are wall-clock times watched from the test (`pytest -s` shows them).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from e2e import CATALOGS, ROOT, TENT, Cluster, Proc

from intentcast.agents.runtime.home import Config

pytestmark = pytest.mark.e2e

OUTDOOR = "/intentcast/1/intents/outdoor"
CLI = [sys.executable, "-m", "intentcast.agents.cli"]
BEST_PRICE = str(ROOT / "examples" / "assistants" / "best_price.py") + ":BestPrice"
GRANT = {"categories": ["outdoor"], "max_price": "200.00", "currency": "EUR",
         "may_counter": True, "may_accept": True, "expires_in": 3600}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def at(port: int) -> str:
    return f"/ip4/127.0.0.1/tcp/{port}"


def watch(procs: list[Proc], event: str, since: float, timeout: float = 30.0, **match: Any
          ) -> dict[str, Any]:
    """The first network event `event` (matching `match`) any of `procs` logged after
    `since`; its `at` is when it happened, on the machine's monotonic clock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            for seen in proc.net_events(since):
                if seen.get("event") == event and all(seen.get(k) == v for k, v in match.items()):
                    return seen
        procs[0].drain(0.05)  # the log file has no event to wait on: the agent's stdout does
    raise AssertionError(f"no {event} {match} from {[p.name for p in procs]} in {timeout} s")


def vendor(cluster: Cluster, name: str, catalog: str, port: int, *bootstrap: str,
           init: bool = True) -> Proc:
    home = cluster.root / name
    if init:
        cluster.home(name, Config(role="vendor", listen=at(port),
                                  catalog=str(CATALOGS / catalog)))
    args = [*CLI, "--home", str(home), "vendor", "run"]
    for addr in bootstrap:
        args += ["--bootstrap", addr]
    proc = cluster.spawn(name, args)
    proc.expect("ready")
    return proc


def cli(home: Path, *args: str) -> Any:
    done = subprocess.run([*CLI, "--home", str(home), *args, "--json"], capture_output=True,
                          timeout=60, check=False, env=dict(os.environ))
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def offers_from(client: Any, count: int) -> list[dict[str, Any]]:
    client.call("GET", "/v1/peers", params={"topic": OUTDOOR, "count": count, "wait": 20})
    intent = client.call("POST", "/v1/intents", json=TENT)
    return client.call("GET", f"/v1/intents/{intent['id']}/offers",
                       params={"wait": 20, "count": count})


def test_restarts_reconnect_by_themselves_and_peers_shows_who_is_who(cluster):
    port = free_port()
    cluster.home("person", Config(role="person", listen=at(port)))
    person, home = cluster.person()
    person_id = person.events[0]["peer_id"]
    trail = vendor(cluster, "trailhead", "trailhead.toml", free_port(),
                   f"{at(port)}/p2p/{person_id}")
    bargain = vendor(cluster, "bargain", "bargainblast.toml", free_port())  # knows nobody
    bargain_id, bargain_addr = bargain.events[0]["peer_id"], bargain.events[0]["addrs"][0]

    # `intentcast connect` (the real CLI) and `intentcast peers`: addresses, direction,
    # latency, and the names vendors give themselves.
    assert cli(home, "connect", bargain_addr) == {"peer_id": bargain_id, "connected": True}
    client = cluster.api(home)
    assert len(offers_from(client, 2)) == 2
    peers = {p["peer_id"]: p for p in cli(home, "peers")}
    assert peers[bargain_id]["direction"] == "outbound"
    assert peers[trail.events[0]["peer_id"]]["direction"] == "inbound"
    assert peers[bargain_id]["name"] == "BargainBlast"
    assert peers[trail.events[0]["peer_id"]]["name"] == "Trailhead Outfitters"
    assert all(p["role"] == "vendor" and p["latency_ms"] is not None and p["addrs"]
               for p in peers.values())
    assert peers[bargain_id]["topics"] == [OUTDOOR]

    # The daemon restarts on the same home: same port, and nobody does anything.
    client.close()
    assert person.stop() == 0, person.tail()
    started = time.monotonic()
    person, _ = cluster.person()
    ready = person.arrival(person.events[0])
    reconnect = max(watch([v], "peer_connected", started, peer_id=person_id)["at"]
                    for v in (trail, bargain))
    print(f"\ndaemon restart: ready {ready - started:.2f} s after the restart began, both "
          f"vendors reconnected {reconnect - started:.2f} s after it "
          f"({reconnect - ready:+.2f} s from ready)")
    client = cluster.api(home)
    assert len(offers_from(client, 2)) == 2

    # A vendor restarts without being told any peer: its peer book is enough.
    assert bargain.stop() == 0, bargain.tail()
    cluster.forget(bargain)
    started = time.monotonic()
    bargain = vendor(cluster, "bargain", "bargainblast.toml", 0, init=False)
    seen = watch([person], "peer_connected", started, peer_id=bargain_id)
    print(f"vendor restart: the daemon heard it again {seen['at'] - started:.2f} s "
          "after the restart began")
    assert len(offers_from(client, 2)) == 2


def test_an_assistant_follows_a_daemon_that_moved_and_is_heard_again_after_its_restart(
        cluster):
    cluster.home("person", Config(role="person", listen=at(free_port())))
    person, home = cluster.person()
    boot = person.events[0]["addrs"][0]
    vendor(cluster, "trailhead", "trailhead.toml", free_port(), boot)
    client = cluster.api(home)
    assistant_home, did = cluster.assistant_home()
    made = client.call("POST", "/v1/assistants/grants", json={"assistant": did, **GRANT})
    assistant = cluster.assistant(assistant_home, BEST_PRICE, made)  # the grant file only
    watch([assistant], "desk", 0.0, state="connected")

    def deal_through_the_assistant() -> None:
        client.call("GET", "/v1/peers", params={"topic": OUTDOOR, "count": 1, "wait": 20})
        intent = client.call("POST", "/v1/intents", json={**TENT, "assistant": did})
        assistant.expect("report", intent_id=intent["id"], timeout=40)

    deal_through_the_assistant()
    # The daemon comes back on another port: the grant file's address is stale now.
    client.close()
    assert person.stop() == 0, person.tail()
    started = time.monotonic()
    person, _ = cluster.person("person", "--listen", at(free_port()))
    seen = watch([assistant], "desk", started, state="connected")
    print(f"\ndaemon moved: the assistant was back at its desk "
          f"{seen['at'] - started:.2f} s after the restart began")
    client = cluster.api(home)
    deal_through_the_assistant()

    # The assistant restarts: the daemon's new address is in its peer book now.
    assert assistant.stop() == 0, assistant.tail()
    cluster.forget(assistant)
    started = time.monotonic()
    assistant = cluster.assistant(assistant_home, BEST_PRICE, made, name="assistant-again")
    seen = watch([assistant], "desk", started, state="connected")
    print(f"assistant restart: back at its desk {seen['at'] - started:.2f} s "
          "after the restart began")
    deal_through_the_assistant()
