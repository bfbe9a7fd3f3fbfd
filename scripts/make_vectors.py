"""Generate specs/vectors/*.json: positive and negative test vectors for intentcast v1.

Everything is deterministic (fixed seeds, ids, nonces and times; Ed25519
signatures are deterministic), so running this again reproduces the files byte
for byte. tests/test_vectors.py checks both directions: the implementation
gives each vector's expected outcome, and this script still produces exactly
the checked-in files.

    python scripts/make_vectors.py          # rewrite specs/vectors/
    python scripts/make_vectors.py --check  # exit 1 if the files are stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbor2

from intentcast.protocol import cose, delegation
from intentcast.protocol.encoding import encode
from intentcast.protocol.envelope import seal
from intentcast.protocol.errors import IntentcastError
from intentcast.protocol.identity import _KDF_SALT, KeyPair, MasterKey, hkdf_sha256
from intentcast.protocol.messages import (
    Accept,
    Ack,
    Agreement,
    ConsentReceipt,
    Constraints,
    Counter,
    DeletionReceipt,
    Disclosure,
    Intent,
    Location,
    LoyaltyCredit,
    Money,
    Offer,
    Redemption,
    Reject,
    ReplyTo,
    Report,
    Revocation,
    Scope,
    Withdraw,
    digest,
    terms_hash,
)
from intentcast.protocol.sealing import seal_fields
from intentcast.protocol.terms import CustomerTerms, DataRequest, VendorTerms, check

OUT = Path(__file__).resolve().parent.parent / "specs" / "vectors"
NOW = 1_800_000_000
HOUR = 3600
DAY = 86_400

PERSON = MasterKey(bytes(range(32)))
INTENT_NONCE = bytes(range(100, 116))
BUYER = PERSON.intent_key(INTENT_NONCE)
VENDOR = KeyPair(bytes(range(32, 64)))
ASSISTANT = KeyPair(bytes(range(64, 96)))
HELPER = KeyPair(bytes(range(96, 128)))
PEER_ID = "12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"

TERMS = CustomerTerms(purposes=["fulfilment", "delivery", "receipt"], retention_days=90)
VENDOR_TERMS = VendorTerms(
    requests=[
        DataRequest(field="email", purpose="receipt", retention_days=30),
        DataRequest(field="shipping_address", purpose="delivery", retention_days=30),
    ]
)
EUR = "EUR"


def _hex(value: Any) -> Any:
    """JSON form of a message dump: bytes as lowercase hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _hex(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hex(v) for v in value]
    return value


# ------------------------------------------------------------------ kdf and did


def kdf_vectors() -> dict[str, Any]:
    cases = []
    for kind, arg in [
        ("intent", INTENT_NONCE),
        ("intent", bytes(16)),
        ("pairwise", VENDOR.did),
        ("pairwise", ASSISTANT.did),
    ]:
        if kind == "intent":
            assert isinstance(arg, bytes)
            info = b"intent\x00" + arg
            key = PERSON.intent_key(arg)
            label = {"intent_nonce": arg.hex()}
        else:
            assert isinstance(arg, str)
            info = b"pairwise\x00" + arg.encode()
            key = PERSON.pairwise_key(arg)
            label = {"counterparty": arg}
        assert hkdf_sha256(PERSON.seed, salt=_KDF_SALT, info=info) == key.seed
        cases.append({
            "kind": kind, **label, "info": info.hex(),
            "derived_seed": key.seed.hex(), "public_key": key.public_key.hex(), "did": key.did,
        })
    return {
        "description": "HKDF-SHA256(ikm=master_seed, salt, info) -> Ed25519 seed; see protocol.md",
        "master_seed": PERSON.seed.hex(),
        "master_did": PERSON.root.did,
        "salt": _KDF_SALT.hex(),
        "cases": cases,
    }


