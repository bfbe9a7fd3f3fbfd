"""`make bench` (network part): latency and memory of real agents on libp2p.

One person's daemon and 1, 3 or 10 vendor processes on 127.0.0.1, as in the
demo. Every figure is measured from the outside, as a person's client sees it:
the clock starts before `POST /v1/intents` and stops when the daemon's API
answers, so each latency includes two local HTTP round trips. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from intentcast.agents.demo.harness import Agent, Demo, init_home
from intentcast.agents.person.client import Client
from intentcast.agents.runtime.home import Config

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="intents per vendor count")
    parser.add_argument("--vendors", type=int, nargs="+", default=[1, 3, 10])
    args = parser.parse_args(argv)
    print(f"intentcast network benchmark ({os.cpu_count()} cores, one daemon, N vendor "
          f"processes, {args.rounds} intents each; ms include two local HTTP calls)")
    print(f"  {'vendors':>7}  {'first offer median':>18}  {'p95':>7}  "
          f"{'full deal median':>16}  {'p95':>7}")
    idle: dict[str, float] = {}
    for vendors in args.vendors:
        got = run(vendors, args.rounds)
        print(f"  {vendors:>7}  {got['first_median']:>15.1f} ms  {got['first_p95']:>4.1f} ms"
              f"  {got['deal_median']:>13.1f} ms  {got['deal_p95']:>4.1f} ms", flush=True)
        idle = {"daemon": got["rss_daemon"], "vendor": got["rss_vendor"]}
    print(f"  idle resident memory: daemon {idle['daemon']:.1f} MiB, "
          f"vendor {idle['vendor']:.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
