"""`make bench` (network part): latency and memory of real agents on libp2p, and gossip.

One person's daemon and 1, 3 or 10 vendor processes on 127.0.0.1, as in the
demo. Every figure is measured from the outside, as a person's client sees it:
the clock starts before `POST /v1/intents` and stops when the daemon's API
answers, so each latency includes two local HTTP round trips.

Gossip intake: a publisher process (tests/peers/rogue.py) sends pre-signed intents to
a subscriber process (tests/peers/listener.py: the real node and gossip, no store),
directly or through a relaying one; the ceiling is PyNaCl's raw Ed25519 verify rate,
measured in the same run. Prints figures and writes them to bench.json; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pstats
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nacl.signing

from intentcast.agents.demo.harness import Agent, Demo, init_home
from intentcast.agents.person.client import Client
from intentcast.agents.runtime.home import Config
from intentcast.protocol import envelope
from intentcast.protocol.identity import KeyPair
from intentcast.protocol.messages import Intent, ReplyTo, new_id
from intentcast.protocol.terms import CustomerTerms

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "tests" / "peers"

TOPIC = "/intentcast/1/intents/outdoor"
# Every vendor sells the same tent with plenty of stock, so every vendor answers
# every intent and no agreement ever runs a vendor dry.
CATALOG = """\
[vendor]
name = "Bench Outfitters"
currency = "EUR"
policy = "intentcast.agents.vendor.policy:Concede"
concession_percent = 50
max_rounds = 4