def did_vectors() -> dict[str, Any]:
    valid = [{"did": k.did, "public_key": k.public_key.hex()} for k in (BUYER, VENDOR)]
    valid.append({  # the Ed25519 example of the W3C did:key method specification
        "did": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "public_key": "2e6fcce36701dc791488e0d0b1745cc1e33a4c1c9fcc41c63bd343dbbe0970e6",
    })
    good = VENDOR.did
    invalid = [
        ("not a did:key", "did:web:example.com"),
        ("not base58btc multibase", "did:key:m" + good[9:]),
        ("a character outside base58", good[:-1] + "0"),
        ("secp256k1, not Ed25519", "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"),
        ("truncated key", good[:-4]),
        ("too long", good + "z"),
        ("empty", ""),
    ]
    return {
        "valid": valid,
        "invalid": [{"name": n, "did": d, "reason": "bad_did"} for n, d in invalid],
    }


# ------------------------------------------------------------------ encoding


def encoding_vectors() -> list[dict[str, Any]]:
    ok = [
        ("map keys in bytewise order: ints before text, short before long",
         {"bb": 1, "a": 2, 10: 3, -1: 4, 1: 5}),
        ("nested arrays and byte strings", [b"\x00\x01", ["x", [True, False, None]]]),
        ("integers at the 64-bit limits", [2**64 - 1, -(2**64), 23, 24, -24, -25]),
        ("utf-8 text", {"description": "Zelt für 2 Personen"}),
    ]
    vectors: list[dict[str, Any]] = [
        {"name": n, "hex": encode(v).hex(), "valid": True} for n, v in ok
    ]
    bad = [
        ("unsorted map keys", "a2616201616101", "not_deterministic"),
        ("integer 23 in two bytes", "1817", "not_deterministic"),
        ("text length not in shortest form", "780161", "not_deterministic"),
        ("duplicate map key", "a2616101616102", "duplicate_key"),
        ("indefinite-length array", "9f01ff", "indefinite_length"),
        ("indefinite-length map", "bf616101ff", "indefinite_length"),
        ("indefinite-length text", "7f616161ff", "indefinite_length"),
        ("half float", "f93c00", "float_not_allowed"),
        ("single float", "fa3f800000", "float_not_allowed"),
        ("double float", "fb3ff0000000000000", "float_not_allowed"),
        ("tag", "c11a6b49d200", "type_not_allowed"),
        ("undefined", "f7", "type_not_allowed"),
        ("bignum beyond 64 bits", "c249010000000000000000", "type_not_allowed"),
        ("trailing bytes", "0000", "trailing_bytes"),
        ("truncated text", "6261", "malformed_cbor"),
        ("nesting deeper than 16", "81" * 17 + "00", "too_deep"),
    ]
    for name, hx, reason in bad:
        vectors.append({"name": name, "hex": hx, "valid": False, "reason": reason})
    return vectors


# ------------------------------------------------------------------ envelopes


def _intent() -> Intent:
    return Intent(
        id="intent-0001", issued_at=NOW, expires_at=NOW + DAY,
        category="outdoor.camping.tents", description="Two-person backpacking tent, under 2 kg",
        constraints=Constraints(
            max_price=Money(amount=20_000, currency=EUR), quantity=1, needed_by=NOW + 14 * DAY,
            location=Location(country="DE", postcode_prefix="10"),
        ),
        disclosed={"size": "2 persons"}, terms=TERMS,
        reply_to=ReplyTo(peer_id=PEER_ID, addrs=["/ip4/127.0.0.1/tcp/4001"]),
    )


