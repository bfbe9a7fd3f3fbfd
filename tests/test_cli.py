"""The `intentcast` command as a person runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from intentcast.protocol import envelope

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "intentcast.agents.cli"]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("demo")
    result = run("demo", "--json", "--out", str(out))
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout), out


def test_demo_reaches_a_countersigned_agreement(demo_out):
    summary, _ = demo_out
    assert len(summary["offers"]) == 2  # the kitchen vendor does not match a tent
    agreement = summary["agreement"]
    assert agreement["signatures"] == 2
    assert agreement["currency"] == "EUR"
    assert agreement["price_minor"] <= 20000  # within the person's cap
    assert agreement["buyer"] != agreement["vendor"]
    vendor_dids = {o["vendor"] for o in summary["offers"]}
    assert agreement["vendor"] in vendor_dids


def test_demo_writes_every_envelope_and_the_agreement_verifies(demo_out):
    summary, out = demo_out
    raw = (out / "person" / "agreement.cbor").read_bytes()
    verified = envelope.open(raw, now=int(__import__("time").time()))
    assert verified.message.id == summary["agreement"]["id"]
    assert set(verified.signers) == {summary["agreement"]["buyer"], summary["agreement"]["vendor"]}
    for party in ("person", "vendor-1", "vendor-2"):
        assert any((out / party).iterdir()), party
    # The kitchen shop subscribes to kitchen only: the tent intent never reached it.
    assert not any((out / "vendor-3").iterdir())


def test_each_party_received_what_the_protocol_sends_it(demo_out):
    _, out = demo_out
    kinds = {party: [p.name.split("-")[-1] for p in sorted((out / party).iterdir())]
             for party in ("person", "vendor-1", "vendor-2")}
    assert kinds["vendor-1"] == ["intent.cbor", "counter.cbor", "accept.cbor", "agreement.cbor"]
    assert kinds["vendor-2"] == ["intent.cbor", "reject.cbor"]
    # The vendor's ack: it stored the countersigned agreement (spec §7.1).
    assert sorted(kinds["person"]) == ["ack.cbor", "agreement.cbor", "agreement.cbor",
                                       "counter.cbor", "offer.cbor", "offer.cbor"]


def test_human_walkthrough_tells_the_story():
    result = run("demo", "--local")
    assert result.returncode == 0
    text = result.stdout.decode()
    for phrase in ("signs an intent", "breaks 'purposes'", "counters", "accepts", "Agreement"):
        assert phrase in text


def test_inspect_valid_envelope_binary_hex_and_stdin(demo_out):
    _, out = demo_out
    path = out / "person" / "agreement.cbor"
    result = run("inspect", "--json", str(path))
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["type"] == "agreement"
    assert len(report["signers"]) == 2
    hex_file = out / "agreement.hex"
    hex_file.write_text(path.read_bytes().hex() + "\n")
    assert run("inspect", str(hex_file)).returncode == 0
    piped = run("inspect", "-", stdin=path.read_bytes())
    assert piped.returncode == 0
    assert b"valid: agreement signed by" in piped.stdout


def test_inspect_tampered_envelope_fails_with_reason(demo_out):
    _, out = demo_out
    raw = bytearray((out / "person" / "agreement.cbor").read_bytes())
    raw[-5] ^= 0x01  # inside the last signature
    result = run("inspect", "-", stdin=bytes(raw))
    assert result.returncode == 1
    assert result.stdout.decode().startswith("invalid: bad_signature:")


def test_inspect_expired_when_checked_later(demo_out):
    _, out = demo_out
    result = run("inspect", "--json", "--at", str(2**40), str(out / "person" / "agreement.cbor"))
    assert result.returncode == 1
    assert json.loads(result.stdout)["reason"] == "expired"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["inspect", "/no/such/file"], None, b"cannot read /no/such/file"),
        (["inspect", "--at", "soon", "-"], b"", b"not Unix seconds"),
        (["inspect", "-"], b"abc", b"not valid hex"),
        (["frobnicate"], None, b"invalid choice"),
    ],
)
def test_bad_command_lines_get_one_clear_line(args, stdin, message):
    result = run(*args, stdin=stdin)
    assert result.returncode == 2
    assert message in result.stderr


def test_inspect_garbage_is_invalid_not_a_crash():
    result = run("inspect", "-", stdin=b"\xff" * 100)
    assert result.returncode == 1
    assert result.stdout.startswith(b"invalid: ")
    assert b"Traceback" not in result.stderr


def test_demo_with_an_assistant_names_it_as_the_agent_under_a_chain():
    result = run("demo", "--assistant", "best-price", "--json")
    assert result.returncode == 0, result.stderr.decode()
    summary = json.loads(result.stdout)
    agreement = summary["agreement"]
    assert agreement["signatures"] == 2
    assert agreement["accepted_by"] == summary["assistant"]
    assert agreement["delegation_chain"] == [agreement["buyer"], summary["assistant"]]
    assert agreement["price_minor"] <= 20000
    assert agreement["vendor"] in {o["vendor"] for o in summary["offers"]}


def test_data_rights_demo_proves_its_receipts_and_shares_no_identifier(tmp_path):
    result = run("demo", "--scenario", "data-rights", "--json", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    summary = json.loads(result.stdout)
    assert len(summary["agreements"]) == 3  # a tent and, later, a bag from one; a rope
    assert len({a["vendor"] for a in summary["agreements"]}) == 2
    assert summary["consent_receipts"] == 3
    assert summary["deletion_receipts"] == 1
    assert summary["shared_identifiers"] == []
    assert summary["loyalty"] == {"earned": 1, "redeemed": 1, "discount_minor": 1000}
    written = sorted(p.parent.name for p in tmp_path.glob("*/*.cbor"))
    assert set(written) == {"person", "vendor-1", "vendor-2"}
    assert list(tmp_path.glob("person/*-deletion_receipt.cbor"))
    assert list(tmp_path.glob("person/*-loyalty_credit.cbor"))


def test_the_identifier_comparison_would_see_a_shared_key():
    from intentcast.agents.demo.data_rights import _identifiers
    from intentcast.protocol.envelope import seal
    from intentcast.protocol.identity import KeyPair
    from intentcast.protocol.messages import Report

    key = KeyPair(b"\x09" * 32)

    def report(intent_id: str) -> bytes:
        return seal(Report(id=f"report-{intent_id}", issued_at=1, expires_at=2,
                           intent_id=intent_id, kind="note", text="hi"), key)

    shared = _identifiers([report("aaaaaaaa")]) & _identifiers([report("bbbbbbbb")])
    assert shared == {key.did}