[[items]]
sku = "BENCH-TENT"
title = "Benchmark tent"
category = "outdoor.camping.tents"
keywords = ["tent"]
list_price = "150.00"
floor_price = "120.00"
stock = 1000000
data = [{ field = "email", purpose = "receipt", retention_days = 30, why = "receipt" }]
"""
INTENT = {"category": "outdoor.camping.tents", "description": "a two-person tent",
          "max_price": "200.00", "currency": "EUR", "expires_in": 600}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def start(demo: Demo, vendors: int) -> tuple[Agent, list[Agent]]:
    catalog = demo.root / "bench.toml"
    catalog.write_text(CATALOG)
    person_home = demo.root / "person"
    init_home(person_home, Config(role="person"))
    person = demo.wait_ready(demo.spawn("person", person_home, ["daemon"]))
    started = []
    for n in range(1, vendors + 1):
        home = demo.root / f"vendor-{n}"
        init_home(home, Config(role="vendor", catalog=str(catalog)))
        started.append(demo.spawn(f"vendor-{n}", home,
                                  ["vendor", "run", "--bootstrap", person.ready["addrs"][0]]))
    for agent in started:
        demo.wait_ready(agent)
    return person, started


def first_offers(api: Client, vendors: int, rounds: int) -> list[float]:
    """Intent posted → first offer listed, in ms; then every offer in, then withdraw,
    so one intent's stragglers never queue behind the next one's clock."""
    latencies = []
    for _ in range(rounds):
        began = time.perf_counter()
        intent = api.call("POST", "/v1/intents", json=INTENT)
        api.call("GET", f"/v1/intents/{intent['id']}/offers", params={"wait": 10, "count": 1})
        latencies.append((time.perf_counter() - began) * 1000)
        offers = api.call("GET", f"/v1/intents/{intent['id']}/offers",
                          params={"wait": 10, "count": vendors})
        if len(offers) != vendors:
            raise RuntimeError(f"{len(offers)} of {vendors} vendors answered")
        api.call("POST", f"/v1/intents/{intent['id']}/withdraw")
    return latencies


def full_deals(api: Client, rounds: int) -> list[float]:
    """Intent posted → first offer accepted → countersigned agreement stored, in ms."""
    latencies = []
    for _ in range(rounds):
        began = time.perf_counter()
        intent = api.call("POST", "/v1/intents", json=INTENT)
        offer = api.call("GET", f"/v1/intents/{intent['id']}/offers",
                         params={"wait": 10, "count": 1})[0]
        api.call("POST", f"/v1/offers/{offer['ref']}/accept")
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies


def run(vendors: int, rounds: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="intentcast-bench-"))
    demo = Demo(root, lambda *_: None)
    try:
        person, started = start(demo, vendors)
        api = Client(person.home)
        try:
            api.call("GET", "/v1/peers", params={"topic": TOPIC, "count": vendors, "wait": 20})
            idle = {"daemon": rss_kib(person.proc.pid), "vendor": rss_kib(started[0].proc.pid)}
            api.call("POST", "/v1/intents", json=INTENT)  # warm-up, not timed
            firsts = first_offers(api, vendors, rounds)
            deals = full_deals(api, max(5, rounds // 2))
        finally:
            api.close()
    finally:
        demo.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "first_median": statistics.median(firsts), "first_p95": percentile(firsts, 0.95),
        "deal_median": statistics.median(deals), "deal_p95": percentile(deals, 0.95),
        "rss_daemon": idle["daemon"] / 1024, "rss_vendor": idle["vendor"] / 1024,
    }


class Peer:
    """A peer process that speaks JSON lines (tests/peers/*.py)."""

    def __init__(self, script: str, *args: str, log: Path) -> None:
        with log.open("ab") as err:
            self.proc = subprocess.Popen([sys.executable, str(PEERS / script), *args],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, cwd=ROOT)
        self.buffer = b""
        self.ready = self.wait("ready", 90)

    def wait(self, event: str, timeout: float = 600) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                found = json.loads(line)
                if found.get("event") == event:
                    return dict(found)
            with selectors.DefaultSelector() as sel:
                sel.register(self.proc.stdout, selectors.EVENT_READ)
                if not sel.select(max(0.0, deadline - time.monotonic())):
                    raise RuntimeError(f"no {event} from {self.proc.args[1]}")
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
            if not chunk:
                raise RuntimeError(f"{self.proc.args[1]} exited")
            self.buffer += chunk

    def ask(self, command: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        self.proc.stdin.flush()
        return self.wait("done", timeout)

    def addr(self) -> str:
        return str(self.ready["addrs"][0])

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError):
                self.ask({"cmd": "quit"}, timeout=0.1)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def signed_intents(count: int, peer_id: str, tag: str = "") -> list[bytes]:
    key, now = KeyPair(os.urandom(32)), int(time.time())
    return [envelope.seal(Intent(
        id=new_id(), issued_at=now, expires_at=now + 3600, category="outdoor.fishing",
        description=f"{tag}fishing rod number {n}",
        terms=CustomerTerms(purposes=["delivery"], retention_days=30),
        reply_to=ReplyTo(peer_id=peer_id)), key) for n in range(count)]


def raw_verify_rate(seconds: float = 1.0) -> float:
    """PyNaCl Ed25519 verifications per second on this machine, now."""
    key = nacl.signing.SigningKey(os.urandom(32))
    signed, verify = key.sign(os.urandom(300)), key.verify_key.verify
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        for _ in range(500):
            verify(signed)
        count += 500
    return count / (time.perf_counter() - began)


def _chain(root: Path, hops: int, profile: Path | None = None
           ) -> tuple[Peer, list[Peer], Peer]:
    """Publisher -> (relay ->)* subscriber; returns (publisher, relays, subscriber)."""
    listen = ("--category", "outdoor", "--quiet")
    end_args = (*listen, "--profile", str(profile)) if profile else listen
    end = Peer("listener.py", *end_args, log=root / "end.log")
    relays: list[Peer] = []
    upstream = end
    for n in range(hops):
        relay = Peer("listener.py", *listen, "--connect", upstream.addr(),
                     log=root / f"relay-{n}.log")
        relays.append(relay)
        upstream = relay
    publisher = Peer("rogue.py", "--connect", upstream.addr(), log=root / "publisher.log")
    publisher.ask({"cmd": "wait_topic", "topic": FISHING, "count": 1})
    for peer in relays:  # meshed with the next hop before the clock starts
        deadline = time.monotonic() + 20
        while not peer.ask({"cmd": "peers"})["mesh"].get(FISHING) and time.monotonic() < deadline:
            time.sleep(0.1)
    return publisher, relays, end


FISHING = "/intentcast/1/intents/outdoor"


def _run_intake(count: int, hops: int, profile: Path | None = None) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="intentcast-gossip-"))
    peers: list[Peer] = []
    try:
        publisher, relays, end = _chain(root, hops, profile)
        peers = [publisher, *relays, end]
        burst = [raw.hex() for raw in signed_intents(count, publisher.ready["peer_id"])]
        ceiling = raw_verify_rate()
        sent = time.time()
        publisher.ask({"cmd": "publish_many", "topic": FISHING, "hexes": burst})
        deadline = time.monotonic() + 120
        report = end.ask({"cmd": "report"})
        while report["heard"] < count and time.monotonic() < deadline:
            time.sleep(0.2)
            report = end.ask({"cmd": "report"})
        relayed = [r.ask({"cmd": "report"}) for r in relays]
        elapsed = report["last"] - sent
        steady = (report["heard"] - 1) / max(report["last"] - report["first"], 1e-9)
        return {"intents": count, "hops": hops, "heard": report["heard"],
                "lost": count - report["heard"], "seconds": elapsed,
                "per_second": report["heard"] / elapsed, "steady_per_second": steady,
                "raw_verify_per_second": ceiling, "ratio": steady / ceiling,
                "drops": report["drops"],
                "relay_drops": [r["drops"] for r in relayed]}
    finally:
        for peer in peers:
            peer.stop()
        shutil.rmtree(root, ignore_errors=True)


def gossip_intake(count: int = 5000, profile: Path | None = None) -> dict[str, Any]:
    """One publisher process, one subscriber process, `count` pre-signed intents."""
    return _run_intake(count, 0, profile)


def gossip_relayed(count: int = 5000) -> dict[str, Any]:
    """The same through one relaying process (it verifies, delivers and forwards)."""
    return _run_intake(count, 1)


def gossip_burst(count: int = 10_000) -> dict[str, Any]:
    """A burst relayed through one hop, and one honest intent posted by another peer
    during it: delivered, dropped by reason, and how long the honest one took."""
    root = Path(tempfile.mkdtemp(prefix="intentcast-burst-"))
    peers: list[Peer] = []
    try:
        publisher, relays, end = _chain(root, 1)
        honest = Peer("rogue.py", "--connect", relays[0].addr(), log=root / "honest.log")
        peers = [publisher, honest, *relays, end]
        honest.ask({"cmd": "wait_topic", "topic": FISHING, "count": 1})
        burst = [raw.hex() for raw in signed_intents(count, publisher.ready["peer_id"])]
        (good,) = signed_intents(1, honest.ready["peer_id"], "honest ")
        good_id = envelope.open(good, now=int(time.time())).message.id
        assert publisher.proc.stdin is not None  # fire the burst, do not wait for it
        publisher.proc.stdin.write(json.dumps({"cmd": "publish_many", "topic": FISHING,
                                               "hexes": burst}).encode() + b"\n")
        publisher.proc.stdin.flush()
        sent = time.time()
        time.sleep(0.5)  # the burst is under way
        honest_sent = time.time()
        honest.ask({"cmd": "publish_raw", "topic": FISHING, "hex": good.hex()})
        deadline = time.monotonic() + 180
        report = end.ask({"cmd": "report"})
        while report["heard"] < count + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
            report = end.ask({"cmd": "report"})
        honest_at = end.ask({"cmd": "when", "id": good_id})["at"]
        relay = relays[0].ask({"cmd": "report"})
        return {"intents": count, "heard": report["heard"] - (honest_at is not None),
                "lost": count + 1 - report["heard"], "seconds": report["last"] - sent,
                "honest_latency_ms": None if honest_at is None
                else (honest_at - honest_sent) * 1000,
                "drops": report["drops"], "relay_drops": relay["drops"]}
    finally:
        for peer in peers:
            peer.stop()
        shutil.rmtree(root, ignore_errors=True)


def profile_summary(path: Path, top: int = 12) -> list[tuple[str, float, float]]:
    """(function, own seconds, cumulative seconds) of the subscriber's busiest functions."""
    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, name), (_, _, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(file).name}:{line}({name})" if line else name
        rows.append((where, own, cumulative))
    return sorted(rows, key=lambda r: -r[1])[:top]


def gossip(count: int = 5000, burst: int = 10_000) -> dict[str, Any]:
    print(f"\ngossip intake over libp2p ({os.cpu_count()} cores, separate processes, "
          "pre-signed intents)")
    direct = gossip_intake(count)
    relayed = gossip_relayed(count)
    root = Path(tempfile.mkdtemp(prefix="intentcast-profile-"))
    try:
        profile = root / "subscriber.prof"
        profiled = gossip_intake(count, profile)
        hotspots = profile_summary(profile)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    bursted = gossip_burst(burst)
    print(f"  {'path':<22} {'intents':>8} {'lost':>5} {'intents/s':>10} {'steady/s':>9} "
          f"{'raw verify/s':>12} {'ratio':>6}")
    for name, got in (("direct", direct), ("through one relay", relayed),
                      ("direct, profiled", profiled)):
        print(f"  {name:<22} {got['intents']:>8} {got['lost']:>5} {got['per_second']:>10.0f} "
              f"{got['steady_per_second']:>9.0f} {got['raw_verify_per_second']:>12.0f} "
              f"{got['ratio']:>6.1%}")
    honest = bursted["honest_latency_ms"]
    print(f"  burst of {bursted['intents']} through one relay: {bursted['heard']} heard, "
          f"{bursted['lost']} lost in {bursted['seconds']:.1f} s; drops at the end "
          f"{bursted['drops'] or 'none'}, at the relay {bursted['relay_drops'] or 'none'}; "
          f"an honest intent sent during it arrived in "
          f"{'never' if honest is None else f'{honest:.0f} ms'}")
    print("  where the subscriber's time goes (cProfile of the profiled run, own time):")
    for where, own, cumulative in hotspots:
        print(f"    {own:7.2f} s own {cumulative:7.2f} s cum  {where}")
    return {"direct": direct, "relayed": relayed, "burst": bursted, "profiled": profiled,
            "profile": [{"function": w, "own_s": o, "cumulative_s": c}
                        for w, o, c in hotspots]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="intents per vendor count")
    parser.add_argument("--vendors", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--gossip", type=int, default=5000, help="intents for gossip intake")
    parser.add_argument("--burst", type=int, default=10_000, help="intents in the relayed burst")
    parser.add_argument("--only", choices=["agents", "gossip"])
    parser.add_argument("--json", default="bench.json", help="where to write the figures")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {}
    if args.only != "gossip":
        figures["agents"] = agents(args.vendors, args.rounds)
    if args.only != "agents":
        figures["gossip"] = gossip(args.gossip, args.burst)
    Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


def agents(vendor_counts: list[int], rounds: int) -> dict[str, Any]:
    print(f"intentcast network benchmark ({os.cpu_count()} cores, one daemon, N vendor "
          f"processes, {rounds} intents each; ms include two local HTTP calls)")
    print(f"  {'vendors':>7}  {'first offer median':>18}  {'p95':>7}  "
          f"{'full deal median':>16}  {'p95':>7}")
    idle: dict[str, float] = {}
    figures: dict[str, Any] = {}
    for vendors in vendor_counts:
        got = run(vendors, rounds)
        figures[str(vendors)] = got
        print(f"  {vendors:>7}  {got['first_median']:>15.1f} ms  {got['first_p95']:>4.1f} ms"
              f"  {got['deal_median']:>13.1f} ms  {got['deal_p95']:>4.1f} ms", flush=True)
        idle = {"daemon": got["rss_daemon"], "vendor": got["rss_vendor"]}
    print(f"  idle resident memory: daemon {idle['daemon']:.1f} MiB, "
          f"vendor {idle['vendor']:.1f} MiB")
    return figures


if __name__ == "__main__":
    sys.exit(main())
