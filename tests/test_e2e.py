"""End to end over real libp2p: separate processes on 127.0.0.1, real SQLite files."""

from __future__ import annotations

import signal
import sqlite3
import time

import httpx
import pytest
from e2e import TENT, api

from intentcast.agents.person.client import ApiError
from intentcast.agents.store import audit
from intentcast.agents.store.db import Store
from intentcast.protocol import envelope
from intentcast.protocol.identity import KeyPair
from intentcast.protocol.messages import Intent, ReplyTo, new_id
from intentcast.protocol.terms import CustomerTerms

pytestmark = pytest.mark.e2e

OUTDOOR = "/intentcast/1/intents/outdoor"


def _intent(category: str, description: str, peer_id: str) -> bytes:
    now = int(time.time())
    return envelope.seal(Intent(
        id=new_id(), issued_at=now, expires_at=now + 600, category=category,
        description=description, terms=CustomerTerms(purposes=["delivery"], retention_days=30),
        reply_to=ReplyTo(peer_id=peer_id),
    ), KeyPair(bytes(range(32))))


def _agreements(home) -> list[bytes]:
    db = sqlite3.connect(f"file:{home / 'store.sqlite'}?mode=ro", uri=True)
    try:
        return [bytes(r[0]) for r in db.execute("SELECT raw FROM agreements")]
    finally:
        db.close()


def _deal(client, count: int = 1) -> tuple[dict, dict]:
    client.call("GET", "/v1/peers", params={"topic": OUTDOOR, "count": count, "wait": 15})
    intent = client.call("POST", "/v1/intents", json=TENT)
    offers = client.call("GET", f"/v1/intents/{intent['id']}/offers",
                         params={"wait": 15, "count": count})
    best = next(o for o in offers if o["state"] == "buyer_turn")
    client.call("POST", f"/v1/offers/{best['ref']}/counter", json={"price": "180.00"})
    return intent, client.call("POST", f"/v1/offers/{best['ref']}/accept")


def test_a_deal_is_stored_by_both_and_only_subscribers_hear_the_intent(cluster):
    person, person_home = cluster.person()
    addr = person.events[0]["addrs"][0]
    trail, trail_home = cluster.vendor("trailhead", "trailhead.toml", addr)
    kitchen, _ = cluster.vendor("kitchen", "copper-kettle.toml", addr)
    client = api(person_home)
    intent, agreement = _deal(client)
    trail.expect("intent", id=intent["id"])
    raw = bytes.fromhex(agreement["envelope_hex"])
    assert len(envelope.open(raw, now=int(time.time())).signers) == 2
    deadline = time.monotonic() + 10
    while _agreements(trail_home) != [raw] and time.monotonic() < deadline:
        trail.drain(0.05)  # the vendor stores it when the countersignature arrives
    assert _agreements(person_home) == [raw]
    assert _agreements(trail_home) == [raw]
    assert not [e for e in kitchen.drain() if e.get("event") == "intent"]
    client.close()
    for proc in (trail, kitchen, person):
        assert proc.stop() == 0, proc.tail()


def test_peers_find_each_other_with_mdns_and_no_bootstrap(cluster):
    person, person_home = cluster.person("person", "--mdns")
    vendor, _ = cluster.vendor("trailhead", "trailhead.toml", mdns=True)
    client = api(person_home)
    intent, agreement = _deal(client)  # waits up to 15 s for the vendor to be found
    vendor.expect("intent", id=intent["id"])
    assert agreement["vendor"] == vendor.events[0]["did"]
    client.close()
    for proc in (vendor, person):
        assert proc.stop() == 0, proc.tail()


def _relay(cluster):
    """Vendor a, vendor b dialling a, and a rogue peer dialling a: the rogue reaches b
    only through a's gossip. Returns (a, b, rogue, rogue's peer id)."""
    a, _ = cluster.vendor("vendor-a", "trailhead.toml")
    a_addr = a.events[0]["addrs"][0]
    b, _ = cluster.vendor("vendor-b", "bargainblast.toml", a_addr)
    rogue = cluster.rogue(a_addr)
    rogue.send({"cmd": "wait_topic", "topic": OUTDOOR, "count": 1})
    rogue.expect("done", cmd="wait_topic")
    return a, b, rogue, rogue.events[0]["peer_id"]


def test_a_forged_intent_dies_at_the_first_honest_node(cluster):
    a, b, rogue, peer = _relay(cluster)
    good = _intent("outdoor.fishing", "a fishing rod", peer)
    forged = bytearray(_intent("outdoor.fishing", "a forged fishing rod", peer))
    forged[-1] ^= 0x01
    forged_id = envelope.parse_message(
        __import__("intentcast.protocol.cose", fromlist=["parse"]).parse(bytes(forged)).payload).id
    rogue.send({"cmd": "publish_raw", "topic": OUTDOOR, "hex": bytes(forged).hex()})
    a.expect("dropped", reason="bad_signature")
    good_id = envelope.open(good, now=int(time.time())).message.id
    rogue.send({"cmd": "publish_raw", "topic": OUTDOOR, "hex": good.hex()})
    b.expect("intent", id=good_id, timeout=30)
    seen_by_b = [e for e in b.drain() if e.get("event") in ("intent", "dropped")]
    assert all(e.get("id") != forged_id for e in seen_by_b)
    # b may meet the rogue directly (peer exchange, discovery) and drop its forgery itself;
    # what must never happen is a forwarding it: nothing b dropped came through a.
    a_peer = a.events[0]["peer_id"]
    assert not [e for e in seen_by_b if e.get("event") == "dropped" and e.get("via") == a_peer]
    rogue.send({"cmd": "quit"})
    for proc in (a, b):
        assert proc.stop() == 0, proc.tail()