def transcript() -> dict[str, bytes]:
    """A complete negotiation: intent, offer, counter, counter, accept, agreement."""
    intent = seal(_intent(), BUYER)
    offer = seal(Offer(
        id="offer-0001", issued_at=NOW + 1, expires_at=NOW + HOUR, intent_id="intent-0001",
        in_reply_to=digest(intent), sku="TENT-UL2", title="Ultralight 2P tent", quantity=1,
        price=Money(amount=21_900, currency=EUR), terms=VENDOR_TERMS,
    ), VENDOR)
    counter1 = seal(Counter(
        id="counter-0001", issued_at=NOW + 2, expires_at=NOW + HOUR, intent_id="intent-0001",
        in_reply_to=digest(offer), round=1, price=Money(amount=18_000, currency=EUR),
        note="My budget is 180",
    ), BUYER)
    counter2 = seal(Counter(
        id="counter-0002", issued_at=NOW + 3, expires_at=NOW + HOUR, intent_id="intent-0001",
        in_reply_to=digest(counter1), round=2, price=Money(amount=19_950, currency=EUR),
    ), VENDOR)
    price = Money(amount=19_950, currency=EUR)
    accept = seal(Accept(
        id="accept-0001", issued_at=NOW + 4, expires_at=NOW + HOUR, intent_id="intent-0001",
        in_reply_to=digest(counter2), price=price,
    ), BUYER)
    agreement = Agreement(
        id="agreement-0001", issued_at=NOW + 5, expires_at=NOW + 365 * DAY,
        intent_id="intent-0001", intent_hash=digest(intent), offer_hash=digest(offer),
        accept_hash=digest(accept), buyer=BUYER.did, vendor=VENDOR.did, sku="TENT-UL2",
        title="Ultralight 2P tent", quantity=1, price=price, customer_terms=TERMS,
        vendor_terms=VENDOR_TERMS,
        terms_hash=terms_hash(sku="TENT-UL2", quantity=1, price=price, customer=TERMS,
                              vendor=VENDOR_TERMS),
        countersign_by=NOW + 125,
    )
    vendor_signed = seal(agreement, VENDOR)
    both = cose.add_signature(vendor_signed, BUYER.seed)
    ack = seal(Ack(id="ack-0001", issued_at=NOW + 6, expires_at=NOW + 3650 * DAY,
                   about=digest(both), outcome="stored"), VENDOR)
    return {
        "intent": intent, "offer": offer, "counter-1": counter1, "counter-2": counter2,
        "accept": accept, "agreement-vendor-only": vendor_signed, "agreement": both, "ack": ack,
    }


def assisted() -> dict[str, bytes]:
    """An intent naming an assistant, which counters and accepts under its chain and
    signs the agreement for the buyer (issue 4; specs/protocol.md, "Assistants")."""
    intent = seal(_intent().model_copy(update={"id": "intent-0002", "assistant": ASSISTANT.did}),
                  BUYER)
    scope = Scope(categories=["outdoor.camping.tents"], max_price=Money(amount=20_000,
                  currency=EUR), may_counter=True, may_accept=True)
    link = _delegation(BUYER, ASSISTANT.did, scope, NOW + 60, "link-0001", None)
    offer = seal(Offer(
        id="offer-0002", issued_at=NOW + 1, expires_at=NOW + HOUR, intent_id="intent-0002",
        in_reply_to=digest(intent), sku="TENT-UL2", title="Ultralight 2P tent", quantity=1,
        price=Money(amount=21_900, currency=EUR), terms=VENDOR_TERMS,
    ), VENDOR)
    counter = seal(Counter(
        id="counter-0003", issued_at=NOW + 2, expires_at=NOW + HOUR, intent_id="intent-0002",
        in_reply_to=digest(offer), round=1, price=Money(amount=19_000, currency=EUR),
        delegation=[link],
    ), ASSISTANT)
    price = Money(amount=19_000, currency=EUR)
    accept = seal(Accept(
        id="accept-0002", issued_at=NOW + 3, expires_at=NOW + HOUR, intent_id="intent-0002",
        in_reply_to=digest(counter), price=price, delegation=[link],
    ), ASSISTANT)
    agreement = Agreement(
        id="agreement-0002", issued_at=NOW + 5, expires_at=NOW + 365 * DAY,
        intent_id="intent-0002", intent_hash=digest(intent), offer_hash=digest(offer),
        accept_hash=digest(accept), buyer=BUYER.did, vendor=VENDOR.did, sku="TENT-UL2",
        title="Ultralight 2P tent", quantity=1, price=price, customer_terms=TERMS,
        vendor_terms=VENDOR_TERMS,
        terms_hash=terms_hash(sku="TENT-UL2", quantity=1, price=price, customer=TERMS,
                              vendor=VENDOR_TERMS),
        agent=ASSISTANT.did, delegation=[link], countersign_by=NOW + 125,
    )
    both = cose.add_signature(seal(agreement, VENDOR), ASSISTANT.seed)
    report = seal(Report(
        id="report-0001", issued_at=NOW + 6, expires_at=NOW + 30 * DAY, intent_id="intent-0002",
        kind="note", text="Accepted 190.00 EUR: the best of 2 offers, under the cap of 200.00",
        about=digest(accept),
    ), ASSISTANT)
    # The buyer's own signature where the agreement names an agent: not a party.
    wrong = cose.add_signature(seal(agreement, VENDOR), BUYER.seed)
    return {
        "assisted-intent": intent, "assisted-counter": counter, "assisted-accept": accept,
        "assisted-agreement": both, "report": report, "assisted-agreement-signed-by-buyer": wrong,
    }


