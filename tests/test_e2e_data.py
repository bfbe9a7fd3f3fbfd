"""Data rights over real libp2p: disclosure under consent, revocation, deletion, breach."""

from __future__ import annotations

import sqlite3
import time
from types import SimpleNamespace

import pytest
from e2e import PASSPHRASE, TENT

from intentcast.agents.store.db import Store
from intentcast.protocol import cose, envelope
from intentcast.protocol.identity import KeyPair
from intentcast.protocol.messages import ConsentReceipt, Disclosure
from intentcast.protocol.sealing import open_fields

pytestmark = pytest.mark.e2e

PROFILE = {"email": "ada@example.org", "shipping_address": "Hauptstr. 1, 10115 Berlin",
           "phone": "+49 30 1234567", "birthday": "1815-12-10"}


def _deal(cluster, *person_args: str, others: tuple[str, ...] = ()):
    """A person with a profile, a deal with Trailhead, and the consent it produced."""
    person, person_home = cluster.person("person", *person_args)
    addr = person.events[0]["addrs"][0]
    vendor, vendor_home = cluster.vendor("trailhead", "trailhead.toml", addr)
    more = [cluster.vendor(c.removesuffix(".toml"), c, addr)[0] for c in others]
    client = cluster.api(person_home)
    for name, value in PROFILE.items():
        client.call("PUT", f"/v1/profile/{name}", json={"value": value})
    client.call("GET", "/v1/peers", params={"topic": "/intentcast/1/intents/outdoor",
                                            "count": 1 + len(others), "wait": 15})
    intent = client.call("POST", "/v1/intents", json=TENT)
    offer = client.call("GET", f"/v1/intents/{intent['id']}/offers",
                        params={"wait": 15, "count": 1})[0]
    client.call("POST", f"/v1/offers/{offer['ref']}/accept")
    vendor.expect("disclosure", timeout=20)
    deadline = time.monotonic() + 10
    while not (held := client.call("GET", "/v1/consents")) and time.monotonic() < deadline:
        vendor.drain(0.05)  # the person records the consent once the vendor has said ok
    assert held, "the person's agent recorded no consent"
    return SimpleNamespace(person=person, person_home=person_home, vendor=vendor,
                           vendor_home=vendor_home, client=client, held=held[0], others=more)


def _vendor_rows(home) -> list[tuple]:
    db = sqlite3.connect(f"file:{home / 'store.sqlite'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT id, fields, state, data, disclosure, deletion "
                          "FROM consents").fetchall()
    finally:
        db.close()


def _vendor_key(home) -> KeyPair:
    store = Store(home / "store.sqlite")
    try:
        store.unlock(PASSPHRASE)
        return KeyPair(store.get_secret("vendor_seed"))
    finally:
        store.close()


def test_the_vendor_gets_only_the_agreed_fields_then_deletes_them_on_revocation(cluster):
    d = _deal(cluster)
    person, vendor, vendor_home, client, held = d.person, d.vendor, d.vendor_home, d.client, d.held
    assert sorted(held["fields"]) == ["email", "shipping_address"]
    ((consent_id, _fields, state, data, disclosure, _),) = _vendor_rows(vendor_home)
    assert (consent_id, state) == (held["id"], "active")
    assert data is not None
    # What the vendor received, opened with its own key: only what the agreement asked for.
    sent = envelope.parse_message(cose.parse(bytes(disclosure)).payload)
    assert isinstance(sent, Disclosure)
    opened = open_fields(sent.sealed, _vendor_key(vendor_home))
    assert opened == {"email": PROFILE["email"], "shipping_address": PROFILE["shipping_address"]}
    revoked = client.call("POST", f"/v1/consents/{held['id']}/revoke")
    assert revoked["state"] == "deleted"
    vendor.expect("deleted", consent_id=held["id"], cause="revocation")
    proof = envelope.open(bytes.fromhex(revoked["deletion_receipt_hex"]), now=int(time.time()))
    assert proof.signer == vendor.events[0]["did"]
    # Checked in the vendor's file itself: the row holds no data, and no copy is left.
    ((_, _, state, data, _, deletion),) = _vendor_rows(vendor_home)
    assert (state, data) == ("deleted", None)
    assert bytes(deletion) == bytes.fromhex(revoked["deletion_receipt_hex"])
    for suffix in ("", "-wal"):
        path = vendor_home / f"store.sqlite{suffix}"
        if path.exists():
            assert PROFILE["shipping_address"].encode() not in path.read_bytes()
    for proc in (vendor, person):
        assert proc.stop() == 0, proc.tail()


def test_a_vendor_that_does_not_answer_a_revocation_is_marked_in_breach(cluster):
    d = _deal(cluster, "--step-timeout", "3")
    person, vendor, client, held = d.person, d.vendor, d.client, d.held
    vendor.stop()
    revoked = client.call("POST", f"/v1/consents/{held['id']}/revoke")
    assert revoked["state"] == "breach"
    assert client.call("GET", "/v1/consents")[0]["state"] == "breach"
    assert person.stop() == 0, person.tail()


