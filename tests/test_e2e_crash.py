"""kill -9 around accept: what the API reported as agreed is on both disks, identical.

A person's daemon and a vendor run as real processes; for each round the person
posts an intent, gets the offer and accepts it while the test kills the vendor or
the daemon with SIGKILL at a random moment around the accept (before it is
sent, while it is in flight, after the API answered). The killed process is
restarted on the same home and the same address; the next round goes on. At the
end, once redelivery and the vendor's holds have settled (spec §7.1):
- every agreement the API answered `agreed` is in both stores with identical bytes,
  and acknowledged by the vendor;
- every other agreement is either agreed on both sides or void on the person's and
  absent from the vendor's;
- no stock leaked: what the vendor has left is its start minus its agreements;
- no negotiation is still open on either side.
"""

from __future__ import annotations

import random
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from e2e import CATALOGS, TENT, Cluster, Proc

from intentcast.agents.person.client import ApiError
from intentcast.agents.runtime.home import Config

pytestmark = pytest.mark.e2e

ROUNDS = 30
STOCK = 1000
OPEN_NEGOTIATIONS = ("SELECT ref, state FROM negotiations WHERE state IN ('awaiting_offer', "
                     "'buyer_turn', 'seller_turn', 'accepted', 'seller_signed', 'countersigned')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _catalog(tmp: Path) -> Path:
    text = (CATALOGS / "trailhead.toml").read_text("utf-8")
    text = text.replace("stock = 5", f"stock = {STOCK}").replace(
        "max_rounds = 4", "max_rounds = 4\nhold = 10")
    path = tmp / "crash-catalog.toml"
    path.write_text(text, "utf-8")
    return path


def _rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{home / 'store.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


class Market:
    def __init__(self, cluster: Cluster, tmp: Path) -> None:
        self.cluster = cluster
        self.port = _free_port()
        self.listen = f"/ip4/127.0.0.1/tcp/{self.port}"
        self.vendor_port = _free_port()
        self.vendor_listen = f"/ip4/127.0.0.1/tcp/{self.vendor_port}"
        catalog = _catalog(tmp)
        self.vendor_home = cluster.home("vendor", Config(role="vendor", catalog=str(catalog)))
        self.person: Proc | None = None
        self.vendor: Proc | None = None
        self.person_home = tmp / "person"
        self.vendor_addr = ""
        self.start_vendor(first=True)
        self.start_person()

    def start_person(self) -> None:
        extra = ["--listen", self.listen, "--bootstrap", self.vendor_addr]
        self.person, self.person_home = self.cluster.person("person", *extra)

    def start_vendor(self, *, first: bool = False) -> None:
        args = ["--listen", self.vendor_listen]
        if not first:
            args += ["--bootstrap", f"{self.listen}/p2p/{self.person_peer}"]
        self.vendor = self.cluster.spawn("vendor", [
            *self.cluster.python(), "--home", str(self.vendor_home), "vendor", "run", *args])
        ready = self.vendor.expect("ready")
        self.vendor_addr = next(a for a in ready["addrs"] if str(self.vendor_port) in a)

    @property
    def person_peer(self) -> str:
        assert self.person is not None
        return str(self.person.events[0]["peer_id"])

    def kill(self, which: str) -> None:
        proc = self.vendor if which == "vendor" else self.person
        assert proc is not None
        proc.proc.send_signal(signal.SIGKILL)
        proc.proc.wait()
        self.cluster.forget(proc)

    def restart(self, which: str) -> None:
        if which == "vendor":
            self.start_vendor()
        else:
            self.start_person()


def _offer(client: Any, market: Market) -> str | None:
    """Post an intent and return its first offer's ref, or None if none came."""
    try:
        client.call("GET", "/v1/peers", params={"topic": "/intentcast/1/intents/outdoor",
                                                "count": 1, "wait": 20})
        intent = client.call("POST", "/v1/intents", json=TENT)
        offers = client.call("GET", f"/v1/intents/{intent['id']}/offers",
                             params={"wait": 20, "count": 1})
    except ApiError:
        return None
    return str(offers[0]["ref"]) if offers else None


def test_kill_9_around_accept_loses_no_agreement_and_no_stock(cluster, tmp_path):
    rng = random.Random(20261202)
    market = Market(cluster, tmp_path)
    reported: dict[str, str] = {}  # agreement id -> what the API answered
    tally = {"vendor": 0, "daemon": 0, "agreed": 0, "pending": 0, "failed": 0, "no_offer": 0}
    for round_ in range(ROUNDS):
        client = cluster.api(market.person_home)
        ref = _offer(client, market)
        if ref is None:
            tally["no_offer"] += 1
            continue
        answers: list[Any] = []

        def accept(client: Any = client, ref: str = ref, answers: list[Any] = answers) -> None:
            try:
                answers.append(client.call("POST", f"/v1/offers/{ref}/accept"))
            except ApiError as exc:
                answers.append(exc)

        which = "vendor" if round_ % 2 == 0 else "daemon"
        thread = threading.Thread(target=accept)
        thread.start()
        time.sleep(rng.uniform(0.0, 0.3))  # before, during or after the API answers
        market.kill(which)
        thread.join(timeout=60)
        tally[which] += 1
        if answers and isinstance(answers[0], dict):
            reported[answers[0]["id"]] = answers[0]["state"]
            tally[answers[0]["state"] if answers[0]["state"] in tally else "failed"] += 1
        else:
            tally["failed"] += 1
        market.restart(which)

    # Let redelivery (backoff from 2 s) and the vendor's 10 s holds settle.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pending = _rows(market.person_home, "SELECT COUNT(*) FROM deliveries "
                                            "WHERE state = 'pending'")[0][0]
        held = _rows(market.vendor_home, "SELECT COUNT(*) FROM holds WHERE state = 'held'")[0][0]
        if not pending and not held:
            break
        market.person.drain(0.5)  # type: ignore[union-attr]
    person = {i: (bytes(r), s) for i, r, s in _rows(
        market.person_home, "SELECT id, raw, state FROM agreements")}
    vendor = {i: (bytes(r), s) for i, r, s in _rows(
        market.vendor_home, "SELECT id, raw, state FROM agreements")}
    stock = _rows(market.vendor_home, "SELECT remaining FROM stock WHERE sku = 'TH-TENT-2'")[0][0]
    open_person = _rows(market.person_home, OPEN_NEGOTIATIONS)
    open_vendor = _rows(market.vendor_home, OPEN_NEGOTIATIONS)
    void = sorted(i for i, (_, s) in person.items() if s == "void")
    print(f"\nkill -9 tally: {ROUNDS} rounds, {tally['vendor']} vendor kills, "
          f"{tally['daemon']} daemon kills; the API answered agreed {tally['agreed']}, "
          f"pending {tally['pending']}, no answer or an error {tally['failed']}, "
          f"no offer {tally['no_offer']}; afterwards {len(vendor)} agreements in both stores, "
          f"{len(void)} void, stock {stock} of {STOCK}")
    assert tally["vendor"] + tally["daemon"] >= 30 - tally["no_offer"]
    for agreement_id, state in reported.items():
        if state == "agreed":
            assert agreement_id in vendor, f"{agreement_id} was reported agreed, vendor lost it"
            assert person[agreement_id] == (vendor[agreement_id][0], "agreed")
    for agreement_id, (raw, state) in person.items():
        if state == "agreed":
            assert vendor.get(agreement_id, (None,))[0] == raw
        else:
            assert state == "void", (agreement_id, state)
            assert agreement_id not in vendor
    assert set(vendor) <= set(person)
    assert stock == STOCK - len(vendor), "stock leaked"
    assert open_person == []
    assert open_vendor == []