def _others() -> dict[str, bytes]:
    reject = seal(Reject(
        id="reject-0001", issued_at=NOW + 1, expires_at=NOW + HOUR, intent_id="intent-0001",
        in_reply_to=bytes(32), reason="Out of stock",
    ), VENDOR)
    withdraw = seal(Withdraw(
        id="withdraw-0001", issued_at=NOW + 1, expires_at=NOW + HOUR, intent_id="intent-0001",
        reason="Found one elsewhere",
    ), BUYER)
    consent = seal(ConsentReceipt(
        id="consent-0001", issued_at=NOW + 10, expires_at=NOW + 365 * DAY,
        agreement_id="agreement-0001", terms_hash=bytes(range(32)), subject=BUYER.did,
        controller=VENDOR.did, fields=["email", "shipping_address"],
        purposes=["receipt", "delivery"], retention_days=30,
    ), BUYER)
    deletion = seal(DeletionReceipt(
        id="deletion-0001", issued_at=NOW + 20, expires_at=NOW + 365 * DAY,
        consent_id="consent-0001", agreement_id="agreement-0001", controller=VENDOR.did,
        fields=["email", "shipping_address"], deleted_at=NOW + 20, cause="revocation",
    ), VENDOR)
    revocation = seal(Revocation(
        id="revocation-0001", issued_at=NOW + 30, expires_at=NOW + 30 * DAY,
        target=bytes(range(32)), target_type="consent", reason="No longer a customer",
    ), BUYER)
    disclosure = seal(Disclosure(
        id="disclosure-0001", issued_at=NOW + 10, expires_at=NOW + 365 * DAY,
        agreement_id="agreement-0001", consent=digest(consent), recipient=VENDOR.did,
        sealed=seal_fields({"email": "ada@example.org"}, VENDOR.did,
                           ephemeral_seed=bytes(range(200, 232))),
    ), BUYER)
    credit = seal(LoyaltyCredit(
        id="credit-0001", issued_at=NOW + 12, expires_at=NOW + 365 * DAY, issuer=VENDOR.did,
        holder=BUYER.did, agreement_id="agreement-0001",
        value=Money(amount=1000, currency=EUR),
    ), VENDOR)
    redemption = seal(Redemption(
        id="redemption-0001", issued_at=NOW + 40, expires_at=NOW + HOUR, credit=digest(credit),
        intent_id="intent-0003", offer=bytes(range(32, 64)),
    ), BUYER)
    return {
        "reject": reject, "withdraw": withdraw, "consent-receipt": consent,
        "disclosure": disclosure, "loyalty-credit": credit, "redemption": redemption,
        "deletion-receipt": deletion, "revocation": revocation,
    }


def _resign(payload: dict[str, Any], key: KeyPair = BUYER) -> bytes:
    return cose.sign1(encode(payload), key.seed)