def test_the_receipts_are_valid_signed_records(cluster):
    d = _deal(cluster)
    person, vendor, vendor_home, client = d.person, d.vendor, d.vendor_home, d.client
    ((_, _, _, _, disclosure, _),) = _vendor_rows(vendor_home)
    db = sqlite3.connect(f"file:{vendor_home / 'store.sqlite'}?mode=ro", uri=True)
    (raw,) = db.execute("SELECT receipt FROM consents").fetchone()
    db.close()
    record = envelope.open(bytes(raw), now=int(time.time()))
    assert isinstance(record.message, ConsentReceipt)
    assert record.message.controller == vendor.events[0]["did"]
    assert record.message.subject != record.signer  # a pairwise DID, not the intent's key
    assert record.message.agreement_id in {a["id"] for a in client.call("GET", "/v1/agreements")}
    assert envelope.parse_message(cose.parse(bytes(disclosure)).payload).consent == (
        record.digest)
    for proc in (vendor, person):
        assert proc.stop() == 0, proc.tail()


def _person_keys(home):
    from intentcast.agents.runtime.setup import MASTER_SEED
    from intentcast.protocol.identity import MasterKey

    store = Store(home / "store.sqlite")
    try:
        store.unlock(PASSPHRASE)
        return MasterKey(store.get_secret(MASTER_SEED))
    finally:
        store.close()


def test_a_loyalty_credit_is_honoured_once_and_by_its_issuer_only(cluster):
    from intentcast.agents.conversation.control import pack
    from intentcast.agents.conversation.data_wire import Honoured, Redeem, read_data_answer
    from intentcast.protocol.loyalty import redeem

    d = _deal(cluster, others=("summit.toml",))
    person, person_home, trail, client = d.person, d.person_home, d.vendor, d.client
    (summit,) = d.others
    addr = person.events[0]["addrs"][0]
    trail.expect("credit_issued", timeout=20)
    deadline = time.monotonic() + 10
    while not (held := client.call("GET", "/v1/credits")) and time.monotonic() < deadline:
        trail.drain(0.05)
    db = sqlite3.connect(f"file:{person_home / 'store.sqlite'}?mode=ro", uri=True)
    (credit,) = db.execute("SELECT raw FROM credits").fetchone()
    db.close()
    credit = bytes(credit)
    pseudonym = _person_keys(person_home).pairwise_key(trail.events[0]["did"])
    # An open offer from each vendor on a second intent, which both can answer.
    bag = client.call("POST", "/v1/intents", json={
        "category": "outdoor", "description": "a sleeping bag and a climbing rope",
        "max_price": "200.00", "expires_in": 600})
    offers = client.call("GET", f"/v1/intents/{bag['id']}/offers",
                         params={"wait": 15, "count": 2})
    db = sqlite3.connect(f"file:{person_home / 'store.sqlite'}?mode=ro", uri=True)
    rows = db.execute("SELECT counterparty, digest FROM envelopes WHERE type = 'offer' "
                      "AND intent_id = ?", (bag["id"],)).fetchall()
    db.close()
    digests = {vendor: bytes(d) for vendor, d in rows}
    assert len(offers) == 2
    rogue = cluster.rogue(addr)

    def present(vendor) -> dict:
        redemption = redeem(credit, pseudonym, intent_id=bag["id"],
                            offer=digests[vendor.events[0]["did"]], now=int(time.time()))
        rogue.events.clear()
        rogue.send({"cmd": "data", "peer": vendor.events[0]["peer_id"],
                    "addrs": vendor.events[0]["addrs"],
                    "hex": pack(Redeem(credit=credit, redemption=redemption)).hex()})
        return read_data_answer(bytes.fromhex(rogue.expect("done", cmd="data")["answer"]))

    elsewhere = present(summit)
    assert elsewhere.op == "error"
    assert "another vendor" in elsewhere.error
    honoured = present(trail)
    assert isinstance(honoured, Honoured)
    assert honoured.value == held[0]["value_minor"]
    again = present(trail)
    assert again.op == "error"
    assert "presented already" in again.error
    rogue.send({"cmd": "quit"})
    for proc in (trail, summit, person):
        assert proc.stop() == 0, proc.tail()


def test_the_vendor_cli_hands_data_out_only_for_a_consented_purpose(cluster):
    import json
    import subprocess
    import sys

    d = _deal(cluster)
    person, vendor, vendor_home, held = d.person, d.vendor, d.vendor_home, d.held

    def vendor_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "intentcast.agents.cli",
                               "--home", str(vendor_home),
                               "--json", "vendor", "data", *args], capture_output=True,
                              text=True, timeout=60, check=False, env=cluster.env())

    listed = vendor_cli()
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [held["id"]]
    used = vendor_cli(held["id"], "--purpose", "delivery")
    assert used.returncode == 0, used.stderr
    assert json.loads(used.stdout)["shipping_address"] == PROFILE["shipping_address"]
    refused = vendor_cli(held["id"], "--purpose", "marketing")
    assert refused.returncode == 1
    assert "does not allow 'marketing'" in refused.stderr
    for proc in (vendor, person):
        assert proc.stop() == 0, proc.tail()
