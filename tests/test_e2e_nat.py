"""A person behind NAT, answered through a circuit relay: Linux network namespaces the test
makes itself (and removes, whatever happens).

    wan    198.51.100.2   a relay (an agent run with --relay-service), four vendors,
           │              and a second person who is not behind NAT (the baseline)
           │ veth
    router 198.51.100.1 / 10.77.0.1   forwards, masquerades; refuses connections from wan
           │ veth
    lan    10.77.0.2      the person's daemon, told only the relay's address

No address outside these namespaces is used. The printed figures are the time from
posting an intent to a countersigned agreement, through the relay and directly.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from e2e import CATALOGS, ROOT, TENT, Cluster, Proc

from intentcast.agents.runtime.home import Config
from intentcast.protocol import envelope

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "intentcast.agents.cli"]
WAN, ROUTER_WAN, ROUTER_LAN, LAN = "198.51.100.2", "198.51.100.1", "10.77.0.1", "10.77.0.2"
VENDORS = 4


@dataclass
class World:
    cluster: Cluster
    wan: str
    router: str
    lan: str

    def spawn(self, ns: str, name: str, args: list[str], *, stdin: bool = False) -> Proc:
        return self.cluster.spawn(name, ["ip", "netns", "exec", ns, *args], stdin=stdin)


def _ip(*args: str, ns: str | None = None) -> None:
    command = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=20)


@pytest.fixture
def world(cluster: Cluster) -> Iterator[World]:
    """Three namespaces with unique names; removed (processes stopped first) even on failure."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_NET_ADMIN); run the NAT test as root")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            pytest.skip(f"the NAT test needs `{tool}` (apt-get install -y iproute2 nftables)")
    tag = f"ic{os.getpid() % 100_000:05d}{secrets.token_hex(1)}"  # at most 15 with suffixes
    wan, router, lan = f"{tag}w", f"{tag}r", f"{tag}l"
    made: list[str] = []
    try:
        try:
            for ns in (wan, router, lan):
                _ip("netns", "add", ns)
                made.append(ns)
                _ip("link", "set", "lo", "up", ns=ns)
            _ip("link", "add", f"{tag}w0", "netns", wan, "type", "veth", "peer",
                "name", f"{tag}r0", "netns", router)
            _ip("link", "add", f"{tag}r1", "netns", router, "type", "veth", "peer",
                "name", f"{tag}l0", "netns", lan)
            for ns, dev, addr in ((wan, "w0", WAN), (router, "r0", ROUTER_WAN),
                                  (router, "r1", ROUTER_LAN), (lan, "l0", LAN)):
                _ip("addr", "add", f"{addr}/24", "dev", f"{tag}{dev}", ns=ns)
                _ip("link", "set", f"{tag}{dev}", "up", ns=ns)
            _ip("route", "add", "default", "via", ROUTER_LAN, ns=lan)
            subprocess.run(["ip", "netns", "exec", router, "sysctl", "-qw",
                            "net.ipv4.ip_forward=1"], check=True, capture_output=True)
            rules = (f'table ip nat {{\n chain postrouting {{\n  type nat hook postrouting '
                     f'priority 100; policy accept;\n  oifname "{tag}r0" masquerade\n }}\n}}\n'
                     f'table ip filter {{\n chain forward {{\n  type filter hook forward '
                     f'priority 0; policy drop;\n  ct state established,related accept\n'
                     f'  iifname "{tag}r1" oifname "{tag}r0" accept\n }}\n}}\n')
            subprocess.run(["ip", "netns", "exec", router, "nft", "-f", "-"], input=rules.encode(),
                           check=True, capture_output=True, timeout=20)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"this machine refused the test's network namespaces: "
                        f"{' '.join(exc.cmd)}: {exc.stderr.decode().strip()}")
        yield World(cluster, wan, router, lan)
    finally:
        cluster.close()  # the agents first: nothing may outlive its namespace
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def _agent(world: World, ns: str, name: str, config: Config, *extra: str) -> Proc:
    home = world.cluster.home(name, config)
    command = ["daemon"] if config.role == "person" else ["vendor", "run"]
    proc = world.spawn(ns, name, [*CLI, "--home", str(home), *command, *extra])
    proc.expect("ready", timeout=60)
    return proc


def _linked(procs: list[Proc], count: int, timeout: float = 60) -> None:
    """Wait until each agent is connected to `count` of the others."""
    ids = {p.expect("ready")["peer_id"] for p in procs}
    deadline = time.monotonic() + timeout
    for proc in procs:
        while len(proc.connected_peers() & ids) < count and time.monotonic() < deadline:
            proc.drain(0.2)
        assert len(proc.connected_peers() & ids) >= count, (proc.name, proc.events[-6:])


