"""`intentcast watch` and `offers --wait` against a real daemon and vendor: both follow the
event stream, and both end cleanly when the daemon stops."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from e2e import TENT, Cluster

pytestmark = pytest.mark.e2e

OUTDOOR = "/intentcast/1/intents/outdoor"


def cli(cluster: Cluster, home: Path, *args: str, timeout: float = 60
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cluster.python(), "--home", str(home), *args], capture_output=True,
                          text=True, env=cluster.env(), timeout=timeout, check=False)


def line_of(proc: subprocess.Popen[str], pipe: Any, needle: str, timeout: float = 20) -> str:
    """The first line of `pipe` containing `needle`, waiting for it (never past `timeout`)."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(pipe, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(deadline - time.monotonic()):
                line = pipe.readline()
                if needle in line:
                    return line
                if not line:
                    break
    raise AssertionError(f"no line with {needle!r} (exit {proc.poll()})")


def test_watch_follows_the_stream_and_ends_when_the_daemon_stops(cluster):
    person, home = cluster.person()
    cluster.vendor("trailhead", "trailhead.toml", person.events[0]["addrs"][0])
    client = cluster.api(home)
    client.call("GET", "/v1/peers", params={"topic": OUTDOOR, "count": 1, "wait": 15})
    watch = subprocess.Popen([*cluster.python(), "--home", str(home), "watch", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=cluster.env())
    try:
        hello = json.loads(line_of(watch, watch.stdout, '"hello"'))  # the stream is open
        assert hello["missed"] is False
        intent = client.call("POST", "/v1/intents", json=TENT)
        posted = json.loads(line_of(watch, watch.stdout, '"intent_posted"'))
        offer = json.loads(line_of(watch, watch.stdout, '"offer_received"'))
        assert posted["intent_id"] == offer["intent_id"] == intent["id"]
        assert offer["price"] == {"amount": 20_000, "currency": "EUR"}
        assert offer["conflicts"] == []
        assert int(offer["id"].rpartition("-")[2]) > int(posted["id"].rpartition("-")[2])
        person.stop(signal.SIGTERM)
        closing = json.loads(line_of(watch, watch.stdout, '"closing"'))
        assert closing["why"] == "the daemon is stopping"
        assert watch.wait(timeout=10) == 0
        assert watch.stderr is not None
        assert watch.stderr.read() == ""
    finally:
        if watch.poll() is None:
            watch.kill()
        watch.communicate()


def test_offers_wait_shows_it_waits_and_wakes_on_the_stream(cluster):
    person, home = cluster.person()
    vendor, _ = cluster.vendor("trailhead", "trailhead.toml", person.events[0]["addrs"][0])
    client = cluster.api(home)
    client.call("GET", "/v1/peers", params={"topic": OUTDOOR, "count": 1, "wait": 15})
    os.kill(vendor.proc.pid, signal.SIGSTOP)  # it hears the intent only once it continues
    try:
        intent = client.call("POST", "/v1/intents", json=TENT)
        started = time.monotonic()
        waiting = subprocess.Popen(
            [*cluster.python(), "--home", str(home), "offers", intent["id"], "--wait", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cluster.env())
        said = line_of(waiting, waiting.stderr, "waiting up to")
        assert said.startswith(f"waiting up to 60 s for 1 offer on {intent['id']} (0 so far)")
    finally:
        os.kill(vendor.proc.pid, signal.SIGCONT)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert time.monotonic() - started < 60  # woken by the offer's event, not by the clock
    assert "Ridgeline 2P tent, 1.9 kg" in out
    assert "200.00 EUR" in out
    assert "offer_received" not in err  # told in words
    assert "Ridgeline" in err  # the arrival, as it came

    gave_up = cli(cluster, home, "offers", intent["id"], "--wait", "1", "--count", "2")
    assert gave_up.returncode == 0
    assert "waiting up to 1 s for 2 offers" in gave_up.stderr
    assert "gave up after 1 s with 1 offer" in gave_up.stderr
    assert "Ridgeline" in gave_up.stdout

    bad = cli(cluster, home, "offers", intent["id"], "--wait", "-3")
    assert bad.returncode == 2
    assert "a number of seconds, more than 0" in bad.stderr.splitlines()[-1]


def test_watch_and_open_without_a_daemon_say_so_in_one_line(cluster):
    person, home = cluster.person()
    person.stop(signal.SIGTERM)
    for args in (("watch",), ("open", "--no-browser")):
        done = cli(cluster, home, *args)
        assert done.returncode == 1
        (line,) = done.stderr.strip().splitlines()[-1:]
        assert line.startswith("intentcast: ")
        assert "Traceback" not in done.stderr