def test_a_burst_of_intents_reaches_every_subscriber_without_a_drop(cluster):
    # py-libp2p's defaults would throttle this: 10 messages/s per topic per peer
    # and queues of 32. The node's settings must carry all of them, relayed too.
    a, b, rogue, peer = _relay(cluster)
    burst = [_intent("outdoor.fishing", f"fishing rod number {n}", peer) for n in range(300)]
    ids = {envelope.open(raw, now=int(time.time())).message.id for raw in burst}
    rogue.send({"cmd": "publish_many", "topic": OUTDOOR, "hexes": [r.hex() for r in burst]})
    rogue.expect("done", cmd="publish_many", published=300, timeout=60)
    for vendor in (a, b):
        for intent_id in ids:
            vendor.expect("intent", id=intent_id, timeout=30)
        assert not [e for e in vendor.drain() if e.get("event") == "dropped"]
    rogue.send({"cmd": "quit"})
    for proc in (a, b):
        assert proc.stop() == 0, proc.tail()


def test_a_vendor_killed_mid_negotiation_ends_cleanly(cluster):
    person, person_home = cluster.person("person", "--step-timeout", "3")
    vendor, _ = cluster.vendor("trailhead", "trailhead.toml", person.events[0]["addrs"][0])
    client = api(person_home)
    client.call("GET", "/v1/peers", params={"topic": OUTDOOR, "count": 1, "wait": 15})
    intent = client.call("POST", "/v1/intents", json=TENT)
    (offer,) = client.call("GET", f"/v1/intents/{intent['id']}/offers",
                           params={"wait": 15, "count": 1})
    vendor.stop(signal.SIGKILL)
    try:  # the daemon may or may not have noticed the dead stream yet: both end cleanly
        answer, refused = client.call("POST", f"/v1/offers/{offer['ref']}/counter",
                                      json={"price": "180.00"}), ""
    except ApiError as exc:
        answer, refused = None, str(exc)
    if answer is not None:
        assert answer["state"] in ("withdrawn", "expired")
    else:
        assert "closed the stream" in refused or "did not answer" in refused
    (after,) = client.call("GET", f"/v1/intents/{intent['id']}/offers")
    assert after["state"] in ("withdrawn", "expired")
    assert after["note"]
    with pytest.raises(ApiError, match=r"withdrawn|expired"):
        client.call("POST", f"/v1/offers/{offer['ref']}/accept")
    assert client.call("GET", "/v1/status")["intents"] == 1
    client.close()
    assert person.stop() == 0, person.tail()


def test_restarting_the_daemon_keeps_everything(cluster):
    person, person_home = cluster.person()
    vendor, _ = cluster.vendor("trailhead", "trailhead.toml", person.events[0]["addrs"][0])
    client = api(person_home)
    intent, agreement = _deal(client)
    client.close()
    assert person.stop() == 0, person.tail()
    assert not (person_home / "api.json").exists()
    again, _ = cluster.person()
    client = api(person_home)
    intents = client.call("GET", "/v1/intents")
    assert [(i["id"], i["state"]) for i in intents] == [(intent["id"], "agreed")]
    assert [a["id"] for a in client.call("GET", "/v1/agreements")] == [agreement["id"]]
    client.close()
    assert again.stop() == 0
    store = Store(person_home / "store.sqlite")
    try:
        kinds = [e.kind for e in audit.entries(store.db)]
        assert kinds == ["intent_sent", "offer_accepted", "agreement_signed",
                         "agreement_acknowledged"]
        assert audit.verify(store.db) is None
    finally:
        store.close()
    assert vendor.stop() == 0


def test_garbage_from_a_peer_and_bad_api_requests_break_nothing(cluster):
    person, person_home = cluster.person()
    ready = person.events[0]
    rogue = cluster.rogue(ready["addrs"][0])
    for junk in ("ffffff7f", "8000", "0a0102"):  # oversize, not minimal, truncated
        rogue.send({"cmd": "garbage", "peer": ready["peer_id"], "addrs": ready["addrs"],
                    "hex": junk})
        done = rogue.expect("done", cmd="garbage")
        assert done["answer"] is None
        assert done["reset"]
        rogue.events.clear()
    client = api(person_home)
    status = client.call("GET", "/v1/status")
    assert status["dropped"].get("bad_frame", 0) == 3
    url = ready["api"]
    assert httpx.get(f"{url}/v1/status").status_code == 401
    token = (person_home / "api-token").read_text()
    auth = {"Authorization": f"Bearer {token}"}
    bad = httpx.post(f"{url}/v1/intents", headers=auth, content=b"{nope")
    assert bad.status_code in (400, 422)
    assert "error" in bad.json()
    wrong = httpx.post(f"{url}/v1/intents", headers=auth, json={"category": "x y"})
    assert wrong.status_code == 422
    assert client.call("GET", "/v1/intents") == []
    client.call("POST", "/v1/intents", json=TENT)  # still works
    client.close()
    rogue.send({"cmd": "quit"})
    assert person.stop() == 0, person.tail()
