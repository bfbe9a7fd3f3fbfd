"""Hostile peers over real libp2p: one opens streams without end, one connection after
another; each is cut off and counted, and an honest vendor's deal completes meanwhile."""

from __future__ import annotations

import pytest
from e2e import TENT

pytestmark = pytest.mark.e2e

OUTDOOR = "/intentcast/1/intents/outdoor"


def test_peers_over_their_limits_are_cut_off_and_counted_and_a_deal_still_completes(cluster):
    person, home = cluster.person()
    ready = person.events[0]
    target, addr = ready["peer_id"], ready["addrs"][0]
    vendor, _ = cluster.vendor("trailhead", "trailhead.toml", addr)
    client = cluster.api(home)
    client.call("GET", "/v1/peers", params={"topic": OUTDOOR, "count": 1, "wait": 20})

    streams = cluster.rogue(addr)
    streams.send({"cmd": "flood_streams", "peer": target, "count": 5000})
    conns = cluster.rogue(addr)
    conns.send({"cmd": "flood_connections", "peer": target,
                "addr": addr.rsplit("/p2p/", 1)[0], "count": 10})

    # The honest deal, while both floods run.
    intent = client.call("POST", "/v1/intents", json=TENT)
    offers = client.call("GET", f"/v1/intents/{intent['id']}/offers",
                         params={"wait": 20, "count": 1})
    agreement = client.call("POST", f"/v1/offers/{offers[0]['ref']}/accept")
    assert agreement["state"] == "agreed"

    flooded = streams.expect("done", cmd="flood_streams", timeout=60)
    assert flooded["cut"], flooded
    assert flooded["opened"] < 5000
    dialled = conns.expect("done", cmd="flood_connections", timeout=60)
    assert dialled["cut"], dialled
    network = client.call("GET", "/v1/network")
    assert network["cut_off"].get("stream_rate", 0) + network["cut_off"].get(
        "too_many_streams", 0) >= 1, network
    assert network["cut_off"].get("too_many_connections", 0) >= 1, network
    status = client.call("GET", "/v1/status")
    assert status["dropped"].get("cut_off_too_many_connections", 0) >= 1
    assert vendor.events[0]["peer_id"] in status["peers"]  # the honest peer kept its place
    print(f"\nstream flood: {flooded['opened']} streams opened before the cut; connection "
          f"flood: {dialled['opened']} extra connections before the cut; cut off: "
          f"{network['cut_off']}")
    for rogue in (streams, conns):
        rogue.send({"cmd": "quit"})
    assert person.stop() == 0, person.tail()
