"""Agents whose output nobody reads keep working: a full stdout or stderr pipe costs lines,
counted and told, never the event loop."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time

import pytest
from e2e import ROOT, TENT, Cluster, Proc

from intentcast.agents.person.client import Client
from intentcast.agents.runtime.home import Config
from intentcast.agents.runtime.process import QUEUE_DEPTH

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "intentcast.agents.cli"]
OUTDOOR = "/intentcast/1/intents/outdoor"
GARBAGE = QUEUE_DEPTH + 100
"""Malformed gossip the vendor drops, one JSON line each: more than its queue holds."""


class FullPipe:
    """A pipe whose buffer is full before the agent writes a byte, read by nobody until the
    test says so; then a thread of the test's reads it to the end."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.w, False)
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(self.w, b"x" * size)
            except BlockingIOError:
                pass
        os.set_blocking(self.w, True)  # the agent gets a blocking pipe, as a shell gives it
        self.data = b""
        self._reader: threading.Thread | None = None

    def spawned(self) -> None:
        """The agent has its copy of the write end; ours would keep EOF from ever coming."""
        os.close(self.w)

    def start_reading(self) -> None:
        def read() -> None:
            while chunk := os.read(self.r, 1 << 16):
                self.data += chunk

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def lines(self) -> list[dict]:
        """The JSON lines read so far (the filler stripped, a partial last line left out)."""
        complete = self.data.lstrip(b"x").rpartition(b"\n")[0]
        return [json.loads(line) for line in complete.decode().splitlines() if line]

    def until(self, predicate, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while not predicate(found := self.lines()):
            assert time.monotonic() < deadline, f"not in {timeout} s: {found[-3:]}"
            select.select([], [], [], 0.02)  # the reading thread fills self.data meanwhile
        return found

    def close(self, timeout: float = 10.0) -> None:
        if self._reader is not None:
            self._reader.join(timeout)
        os.close(self.r)


def _spawn(cluster: Cluster, name: str, args: list[str]) -> tuple[Proc, FullPipe, FullPipe]:
    out, err = FullPipe(), FullPipe()
    popen = subprocess.Popen([*CLI, *args], stdout=out.w, stderr=err.w,
                             stdin=subprocess.DEVNULL, env=cluster.env(), cwd=ROOT)
    out.spawned()
    err.spawned()
    proc = Proc(name, popen, cluster.root / f"{name}.log")
    cluster.procs.append(proc)
    return proc, out, err


def _api(home, proc: Proc, timeout: float = 30.0) -> Client:
    """The daemon's API once it answers (its ready line is stuck in the pipe: ask it)."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.proc.poll() is None, "the daemon exited"
        if (home / "api.json").exists():
            client = Client(home)
            try:
                client.call("GET", "/v1/status")
                return client
            except Exception:
                client.close()
                if time.monotonic() > deadline:
                    raise
        assert time.monotonic() < deadline, "the daemon's API never answered"
        select.select([], [], [], 0.05)


def test_agents_with_full_pipes_keep_answering_and_count_what_they_drop(cluster):
    # The vendor hears the network through a rogue peer alone, whose gossip it takes in
    # order: a flood of malformed messages (one "dropped" line each, more than the vendor's
    # queue holds), then the person's intent. An offer for that intent means the vendor had
    # announced every drop before it.
    rogue = cluster.rogue()
    rogue_addr = rogue.events[0]["addrs"][0]
    person_home = cluster.home("person", Config(role="person"))
    person, person_out, person_err = _spawn(cluster, "person",
                                            ["--home", str(person_home), "daemon"])
    client = _api(person_home, person)
    cluster.clients.append(client)
    vendor_home = cluster.home("vendor", Config(role="vendor", catalog=str(
        ROOT / "examples" / "catalogs" / "trailhead.toml")))
    vendor, vendor_out, vendor_err = _spawn(cluster, "vendor", [
        "--home", str(vendor_home), "vendor", "run", "--bootstrap", rogue_addr])
    rogue.send({"cmd": "wait_topic", "topic": OUTDOOR, "count": 1})
    rogue.expect("done", cmd="wait_topic", timeout=30)

    def answered(intent: dict) -> None:
        offers = client.call("GET", f"/v1/intents/{intent['id']}/offers",
                             params={"wait": 60, "count": 1})
        assert [o["state"] for o in offers] == ["buyer_turn"]  # the vendor answered

    first = client.call("POST", "/v1/intents", json=TENT)  # heard by nobody yet
    raw = client.call("GET", f"/v1/intents/{first['id']}")["envelope_hex"]
    rogue.send({"cmd": "publish_many", "topic": OUTDOOR,
                "hexes": [os.urandom(48).hex() for _ in range(GARBAGE)] + [raw]})
    rogue.expect("done", cmd="publish_many", published=GARBAGE + 1, timeout=120)
    answered(first)

    # The reader comes back; the next line that gets through says how many were dropped.
    vendor_out.start_reading()
    vendor_out.until(lambda lines: len(lines) >= 1)
    second = client.call("POST", "/v1/intents", json=TENT)  # the vendor dialled us: direct
    answered(second)
    heard = vendor_out.until(lambda lines: any(e.get("id") == second["id"] for e in lines))
    assert "lines_dropped" in next(e for e in heard if e.get("id") == second["id"])
    assert vendor.stop() == 0
    vendor_out.close()
    lines = vendor_out.lines()
    events = [e for e in lines if e["event"] != "lines_dropped"]  # a closing note aside
    counted = sum(e.get("lines_dropped", 0) for e in lines)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "ready"
    assert set(kinds) == {"ready", "dropped", "intent"}, set(kinds)
    assert counted >= GARBAGE - QUEUE_DEPTH
    # Every line written, or counted: ready, the garbage, two intents; and perhaps one more:
    # the daemon's gossip may offer the vendor the first intent again once they are
    # connected (its message cache outlives the dial), which the vendor drops as a replay.
    assert len(events) + counted - (1 + GARBAGE + 2) in (0, 1)

    person_out.start_reading()
    (ready,) = person_out.until(lambda lines: len(lines) == 1)
    assert ready["event"] == "ready"
    assert person.stop() == 0
    for pipe in (person_out, person_err, vendor_err):
        pipe.close()
