"""SIGTERM and SIGINT stop every agent quickly and cleanly: exit 0, the API address gone, the
home's lock free, and everything acknowledged still in the store.

The stop times are printed (pytest -s shows them), not asserted tightly: the bound here is a
generous 3 s so that a loaded machine does not fail the suite; the aim is under a second.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import threading
import time

import pytest
from e2e import ROOT, TENT, Cluster, Proc

from intentcast.agents.person.client import ApiError, Client

pytestmark = pytest.mark.e2e

BOUND = 3.0
OUTDOOR = "/intentcast/1/intents/outdoor"
BEST_PRICE = str(ROOT / "examples" / "assistants" / "best_price.py") + ":BestPrice"
GRANT = {"categories": ["outdoor"], "max_price": "200.00", "currency": "EUR",
         "may_counter": True, "may_accept": True, "expires_in": 3600}


def _stop(proc: Proc, sig: signal.Signals, what: str) -> float:
    started = time.monotonic()
    code = proc.stop(sig)
    took = time.monotonic() - started
    print(f"\n{what}: stopped by {sig.name} in {took:.3f} s")
    assert code == 0, proc.tail()
    assert took < BOUND, f"{what} took {took:.2f} s to stop"
    return took


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_an_idle_daemon_stops_at_once(cluster, sig):
    person, home = cluster.person()
    _stop(person, sig, "idle daemon")
    assert not (home / "api.json").exists()
    again, _ = cluster.person()  # the lock is free
    _stop(again, sig, "idle daemon, restarted")


def test_a_busy_daemon_and_vendor_stop_quickly_and_keep_what_they_acknowledged(cluster):
    person, home = cluster.person()
    vendor, _ = cluster.vendor("trailhead", "trailhead.toml", person.events[0]["addrs"][0])
    client = cluster.api(home)
    client.call("GET", "/v1/peers", params={"topic": OUTDOOR, "count": 1, "wait": 15})
    intent = client.call("POST", "/v1/intents", json=TENT)
    (offer,) = client.call("GET", f"/v1/intents/{intent['id']}/offers",
                           params={"wait": 15, "count": 1})
    assert offer["state"] == "buyer_turn"  # a negotiation open on both sides
    # A request in flight: a long poll for a second offer that will never come.
    waiting: dict[str, object] = {}

    def long_poll() -> None:
        poller = Client(home)
        try:
            waiting["answer"] = poller.call("GET", f"/v1/intents/{intent['id']}/offers",
                                            params={"wait": 60, "count": 2})
        except ApiError as exc:
            waiting["error"] = str(exc)
        finally:
            poller.close()

    poll = threading.Thread(target=long_poll, daemon=True)
    poll.start()
    client.call("GET", "/v1/status")  # the poll's request is in by now (one connection each)
    _stop(person, signal.SIGTERM, "daemon with a vendor, a negotiation and a long poll")
    poll.join(10)
    assert waiting, "the long poll never ended"
    _stop(vendor, signal.SIGTERM, "vendor in a negotiation")
    again, _ = cluster.person()
    client = cluster.api(home)
    assert [i["id"] for i in client.call("GET", "/v1/intents")] == [intent["id"]]
    _stop(again, signal.SIGINT, "daemon, restarted")
    verify = subprocess.run([sys.executable, "-m", "intentcast.agents.cli", "--home", str(home),
                             "audit", "verify"], capture_output=True, text=True, cwd=ROOT)
    assert verify.returncode == 0, verify.stderr


def _assistant(cluster: Cluster) -> tuple[Proc, Proc, dict]:
    person, home = cluster.person()
    client = cluster.api(home)
    assistant_home, did = cluster.assistant_home()
    grant = client.call("POST", "/v1/assistants/grants", json={"assistant": did, **GRANT})
    proc = cluster.assistant(assistant_home, BEST_PRICE, grant, person.events[0]["addrs"][0])
    return person, proc, grant


def test_an_assistant_stops_quickly(cluster):
    person, assistant, _ = _assistant(cluster)
    _stop(assistant, signal.SIGTERM, "assistant connected to its daemon")
    _stop(person, signal.SIGTERM, "daemon that served an assistant")


def test_an_assistant_still_starting_stops_quickly(cluster):
    # With its daemon gone, an assistant waits up to 20 s to be let in before it says it is
    # ready; a signal meanwhile stops it at once.
    person, assistant, grant = _assistant(cluster)
    _stop(assistant, signal.SIGTERM, "assistant")
    _stop(person, signal.SIGTERM, "daemon")
    home = cluster.root / "assistant"
    grant_file = cluster.root / "assistant-grant.json"
    grant_file.write_text(json.dumps(grant["file"]))
    starting = cluster.spawn("starting", [
        sys.executable, "-m", "intentcast.agents.cli", "--home", str(home), "assistant", "run",
        BEST_PRICE, "--delegation", str(grant_file),
        "--bootstrap", grant["file"]["daemon"]["addrs"][0]])
    deadline = time.monotonic() + 30
    while "could not connect" not in starting.tail():  # its node is up, the daemon is not
        assert time.monotonic() < deadline, starting.tail()
        select.select([], [], [], 0.05)
    assert not starting.drain(0.1), "it said it was ready with no daemon to talk to"
    _stop(starting, signal.SIGTERM, "assistant still starting")
