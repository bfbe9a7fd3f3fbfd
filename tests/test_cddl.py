"""specs/intentcast.cddl against real payloads and envelopes, with pycddl (cddl-rs).

The CDDL is normative and written to RFC 8610. cddl-rs deviates in three places,
so the validator gets an adapted copy (each change only loosens the schema
where our decoder enforces the rule itself, or anchors what RFC 8610 anchors):
- `.regexp` patterns are implicitly anchored in RFC 8610 (XSD), not in cddl-rs;
- cddl-rs applies a `.cbor` control in an array to the wrong element, so
  embedded headers and payloads are validated as separate documents instead;
- cddl-rs cannot match a map key against a `.regexp` type;
- cddl-rs matches array items only against the first of a choice of text
  literals, so `data-purpose` becomes the equivalent anchored alternation.
"""

from __future__ import annotations

import re
from functools import cache

import cbor2
import pycddl
import pytest
from vector_files import ROOT, load

from intentcast.protocol import cose

SOURCE = (ROOT / "specs" / "intentcast.cddl").read_text("utf-8")


def _adapted() -> str:
    text = re.sub(r'\.regexp "([^"]*)"', r'.regexp "^(?:\1)$"', SOURCE)
    text = re.sub(r"bstr \.cbor [\w-]+", "bstr", text)
    text = text.replace("field-name =>", "tstr =>")
    rule = re.search(r"^data-purpose = ((?:\s*\"\w+\"\s*/?)+)", text, re.MULTILINE)
    assert rule is not None
    words = re.findall(r'"(\w+)"', rule.group(1))
    return text.replace(rule.group(0), f'data-purpose = tstr .regexp "^(?:{"|".join(words)})$"\n')


@cache
def schema(start: str) -> pycddl.Schema:
    return pycddl.Schema(f"start = {start}\n{_adapted()}")


def valid(start: str, data: bytes) -> bool:
    try:
        schema(start).validate_cbor(data)
    except pycddl.ValidationError:
        return False
    return True


VALID = [v for v in load("envelopes.json") if v["valid"]]


@pytest.mark.parametrize("case", VALID, ids=[v["name"] for v in VALID])
def test_every_valid_vector_matches_the_cddl(case):
    raw = bytes.fromhex(case["hex"])
    assert valid("intentcast-envelope", raw)
    signed = cose.parse(raw)
    assert valid(case["type"].replace("_", "-"), signed.payload)
    assert valid("intentcast-payload", signed.payload)
    for sig in signed.signatures:
        assert valid("signer-header", sig.protected)


def _payload(name: str) -> dict:
    case = next(v for v in load("envelopes.json") if v["name"] == name)
    return cbor2.loads(cose.parse(bytes.fromhex(case["hex"])).payload)


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"v": 1.0},
        {"loyalty": 1},
        {"type": "invoice"},
        {"category": "Outdoor"},
        {"id": "short"},
        {"issued_at": -1},
        {"constraints": {"max_price": {"amount": 1.5, "currency": "EUR"}}},
        {"constraints": {"max_price": {"amount": 100, "currency": "eur"}}},
        {"terms": {"purposes": ["spam"], "retention_days": 1}},
        {"reply_to": {"peer_id": "not a peer id!"}},
    ],
)
def test_the_cddl_refuses_what_the_decoder_refuses(change):
    payload = {**_payload("intent"), **change}
    assert not valid("intent", cbor2.dumps(payload))


def test_the_cddl_refuses_a_bad_did_and_short_digest():
    agreement = _payload("agreement")
    assert valid("agreement", cbor2.dumps(agreement))
    assert not valid("agreement", cbor2.dumps({**agreement, "buyer": "did:web:example.com"}))
    assert not valid("agreement", cbor2.dumps({**agreement, "offer_hash": b"\x00" * 31}))


def test_the_envelope_cddl_refuses_wrong_shapes():
    raw = bytes.fromhex(next(v for v in VALID if v["name"] == "intent")["hex"])
    tag = cbor2.loads(raw)
    prot, unprot, payload, sig = tag.value

    def envelope(tag_number, items):
        return valid("intentcast-envelope", cbor2.dumps(cbor2.CBORTag(tag_number, items)))

    assert envelope(18, [prot, unprot, payload, sig])
    assert not envelope(17, [prot, unprot, payload, sig])
    assert not envelope(18, [prot, unprot, payload])
    assert not envelope(18, [prot, unprot, payload, sig[:10]])
    assert not valid("signer-header", cbor2.dumps({1: -7, 4: b"kid"}))
