"""Fourth parties over real libp2p: assistants in their own processes, with their own keys."""

from __future__ import annotations

import sqlite3
import time

import pytest
from e2e import ROOT, TENT

from intentcast.agents.person.client import ApiError
from intentcast.protocol import cose, envelope
from intentcast.protocol.delegation import verify_chain
from intentcast.protocol.messages import Agreement

pytestmark = pytest.mark.e2e

OUTDOOR = "/intentcast/1/intents/outdoor"
PEERS = ROOT / "tests" / "peers"
BEST_PRICE = str(ROOT / "examples" / "assistants" / "best_price.py") + ":BestPrice"
GRANT = {"categories": ["outdoor"], "max_price": "200.00", "currency": "EUR",
         "may_counter": True, "may_accept": True, "expires_in": 3600}


def _envelopes(home, kind: str, direction: str = "in") -> list[bytes]:
    db = sqlite3.connect(f"file:{home / 'store.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT raw FROM envelopes WHERE type = ? AND direction = ?",
                          (kind, direction)).fetchall()
    finally:
        db.close()
    return [bytes(r[0]) for r in rows]


def _until(predicate, proc, timeout: float = 20.0):
    """Poll `predicate` while draining `proc`'s events (each drain waits for output)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        proc.drain(0.1)
    raise AssertionError(f"not reached in {timeout} s; {proc.name} said {proc.events[-5:]}")


def _setup(cluster, spec: str, grant: dict | None = None, vendors=("trailhead.toml",)):
    person, person_home = cluster.person()
    addr = person.events[0]["addrs"][0]
    started = [cluster.vendor(f"vendor-{n}", catalog, addr)
               for n, catalog in enumerate(vendors, 1)]
    client = cluster.api(person_home)
    home, did = cluster.assistant_home()
    made = client.call("POST", "/v1/assistants/grants",
                       json={"assistant": did, **(grant or GRANT)})
    assistant = cluster.assistant(home, spec, made, addr)
    client.call("GET", "/v1/peers", params={"topic": OUTDOOR, "count": len(vendors),
                                            "wait": 15})
    return person, client, started, assistant, did, made


def test_an_assistant_negotiates_for_the_person_who_sees_every_move(cluster):
    person, client, vendors, assistant, did, _ = _setup(
        cluster, BEST_PRICE, vendors=("trailhead.toml", "bargainblast.toml"))
    intent = client.call("POST", "/v1/intents", json={**TENT, "assistant": did})
    heard = vendors[0][0].expect("intent", id=intent["id"])
    # Nothing on the network points at the person's daemon: gossip messages name no
    # origin, and the peer the vendor heard the intent from is the assistant's.
    assert heard["via"] == assistant.events[0]["peer_id"] != person.events[0]["peer_id"]
    assistant.expect("report", intent_id=intent["id"], timeout=30)
    # Agreed once the vendor's ack reached the person's daemon through the assistant.
    agreements = _until(lambda: [a for a in client.call("GET", "/v1/agreements")
                                 if a["intent_id"] == intent["id"] and a["state"] == "agreed"],
                        assistant)
    raw = bytes.fromhex(client.call("GET", f"/v1/agreements/{agreements[0]['id']}")
                        ["envelope_hex"])
    verified = envelope.open(raw, now=int(time.time()))
    agreement = verified.message
    assert isinstance(agreement, Agreement)
    assert agreement.agent == did
    assert set(verified.signers) == {did, agreement.vendor}
    chain = verify_chain(agreement.delegation, root=agreement.buyer, now=agreement.issued_at)
    assert chain.chain == (agreement.buyer, did)
    # The report is announced before it is filed with the daemon: wait for the filing.
    log = _until(lambda: (entries := client.call(
        "GET", "/v1/assistants/log", params={"intent_id": intent["id"]})) and any(
        r["kind"] == "assistant_report" for r in entries) and entries, assistant)
    moves = [r["type"] for r in log if r["kind"] == "assistant_action"]
    assert moves == ["counter", "accept"]
    assert {"agreement_signed", "assistant_report"} <= {r["kind"] for r in log}
    seller = next(v for v, home in vendors if v.events[0]["did"] == agreement.vendor)
    seller_home = next(home for v, home in vendors if v is seller)
    assert _until(lambda: [a for a in _envelopes(seller_home, "agreement")
                           if cose.parse(a).payload == cose.parse(raw).payload], seller)
    entries = client.call("GET", "/v1/status")
    assert entries["agreements"] == 1
    for proc in (assistant, *(v for v, _ in vendors), person):
        assert proc.stop() == 0, proc.tail()


def test_an_assistant_cannot_exceed_its_cap_or_leave_its_categories(cluster):
    person, client, vendors, assistant, did, _ = _setup(
        cluster, str(PEERS / "greedy_assistant.py") + ":Greedy")
    intent = client.call("POST", "/v1/intents", json={**TENT, "assistant": did})
    error = assistant.expect("report", kind="error", intent_id=intent["id"], timeout=30)
    assert "over_price_cap" in error["text"]
    log = client.call("GET", "/v1/assistants/log", params={"intent_id": intent["id"]})
    reports = [r.get("text", "") for r in log if r["kind"] == "assistant_report"]
    assert any("refused before sending: over_price_cap" in t for t in reports)
    assert not [r for r in log if r["kind"] == "assistant_action"]
    assert _envelopes(vendors[0][1], "counter") == []  # nothing reached the vendor
    with pytest.raises(ApiError, match="does not cover kitchen"):
        client.call("POST", "/v1/intents", json={
            "category": "kitchen.kettles", "description": "a kettle", "assistant": did})
    for proc in (assistant, vendors[0][0], person):
        assert proc.stop() == 0, proc.tail()


@pytest.mark.parametrize(("variant", "reason"), [
    ("widened", "delegation_widened"),
    ("expired", "delegation_expired"),
    ("revoked", "delegation_revoked"),
    ("over_cap", "over_price_cap"),
])
def test_a_vendor_refuses_a_chain_outside_what_the_person_signed(cluster, variant, reason):
    vendor, _ = cluster.vendor("trailhead", "trailhead.toml")
    rogue = cluster.rogue(vendor.events[0]["addrs"][0])
    rogue.send({"cmd": "wait_topic", "topic": OUTDOOR, "count": 1})
    rogue.expect("done", cmd="wait_topic")
    rogue.send({"cmd": "assisted", "variant": variant, "step": "setup"})
    setup = rogue.expect("done", cmd="assisted")
    if variant == "revoked":
        vendor.expect("revocation", digest=setup["revocation"])
    rogue.events.clear()
    rogue.send({"cmd": "assisted", "variant": variant, "step": "go"})
    answer = rogue.expect("done", cmd="assisted", timeout=30)
    assert answer["answer"] == "withdraw"
    assert answer["reason"].startswith(reason + ":")
    assert vendor.expect("refused", reason=reason)
    rogue.send({"cmd": "quit"})
    assert vendor.stop() == 0, vendor.tail()


def test_revoking_a_grant_reaches_vendors_and_stops_the_assistant(cluster):
    person, client, vendors, assistant, did, grant = _setup(
        cluster, str(PEERS / "flaky_assistant.py") + ":Flaky")
    hang = client.call("POST", "/v1/intents", json={**TENT, "description": "hang on",
                                                    "assistant": did})
    assistant.expect("intent", id=hang["id"])
    revoked = client.call("POST", f"/v1/assistants/grants/{grant['id']}/revoke")
    assert revoked["state"] == "revoked"
    assert revoked["links_revoked"] >= 1
    vendors[0][0].expect("revocation", timeout=15)
    assistant.expect("revoked", grant_id=grant["id"])
    with pytest.raises(ApiError, match="no active grant"):
        client.call("POST", "/v1/intents", json={**TENT, "assistant": did})
    for proc in (assistant, vendors[0][0], person):
        assert proc.stop() == 0, proc.tail()


def test_a_raising_or_hanging_handler_leaves_the_assistant_running(cluster):
    person, client, vendors, assistant, did, _ = _setup(
        cluster, str(PEERS / "flaky_assistant.py") + ":Flaky")
    hang = client.call("POST", "/v1/intents", json={**TENT, "description": "hang on",
                                                    "assistant": did})
    raised = assistant.expect("handler_error", handler="on_intent")
    assert "RuntimeError" in raised["error"]
    hung = assistant.expect("handler_error", handler="on_offer", timeout=30)
    assert "longer than 2 s" in hung["error"]
    fine = client.call("POST", "/v1/intents", json={**TENT, "assistant": did})
    deal = _until(lambda: [a for a in client.call("GET", "/v1/agreements")
                           if a["intent_id"] == fine["id"]], assistant, timeout=30)
    assert deal
    log = client.call("GET", "/v1/assistants/log", params={"intent_id": hang["id"]})
    errors = [r["text"] for r in log if r.get("report") == "error"]
    assert any("RuntimeError" in t for t in errors)
    assert any("longer than 2 s" in t for t in errors)
    for proc in (assistant, vendors[0][0], person):
        assert proc.stop() == 0, proc.tail()


def test_privacy_guard_refuses_conflicting_terms_and_tells_the_person(cluster):
    guard = str(ROOT / "examples" / "assistants" / "privacy_guard.py") + ":PrivacyGuard"
    person, client, vendors, assistant, did, _ = _setup(
        cluster, guard, vendors=("trailhead.toml", "bargainblast.toml"))
    intent = client.call("POST", "/v1/intents", json={**TENT, "assistant": did})
    greedy, greedy_home = vendors[1]
    rejects = _until(lambda: _envelopes(greedy_home, "reject"), greedy)
    reason = envelope.parse_message(cose.parse(rejects[0]).payload).reason
    assert "no_profiling" in reason or "purpose" in reason
    blast = greedy.events[0]["did"]
    # The note follows the reject: wait for the one about this vendor, not just any note
    # (the fair vendor's "respects your terms" note may be filed first).
    notes = _until(lambda: [r["text"] for r in client.call(
        "GET", "/v1/assistants/log", params={"intent_id": intent["id"]})
        if r.get("report") == "note" and blast in r["text"]], assistant)
    assert any(blast in text for text in notes)
    assert _envelopes(vendors[0][1], "reject") == []  # the fair vendor is left alone
    for proc in (assistant, *(v for v, _ in vendors), person):
        assert proc.stop() == 0, proc.tail()