def _tagged(tag: int, items: list[Any]) -> bytes:
    return cbor2.dumps(cbor2.CBORTag(tag, items))


def envelope_vectors() -> list[dict[str, Any]]:
    from intentcast.protocol.envelope import open as open_envelope

    msgs = {**transcript(), **_others(), **assisted()}
    vectors = []
    for name, raw in msgs.items():
        if name in ("agreement-vendor-only", "assisted-agreement-signed-by-buyer"):
            continue
        vectors.append({"name": name, "hex": raw.hex(), "now": NOW + 60})

    intent = msgs["intent"]
    payload = cbor2.loads(cose.parse(intent).payload)
    protected = encode({1: -8, 4: BUYER.did.encode()})
    sig = BUYER.sign(encode(["Signature1", protected, b"", encode(payload)]))

    def flipped(raw: bytes, index: int) -> bytes:
        out = bytearray(raw)
        out[index] ^= 0x01
        return bytes(out)

    def sign_with(header: dict[int, Any], unprotected: dict[int, Any]) -> bytes:
        prot = encode(header)
        body = encode(payload)
        s = BUYER.sign(encode(["Signature1", prot, b"", body]))
        return _tagged(18, [prot, unprotected, body, s])

    negative: list[tuple[str, bytes, int]] = [
        ("oversized envelope", _tagged(18, [protected, {}, b"\x00" * 70_000, sig]), NOW),
        ("not a COSE structure", encode({"type": "intent"}), NOW),
        ("unknown tag", _tagged(17, [protected, {}, encode(payload), sig]), NOW),
        ("agreement naming an agent, signed by the buyer instead",
         msgs["assisted-agreement-signed-by-buyer"], NOW + 60),
        ("three-element array", _tagged(18, [protected, {}, encode(payload)]), NOW),
        ("detached payload", _tagged(18, [protected, {}, None, sig]), NOW),
        ("alg ES256 instead of EdDSA", sign_with({1: -7, 4: BUYER.did.encode()}, {}), NOW),
        ("alg only in the unprotected header", sign_with({4: BUYER.did.encode()}, {1: -8}), NOW),
        ("unknown critical header", sign_with({1: -8, 2: [99], 4: BUYER.did.encode()}, {}), NOW),
        ("junk under protected header label 100",
         sign_with({1: -8, 4: BUYER.did.encode(), 100: b"junk" * 10}, {}), NOW),
        ("content type in the protected header",
         sign_with({1: -8, 3: 0, 4: BUYER.did.encode()}, {}), NOW),
        ("kid in the unprotected header", sign_with({1: -8}, {4: BUYER.did.encode()}), NOW),
        ("untagged", intent[1:], NOW),
        ("protected header keys out of order", sign_with_header(cbor2.dumps(
            {4: BUYER.did.encode(), 1: -8})), NOW),
        ("payload length not in shortest form", _long_payload_length(intent), NOW),
        ("agreement signatures out of signing order", _swapped(msgs["agreement"]), NOW + 60),
        ("intent living longer than 30 days",
         _resign({**payload, "expires_at": NOW + 30 * DAY + 1}), NOW),
        ("kid that is not a did:key", sign_with({1: -8, 4: b"alice"}, {}), NOW),
        ("signature flipped", flipped(intent, len(intent) - 1), NOW),
        ("payload byte flipped", flipped(intent, 80), NOW),
        ("signed by another key than its kid", _tagged(
            18, [protected, {}, encode(payload), VENDOR.sign(
                encode(["Signature1", protected, b"", encode(payload)]))]), NOW),
        ("payload not deterministic", sign_with_payload(cbor2.dumps(
            dict(reversed(list(payload.items()))))), NOW),
        ("unknown field", _resign({**payload, "loyalty": 1}), NOW),
        ("float version", sign_with_payload(cbor2.dumps({**payload, "v": 1.0}, canonical=False)),
         NOW),
        ("version 2", _resign({**payload, "v": 2}), NOW),
        ("unknown message type", _resign({**payload, "type": "invoice"}), NOW),
        ("price in an unknown currency", _resign({
            **payload, "constraints": {**payload["constraints"],
                                       "max_price": {"amount": 100, "currency": "XYZ"}}}), NOW),
        ("expires before issued", _resign({**payload, "expires_at": NOW - 1}), NOW),
        ("expired", intent, NOW + DAY),
        ("issued too far in the future", intent, NOW - 301),
        ("agreement with one signature", msgs["agreement-vendor-only"], NOW + 60),
        ("agreement signed by a stranger", cose.add_signature(
            msgs["agreement-vendor-only"], ASSISTANT.seed), NOW + 60),
        ("agreement as COSE_Sign1", cose.sign1(
            cose.parse(msgs["agreement"]).payload, VENDOR.seed), NOW + 60),
        ("intent as COSE_Sign", cose.sign_multi(encode(payload), BUYER.seed), NOW),
    ]
    for name, raw, now in negative:
        vectors.append({"name": name, "hex": raw.hex(), "now": now})

    for vector in vectors:
        raw = bytes.fromhex(vector["hex"])
        try:
            verified = open_envelope(raw, now=vector["now"])
        except IntentcastError as exc:
            vector.update(valid=False, reason=exc.reason.value)
            continue
        vector.update(
            valid=True, type=verified.message.type, signers=list(verified.signers),
            digest=verified.digest.hex(),
            message=_hex(cbor2.loads(cose.parse(raw).payload)),
        )
    return vectors


