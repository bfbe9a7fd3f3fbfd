"""Honest publishing: an intent nobody heard is said to be unheard, and sent again when a
vendor of its category appears (real processes)."""

from __future__ import annotations

import time

import pytest
from e2e import TENT

pytestmark = pytest.mark.e2e


def test_an_unheard_intent_says_so_and_reaches_the_first_vendor_that_comes(cluster):
    person, home = cluster.person()
    client = cluster.api(home)
    posted = client.call("POST", "/v1/intents", json=TENT)
    assert posted["state"] == "unheard"
    assert posted["heard_by"] == 0
    assert "nobody heard it" in posted["note"]
    started = time.monotonic()
    vendor, _ = cluster.vendor("trailhead", "trailhead.toml", person.events[0]["addrs"][0])
    vendor.expect("intent", id=posted["id"], timeout=30)
    heard_after = time.monotonic() - started
    offers = client.call("GET", f"/v1/intents/{posted['id']}/offers",
                         params={"wait": 20, "count": 1})
    assert offers
    again = client.call("GET", f"/v1/intents/{posted['id']}")
    assert again["state"] == "open"
    assert again["heard_by"] >= 1
    print(f"\nan unheard intent reached a vendor {heard_after:.1f} s after it started")
    for proc in (vendor, person):
        assert proc.stop() == 0, proc.tail()