def _logged(proc: Proc, event: str, timeout: float = 30, **match: object) -> dict:
    """The first network event `event` the agent logged (matching `match`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for seen in proc.net_events():
            if seen.get("event") == event and all(seen.get(k) == v for k, v in match.items()):
                return seen
        proc.drain(0.1)
    raise AssertionError(f"{proc.name} logged no {event} {match}: {proc.tail()}")


def _buyer(world: World, ns: str, name: str) -> Proc:
    home = world.cluster.root / name
    proc = world.spawn(ns, f"{name}-keyboard", [sys.executable, str(ROOT / "tests" / "peers" /
                                                                  "buyer.py"), "--home",
                                                str(home)], stdin=True)
    proc.expect("ready")
    return proc


def _ask(proc: Proc, command: dict, event: str, timeout: float = 60) -> dict:
    proc.events.clear()
    proc.send(command)
    return proc.expect(event, timeout=timeout)


def _deal(buyer: Proc, vendor_did: str, count: int) -> tuple[float, dict]:
    """Post a tent, wait for `count` offers and take the one of `vendor_did`: (seconds from
    the post to the countersigned agreement, the agreement)."""
    posted = _ask(buyer, {"cmd": "post", "intent": TENT}, "posted")
    offers = _ask(buyer, {"cmd": "offers", "id": posted["id"], "count": count}, "offers")
    mine = next(o for o in offers["offers"] if o["vendor"] == vendor_did)
    agreed = _ask(buyer, {"cmd": "accept", "ref": mine["ref"]}, "agreed")
    raw = bytes.fromhex(agreed["agreement"]["envelope_hex"])
    assert len(envelope.open(raw, now=int(time.time())).signers) == 2
    assert agreed["agreement"]["state"] == "agreed"
    return agreed["t"] - posted["t"], agreed["agreement"]


def test_a_person_behind_nat_posts_and_a_vendor_answers_through_the_relay(world):
    relay = _agent(world, world.wan, "relay", Config(
        role="person", listen="/ip4/0.0.0.0/tcp/4710", relay_service=True))
    relay_addr = f"/ip4/{WAN}/tcp/4710/p2p/{relay.events[0]['peer_id']}"
    vendors = [_agent(world, world.wan, f"vendor-{n}", Config(
        role="vendor", listen=f"/ip4/0.0.0.0/tcp/{4711 + n}",
        catalog=str(CATALOGS / "trailhead.toml")), "--bootstrap", relay_addr)
        for n in range(VENDORS)]
    _linked(vendors, 2)  # found in the DHT: the vendors of a category are one gossip mesh

    person = _agent(world, world.lan, "person", Config(
        role="person", listen="/ip4/0.0.0.0/tcp/4710"), "--bootstrap", relay_addr)
    person_id = person.events[0]["peer_id"]
    _logged(person, "behind_nat", seen=ROUTER_WAN)
    reachable = _logged(person, "reachable")
    assert reachable["addrs"][0] == f"{relay_addr}/p2p-circuit/p2p/{person_id}"
    assert any(LAN in a for a in reachable["addrs"][1:])

    buyer = _buyer(world, world.lan, "person")
    posted = _ask(buyer, {"cmd": "post", "intent": TENT}, "posted")
    offers = _ask(buyer, {"cmd": "offers", "id": posted["id"], "count": VENDORS}, "offers")
    assert len(offers["offers"]) == VENDORS
    # Posting, the daemon dialled out to the vendors it found (through the NAT: outbound
    # works). A vendor that comes later is one it never dialled: it hears the next intent
    # through its category's mesh and can answer only through the relay.
    late = _agent(world, world.wan, "vendor-late", Config(
        role="vendor", listen="/ip4/0.0.0.0/tcp/4719", catalog=str(CATALOGS / "trailhead.toml")),
        "--bootstrap", relay_addr)
    _linked([*vendors, late], 2)
    took, agreement = _deal(buyer, late.events[0]["did"], VENDORS + 1)
    assert agreement["vendor"] == late.events[0]["did"]
    assert any(e.get("event") == "peer_connected" and e["peer_id"] == person_id
               and e["relayed"] for e in late.net_events()), "the late vendor did not use the relay"
    vendor = late
    # DCUtR: over the relayed connection py-libp2p tries a direct one; from behind NAT the
    # person can dial out, so the pair may move to a direct connection.
    deadline = time.monotonic() + 15
    direct = False
    while time.monotonic() < deadline and not direct:
        vendor.drain(0.2)
        direct = any(e.get("event") == "peer_connected" and e["peer_id"] == person_id
                     and not e["relayed"] and e["direction"] == "inbound"
                     for e in vendor.net_events())

    _agent(world, world.wan, "public", Config(
        role="person", listen="/ip4/0.0.0.0/tcp/4720"), "--bootstrap", relay_addr)
    direct_took, _ = _deal(_buyer(world, world.wan, "public"), vendor.events[0]["did"],
                           VENDORS + 1)
    print(f"\nbehind NAT: post to countersigned agreement {took:.2f} s through the relay, "
          f"{direct_took:.2f} s for a person not behind NAT; hole punching (DCUtR): "
          + ("the person dialled out and the pair moved to a direct connection" if direct
             else "no direct connection within 15 s; the relay carried it all"))