def sign_with_header(prot: bytes) -> bytes:
    """The first intent under exactly this protected header, validly signed."""
    body = cose.parse(transcript()["intent"]).payload
    return _tagged(18, [prot, {}, body, BUYER.sign(encode(["Signature1", prot, b"", body]))])


def _long_payload_length(raw: bytes) -> bytes:
    """The same envelope with its payload's length in the next longer form."""
    body = cose.parse(raw).payload
    short = bytes([0x59]) + len(body).to_bytes(2, "big")
    assert short + body in raw
    return raw.replace(short + body, bytes([0x5A]) + len(body).to_bytes(4, "big") + body)


def _swapped(raw: bytes) -> bytes:
    """A complete agreement with its two signatures in the other order."""
    tag = cbor2.loads(raw)
    protected, unprotected, payload, signatures = tag.value
    return _tagged(98, [protected, dict(unprotected), payload,
                        [list(s) for s in reversed(signatures)]])


def sign_with_payload(body: bytes) -> bytes:
    """An intent envelope over exactly these payload bytes, validly signed."""
    prot = encode({1: -8, 4: BUYER.did.encode()})
    return _tagged(18, [prot, {}, body, BUYER.sign(encode(["Signature1", prot, b"", body]))])


# ------------------------------------------------------------------ delegations


