"""Discovery beyond bootstrap: twenty agents, each told one peer at random, find each other.

Six people's daemons and fourteen vendors (ten sell outdoor gear, four kitchenware) start
together; each knows exactly one other agent, chosen at random, as its bootstrap peer, and
nothing else. Vendors advertise their categories in the DHT and find one another there;
people look the category up when they post. Every vendor must hear every intent of its
category and no other, and every person must get an offer from every vendor that matches.
Then one more vendor joins, told one random peer, while people keep posting: the test
prints how long it takes to hear its first intent.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import pytest
from e2e import CATALOGS, PASSPHRASE, TENT, Cluster, Proc

from intentcast.agents.runtime.home import Config
from intentcast.agents.runtime.setup import HOST_SEED, open_store, secret

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "intentcast.agents.cli"]
PAN = {"category": "kitchen.cookware", "description": "a cast-iron pan", "max_price": "60.00",
       "currency": "EUR", "expires_in": 600}
KINDS = {"person": 6, "outdoor": 10, "kitchen": 4}
CATALOG = {"outdoor": "trailhead.toml", "kitchen": "copper-kettle.toml"}


def peer_id_of(home: Path) -> str:
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.peer.id import ID

    store = open_store(home, lambda: PASSPHRASE)
    try:
        seed = secret(store, HOST_SEED)
    finally:
        store.close()
    return ID.from_pubkey(create_new_key_pair(seed).public_key).to_base58()


class Agent:
    def __init__(self, cluster: Cluster, name: str, kind: str) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        role = "person" if kind == "person" else "vendor"
        catalog = str(CATALOGS / CATALOG[kind]) if role == "vendor" else None
        self.name, self.kind, self.role = name, kind, role
        self.home = cluster.home(name, Config(role=role, listen=f"/ip4/127.0.0.1/tcp/{port}",
                                              catalog=catalog))
        self.addr = f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id_of(self.home)}"
        self.proc: Proc | None = None

    def start(self, cluster: Cluster, bootstrap: str | None) -> None:
        command = ["daemon"] if self.role == "person" else ["vendor", "run"]
        extra = ["--bootstrap", bootstrap] if bootstrap else []
        self.proc = cluster.spawn(self.name, [*CLI, "--home", str(self.home), *command, *extra])


def linked(group: list[Proc], count: int, timeout: float) -> None:
    """Wait until each vendor of a category is connected to `count` of the others."""
    ids = {p.expect("ready")["peer_id"] for p in group}
    deadline = time.monotonic() + timeout
    for proc in group:
        while len(proc.connected_peers() & ids) < count and time.monotonic() < deadline:
            proc.drain(0.2)
        assert len(proc.connected_peers() & ids) >= count, (proc.name, proc.events[-6:])


def heard(proc: Proc) -> set[str]:
    return {e["id"] for e in proc.drain(0.01) if e.get("event") == "intent"}


def test_twenty_agents_each_told_one_random_peer_find_all_they_need(cluster):
    seed = int(time.time())
    rng = random.Random(seed)
    print(f"\nrandom seed {seed}")
    agents = [Agent(cluster, f"{kind}-{n}", kind)
              for kind, count in KINDS.items() for n in range(count)]
    rng.shuffle(agents)
    started = time.monotonic()
    for n, agent in enumerate(agents):
        agent.start(cluster, rng.choice(agents[:n]).addr if n else None)
    for agent in agents:
        assert agent.proc is not None
        agent.proc.expect("ready", timeout=120)
    people = [a for a in agents if a.kind == "person"]
    vendors = [a for a in agents if a.role == "vendor"]
    # Vendors advertise and look each other up: wait until each is linked to others of its
    # category (what a person's intent then needs is one of them).
    for kind in ("outdoor", "kitchen"):
        linked([a.proc for a in vendors if a.kind == kind and a.proc], min(3, KINDS[kind] - 1),
               timeout=180)
    print(f"20 agents up and every vendor linked to its category in "
          f"{time.monotonic() - started:.1f} s")

    clients = [cluster.api(p.home) for p in people]
    posted: dict[str, list[str]] = {"outdoor": [], "kitchen": []}
    for client in clients:
        posted["outdoor"].append(client.call("POST", "/v1/intents", json=TENT)["id"])
        posted["kitchen"].append(client.call("POST", "/v1/intents", json=PAN)["id"])
    for agent in vendors:  # every vendor hears every intent of its category, and no other
        assert agent.proc is not None
        other = "kitchen" if agent.kind == "outdoor" else "outdoor"
        deadline = time.monotonic() + 30
        while not set(posted[agent.kind]) <= heard(agent.proc) and time.monotonic() < deadline:
            agent.proc.drain(0.2)
        missed = set(posted[agent.kind]) - heard(agent.proc)
        assert not missed, (agent.name, missed, [
            e for e in agent.proc.events if e.get("event") != "intent"][-8:])
        assert not heard(agent.proc) & set(posted[other]), agent.name
    for client, tent, pan in zip(clients, posted["outdoor"], posted["kitchen"], strict=True):
        for intent_id, count in ((tent, KINDS["outdoor"]), (pan, KINDS["kitchen"])):
            offers = client.call("GET", f"/v1/intents/{intent_id}/offers",
                                 params={"wait": 30, "count": count})
            assert len(offers) == count, (intent_id, len(offers))
    print(f"all {len(posted['outdoor']) + len(posted['kitchen'])} intents heard by every "
          "vendor of their category and no other; every person got every matching offer")

    # A new vendor, told one random peer, while people keep posting outdoor intents.
    newcomer = Agent(cluster, "outdoor-new", "outdoor")
    joined = time.monotonic()
    newcomer.start(cluster, rng.choice(agents).addr)
    assert newcomer.proc is not None
    ready = newcomer.proc.expect("ready", timeout=60)
    deadline = time.monotonic() + 90
    turn = 0
    while time.monotonic() < deadline and not heard(newcomer.proc):
        clients[turn % len(clients)].call("POST", "/v1/intents", json=TENT)
        turn += 1
        newcomer.proc.drain(1.0)
    first = next((e for e in newcomer.proc.events if e.get("event") == "intent"), None)
    assert first is not None, "the new vendor heard no intent in 90 s"
    at = newcomer.proc.arrival(first)
    print(f"new vendor: first intent heard {at - joined:.2f} s after it started "
          f"({at - newcomer.proc.arrival(ready):.2f} s after ready), {turn} intents posted "
          "meanwhile, one a second")