def delegation_vectors() -> list[dict[str, Any]]:
    from intentcast.protocol.envelope import open as open_envelope

    wide = Scope(categories=["outdoor", "food"], max_price=Money(amount=25_000, currency=EUR),
                 may_counter=True, may_accept=True, may_disclose=["postcode", "size"])
    narrow = Scope(categories=["outdoor.camping"], max_price=Money(amount=20_000, currency=EUR),
                   may_counter=True, may_disclose=["size"])
    first = _delegation(BUYER, ASSISTANT.did, wide, NOW + 7 * DAY, "deleg-0001", None)
    second = _delegation(ASSISTANT, HELPER.did, narrow, NOW + DAY, "deleg-0002", first)
    widened = _delegation(ASSISTANT, HELPER.did, Scope(
        categories=["outdoor.camping"], max_price=Money(amount=30_000, currency=EUR)),
        NOW + DAY, "deleg-0003", first)
    revoke_second = seal(Revocation(
        id="revocation-0002", issued_at=NOW + 100, expires_at=NOW + 7 * DAY,
        target=digest(second), target_type="delegation"), BUYER)
    by_outsider = seal(Revocation(
        id="revocation-0003", issued_at=NOW + 100, expires_at=NOW + 7 * DAY,
        target=digest(second), target_type="delegation"), VENDOR)
    unknown = cbor2.loads(cose.parse(second).payload)
    unknown["scope"]["max_quantity"] = 1
    with_unknown = _resign(unknown, ASSISTANT)

    cases: list[tuple[str, list[bytes], list[bytes], int]] = [
        ("one link", [first], [], NOW + 200),
        ("two links, narrowing", [first, second], [], NOW + 200),
        ("links out of order", [second, first], [], NOW + 200),
        ("second link widens the price cap", [first, widened], [], NOW + 200),
        ("second link expired", [first, second], [], NOW + DAY),
        ("not yet valid", [first], [], NOW - 1),
        ("second link revoked by the person", [first, second], [revoke_second], NOW + 200),
        ("revocation by an outsider does not count", [first, second], [by_outsider], NOW + 200),
        ("unknown scope constraint", [first, with_unknown], [], NOW + 200),
    ]
    out = []
    for name, chain, revocations, now in cases:
        known = delegation.Revocations()
        for raw in revocations:
            known.add(open_envelope(raw, now=NOW + 101))
        vector: dict[str, Any] = {
            "name": name, "root": BUYER.did, "now": now,
            "chain": [c.hex() for c in chain], "revocations": [r.hex() for r in revocations],
        }
        try:
            authority = delegation.verify_chain(chain, root=BUYER.did, now=now, revocations=known)
        except IntentcastError as exc:
            vector.update(valid=False, reason=exc.reason.value)
        else:
            vector.update(valid=True, delegate=authority.delegate, chain_dids=list(authority.chain),
                          scope=_hex(authority.scope.model_dump(exclude_none=True)))
        out.append(vector)
    return out


def _delegation(
    issuer: KeyPair, delegate: str, scope: Scope, expires_at: int, id_: str, parent: bytes | None
) -> bytes:
    from intentcast.protocol.messages import Delegation

    return seal(Delegation(
        id=id_, issued_at=NOW, expires_at=expires_at, issuer=issuer.did, delegate=delegate,
        scope=scope, not_before=NOW, nonce=bytes(range(16)) if parent is None else bytes(16),
        parent=None if parent is None else digest(parent),
    ), issuer)


# ------------------------------------------------------------------ terms


def terms_vectors() -> list[dict[str, Any]]:
    strict = CustomerTerms(purposes=["fulfilment", "delivery"], retention_days=30)
    cases = [
        ("compatible", VendorTerms(requests=[
            DataRequest(field="shipping_address", purpose="delivery", retention_days=30)])),
        ("marketing, resale and profiling", VendorTerms(requests=[
            DataRequest(field="email", purpose="marketing", retention_days=365, resale=True,
                        profiling=True)])),
        ("keeps data after revocation", VendorTerms(delete_on_revocation=False)),
    ]
    return [
        {
            "name": name,
            "customer_terms": strict.model_dump(),
            "vendor_terms": vendor.model_dump(),
            "conflicts": [
                {"clause": c.clause, "field": c.field} for c in check(strict, vendor)
            ],
        }
        for name, vendor in cases
    ]


BUILDERS: dict[str, Callable[[], Any]] = {
    "kdf.json": kdf_vectors,
    "did.json": did_vectors,
    "encoding.json": encoding_vectors,
    "envelopes.json": envelope_vectors,
    "delegations.json": delegation_vectors,
    "terms.json": terms_vectors,
}


def build() -> dict[str, str]:
    """File name → file text, exactly as written to specs/vectors/."""
    return {name: json.dumps(fn(), indent=2, ensure_ascii=False) + "\n"
            for name, fn in BUILDERS.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args()
    files = build()
    if args.check:
        stale = [n for n, text in files.items()
                 if not (OUT / n).exists() or (OUT / n).read_text("utf-8") != text]
        for name in stale:
            print(f"stale: specs/vectors/{name}", file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text, "utf-8")
        print(f"wrote specs/vectors/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
