"""`envelope.seal` and `envelope.open`: every rejection reason, and the order they are checked in.

Envelopes are real: sealed with Ed25519 keys, or built by hand from CBOR and signed over the
exact Sig_structure of RFC 9052 so that only the one flaw under test is present. The expected
reasons and the order come from specs/protocol.md §4 and §10, not from reading `open` back.
Time is always an explicit integer.
"""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2
import pytest
from parties import BUYER, NOW, PEER, SELLER, STRANGER, TERMS
from vector_files import generator

from intentcast.protocol import cose
from intentcast.protocol.encoding import encode
from intentcast.protocol.envelope import MAX_CLOCK_SKEW, ReplayGuard, Verified, seal
from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.errors import (
    EnvelopeError,
    IntentcastError,
    LocalProtocolError,
    Reason,
    RemoteProtocolError,
)
from intentcast.protocol.identity import KeyPair
from intentcast.protocol.messages import Constraints, Intent, Location, Money, ReplyTo

TTL = 3600
LIMIT = 65_536
EDDSA_HEADER = {1: -8, 4: BUYER.did.encode()}
VECTORS = generator()  # scripts/make_vectors.py: a fixed, complete transcript with an agreement
TRANSCRIPT = VECTORS.transcript()
AGREEMENT_NOW = VECTORS.NOW + 60


def make_intent(
    *, id: str = "intent-0001", issued_at: int = NOW, expires_at: int = NOW + TTL,
    description: str = "Two-person backpacking tent",
) -> Intent:
    return Intent(
        id=id, issued_at=issued_at, expires_at=expires_at,
        category="outdoor.camping.tents", description=description,
        constraints=Constraints(
            max_price=Money(amount=20_000, currency="EUR"),
            location=Location(country="DE", postcode_prefix="10"),
        ),
        disclosed={"size": "2 persons"}, terms=TERMS, reply_to=ReplyTo(peer_id=PEER),
    )


def payload_map(**fields: Any) -> dict[str, Any]:
    """The payload map of a valid intent, as it goes on the wire."""
    raw = cose.parse(seal(make_intent(**fields), BUYER)).payload
    body = cbor2.loads(raw)
    assert isinstance(body, dict)
    return body


def sign_raw(
    body: bytes, *, key: KeyPair = BUYER, header: Any = None,
    unprotected: dict[int, Any] | None = None, tag: int | None = 18,
    signature: Any = None,
) -> bytes:
    """A COSE_Sign1 over exactly `body`, correctly signed over the Sig_structure, unless
    `signature` replaces the signature."""
    protected = encode(EDDSA_HEADER if header is None else header)
    sig = key.sign(cbor2.dumps(["Signature1", protected, b"", body]))
    items = [protected, unprotected or {}, body, sig if signature is None else signature]
    return cbor2.dumps(items if tag is None else cbor2.CBORTag(tag, items))


def resign(body: Any, key: KeyPair = BUYER) -> bytes:
    """A payload map re-encoded deterministically and sealed correctly."""
    return cose.sign1(encode(body), key.seed)


def flip(raw: bytes, index: int) -> bytes:
    out = bytearray(raw)
    out[index] ^= 0x01
    return bytes(out)


def bad_signature(raw: bytes) -> bytes:
    """`raw` with a bit of its last byte flipped: for a COSE_Sign1, inside the signature."""
    return flip(raw, len(raw) - 1)


def refused(
    raw: Any, reason: Reason, *, now: int = NOW, seen: ReplayGuard | None = None, **kw: Any
) -> EnvelopeError:
    """`open` refuses `raw` with `reason`, as a protocol error carrying a one-line sentence."""
    with pytest.raises(IntentcastError) as info:
        open_envelope(raw, now=now, seen=seen, **kw)
    err = info.value
    assert err.reason is reason, f"expected {reason.value}, got {err}"
    assert isinstance(err, EnvelopeError)
    assert isinstance(err, RemoteProtocolError)
    assert isinstance(err.reason, Reason)
    assert isinstance(err.message, str)
    assert err.message.strip(), "the sentence is empty"
    assert "\n" not in err.message
    assert "\r" not in err.message
    assert err.message != reason.value
    assert str(err) == f"{reason.value}: {err.message}"
    return err


# ------------------------------------------------------------------ a valid envelope


def test_a_valid_intent_opens_with_its_message_and_signer() -> None:
    message = make_intent()
    raw = seal(message, BUYER)
    verified = open_envelope(raw, now=NOW)
    assert isinstance(verified, Verified)
    assert verified.message == message
    assert verified.message.type == "intent"
    assert verified.signer == BUYER.did
    assert verified.signers == (BUYER.did,)
    assert verified.digest == hashlib.sha256(raw).digest()
    assert verified.raw == raw


def test_the_signer_is_the_key_that_sealed_not_a_fixed_one() -> None:
    assert open_envelope(seal(make_intent(), SELLER), now=NOW).signer == SELLER.did


def test_sealing_is_deterministic() -> None:
    assert seal(make_intent(), BUYER) == seal(make_intent(), BUYER)


def test_a_sealed_envelope_is_tagged_cose_sign1_with_the_header_of_the_spec() -> None:
    raw = seal(make_intent(), BUYER)
    outer = cbor2.loads(raw)
    assert isinstance(outer, cbor2.CBORTag)
    assert outer.tag == 18
    protected, unprotected, _payload, signature = outer.value
    assert cbor2.loads(protected) == {1: -8, 4: BUYER.did.encode()}
    assert unprotected == {}
    assert len(signature) == 64


def test_an_agreement_signed_by_both_parties_opens() -> None:
    verified = open_envelope(TRANSCRIPT["agreement"], now=AGREEMENT_NOW)
    assert verified.message.type == "agreement"
    assert set(verified.signers) == {VECTORS.BUYER.did, VECTORS.VENDOR.did}


@pytest.mark.parametrize("kind", ["untagged", "kid unprotected", "content type protected",
                                  "critical header it understands", "junk under label 100"])
def test_other_cose_forms_are_correct_cose_but_not_our_envelopes(kind: str) -> None:
    # One message, one byte form: anything but the profile's form is refused on our wire,
    # though `cose.verify_sign1` verifies it under a key the caller knows.
    body = encode(payload_map())
    raw = {
        "untagged": sign_raw(body, tag=None),
        "kid unprotected": sign_raw(body, header={1: -8},
                                    unprotected={4: BUYER.did.encode()}),
        "content type protected": sign_raw(body, header={**EDDSA_HEADER, 3: 60}),
        "critical header it understands": sign_raw(body, header={**EDDSA_HEADER, 2: [4]}),
        "junk under label 100": sign_raw(body, header={**EDDSA_HEADER, 100: b"x" * 60_000}),
    }[kind]
    refused(raw, Reason.BAD_STRUCTURE)
    assert cose.verify_sign1(raw, BUYER.public_key) == body


def test_a_bytearray_is_accepted_like_bytes() -> None:
    raw = seal(make_intent(), BUYER)
    assert open_envelope(bytearray(raw), now=NOW).digest == hashlib.sha256(raw).digest()


# ------------------------------------------------------------------ 1. size


def _envelope_of_size(size: int) -> bytes:
    """A correctly signed intent envelope of exactly `size` bytes (padded by an unknown field)."""
    base = payload_map()
    pad = size - len(resign({**base, "pad": ""}))
    for width in range(pad, pad - 8, -1):
        raw = resign({**base, "pad": "x" * width})
        if len(raw) == size:
            return raw
    raise AssertionError(f"cannot build an envelope of {size} bytes")


def test_an_envelope_over_64_kib_is_too_large() -> None:
    raw = _envelope_of_size(LIMIT + 1)
    refused(raw, Reason.TOO_LARGE)


def test_an_envelope_of_exactly_64_kib_passes_the_size_check() -> None:
    # It is validly signed, so it gets as far as the schema, which refuses the padding field.
    raw = _envelope_of_size(LIMIT)
    refused(raw, Reason.BAD_SCHEMA)


def test_oversized_garbage_is_too_large_not_malformed() -> None:
    refused(b"\xff" * (LIMIT + 1), Reason.TOO_LARGE)


# ------------------------------------------------------------------ 2. structure


def test_something_other_than_bytes_is_bad_structure() -> None:
    refused(seal(make_intent(), BUYER).hex(), Reason.BAD_STRUCTURE)


@pytest.mark.parametrize(("name", "raw", "reason"), [
    ("empty", b"", Reason.MALFORMED_CBOR),
    ("truncated", b"\xd2\x84\x43", Reason.MALFORMED_CBOR),
    ("a stray break byte", b"\xff", Reason.MALFORMED_CBOR),
    ("indefinite-length array", b"\xd2\x9f\x40\xa0\x40\x40\xff", Reason.INDEFINITE_LENGTH),
    ("duplicate key in the unprotected header",
     b"\xd2\x84\x40\xa2\x04\x40\x04\x40\x40\x40", Reason.DUPLICATE_KEY),
    ("a float in the unprotected header",
     cbor2.dumps(cbor2.CBORTag(18, [b"", {5: 1.5}, b"", b""])), Reason.FLOAT_NOT_ALLOWED),
    ("undefined in the unprotected header",
     cbor2.dumps(cbor2.CBORTag(18, [b"", {5: cbor2.undefined}, b"", b""])),
     Reason.TYPE_NOT_ALLOWED),
    ("nesting deeper than 16", b"\xd2\x84\x40\xa1\x05" + b"\x81" * 20 + b"\x00\x40\x40",
     Reason.TOO_DEEP),
])
def test_envelopes_that_are_not_valid_cbor_are_refused_with_the_encoding_reason(
    name: str, raw: bytes, reason: Reason
) -> None:
    refused(raw, reason)


def test_bytes_after_the_envelope_are_refused() -> None:
    refused(seal(make_intent(), BUYER) + b"\x00", Reason.TRAILING_BYTES)


def test_cbor_that_is_not_a_cose_structure_is_bad_structure() -> None:
    refused(encode({"type": "intent"}), Reason.BAD_STRUCTURE)


def test_a_tag_other_than_18_or_98_is_bad_structure() -> None:
    refused(sign_raw(encode(payload_map()), tag=17), Reason.BAD_STRUCTURE)


def test_an_array_of_three_is_bad_structure() -> None:
    protected = encode(EDDSA_HEADER)
    raw = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, encode(payload_map())]))
    refused(raw, Reason.BAD_STRUCTURE)


def test_a_detached_payload_is_bad_structure() -> None:
    raw = seal(make_intent(), BUYER)
    protected, unprotected, _payload, signature = cbor2.loads(raw).value
    refused(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, None, signature])),
            Reason.BAD_STRUCTURE)


def test_a_signature_that_is_not_a_byte_string_is_bad_structure() -> None:
    refused(sign_raw(encode(payload_map()), signature="a" * 64), Reason.BAD_STRUCTURE)


def test_a_protected_header_that_is_not_a_map_is_bad_structure() -> None:
    refused(sign_raw(encode(payload_map()), header=[1, -8]), Reason.BAD_STRUCTURE)


def test_a_tag_inside_the_protected_header_is_bad_structure() -> None:
    header = {**EDDSA_HEADER, 3: cbor2.CBORTag(4321, 1)}
    refused(sign_raw(encode(payload_map()), header=header), Reason.BAD_STRUCTURE)


def test_a_label_in_both_header_buckets_is_bad_structure() -> None:
    raw = sign_raw(encode(payload_map()), unprotected={4: BUYER.did.encode()})
    refused(raw, Reason.BAD_STRUCTURE)


def test_an_envelope_without_a_kid_is_bad_structure() -> None:
    refused(sign_raw(encode(payload_map()), header={1: -8}), Reason.BAD_STRUCTURE)


@pytest.mark.parametrize("kid", [
    b"alice",
    b"did:web:example.com",
    BUYER.did.encode()[:-4],  # truncated key
    BUYER.did.encode()[:-1] + b"0",  # '0' is not base58
    b"\xff\xfe",  # not UTF-8
])
def test_a_kid_that_is_not_a_did_key_is_bad_structure(kid: bytes) -> None:
    refused(sign_raw(encode(payload_map()), header={1: -8, 4: kid}), Reason.BAD_STRUCTURE)


def test_an_empty_critical_headers_list_is_bad_structure() -> None:
    refused(sign_raw(encode(payload_map()), header={**EDDSA_HEADER, 2: []}),
            Reason.BAD_STRUCTURE)


def test_an_intent_inside_a_cose_sign_is_bad_structure() -> None:
    refused(cose.sign_multi(encode(payload_map()), BUYER.seed), Reason.BAD_STRUCTURE)


def test_an_agreement_inside_a_cose_sign1_is_bad_structure() -> None:
    payload = cose.parse(TRANSCRIPT["agreement"]).payload
    refused(cose.sign1(payload, VECTORS.VENDOR.seed), Reason.BAD_STRUCTURE, now=AGREEMENT_NOW)


def test_a_cose_sign_signed_twice_by_the_same_key_is_bad_structure() -> None:
    signed = cose.parse(TRANSCRIPT["agreement-vendor-only"])
    entry = [signed.signatures[0].protected, {}, signed.signatures[0].signature]
    raw = cbor2.dumps(cbor2.CBORTag(98, [b"", {}, signed.payload, [entry, entry]]))
    refused(raw, Reason.BAD_STRUCTURE, now=AGREEMENT_NOW)


def _cose_sign(payload: bytes, keys: list[KeyPair]) -> bytes:
    """A COSE_Sign over `payload` with one correct COSE_Signature per key."""
    entries = []
    for key in keys:
        protected = encode({1: -8, 4: key.did.encode()})
        sig = key.sign(cbor2.dumps(["Signature", b"", protected, b"", payload]))
        entries.append([protected, {}, sig])
    return cbor2.dumps(cbor2.CBORTag(98, [b"", {}, payload, entries]))


def test_a_cose_sign_with_no_signatures_is_bad_structure() -> None:
    payload = cose.parse(TRANSCRIPT["agreement"]).payload
    refused(_cose_sign(payload, []), Reason.BAD_STRUCTURE, now=AGREEMENT_NOW)


def test_a_cose_sign_with_more_than_eight_signatures_is_bad_structure() -> None:
    payload = cose.parse(TRANSCRIPT["agreement"]).payload
    parties = [VECTORS.VENDOR, VECTORS.BUYER]
    strangers = [KeyPair(bytes([0x40 + i]) * 32) for i in range(7)]
    assert open_envelope(_cose_sign(payload, parties), now=AGREEMENT_NOW).signers == (
        VECTORS.VENDOR.did, VECTORS.BUYER.did)
    # eight signers pass the structure check (and fail on the strangers' signatures) ...
    refused(_cose_sign(payload, parties + strangers[:6]), Reason.BAD_SIGNATURE,
            now=AGREEMENT_NOW)
    # ... nine do not
    refused(_cose_sign(payload, parties + strangers), Reason.BAD_STRUCTURE, now=AGREEMENT_NOW)


# ------------------------------------------------------------------ 3. algorithm


@pytest.mark.parametrize(("header", "unprotected"), [
    ({1: -7, 4: BUYER.did.encode()}, {}),  # ES256
    ({1: "EdDSA", 4: BUYER.did.encode()}, {}),
    ({4: BUYER.did.encode()}, {}),  # no algorithm at all
], ids=["es256", "text", "missing"])
def test_an_algorithm_other_than_protected_eddsa_is_refused(
    header: dict[int, Any], unprotected: dict[int, Any]
) -> None:
    refused(sign_raw(encode(payload_map()), header=header, unprotected=unprotected),
            Reason.BAD_ALGORITHM)


def test_eddsa_unprotected_is_a_structure_fault_before_the_algorithm() -> None:
    raw = sign_raw(encode(payload_map()), header={4: BUYER.did.encode()}, unprotected={1: -8})
    refused(raw, Reason.BAD_STRUCTURE)


def test_a_critical_header_is_not_in_our_profile() -> None:
    raw = sign_raw(encode(payload_map()), header={**EDDSA_HEADER, 2: [99], 99: 1})
    refused(raw, Reason.BAD_STRUCTURE)
    with pytest.raises(EnvelopeError) as err:
        cose.verify_sign1(raw, BUYER.public_key)
    assert err.value.reason is Reason.UNKNOWN_CRITICAL_HEADER


# ------------------------------------------------------------------ 4. signature


def test_a_flipped_signature_bit_is_bad_signature() -> None:
    refused(bad_signature(seal(make_intent(), BUYER)), Reason.BAD_SIGNATURE)


def test_a_signature_by_another_key_than_the_kid_is_bad_signature() -> None:
    refused(sign_raw(encode(payload_map()), key=STRANGER), Reason.BAD_SIGNATURE)


def test_a_payload_changed_after_signing_is_bad_signature() -> None:
    raw = seal(make_intent(), BUYER)
    protected, unprotected, _payload, signature = cbor2.loads(raw).value
    other = encode(payload_map(description="Four-person family tent"))
    refused(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, other, signature])),
            Reason.BAD_SIGNATURE)


def test_a_truncated_signature_is_a_structure_fault() -> None:
    raw = seal(make_intent(), BUYER)
    protected, unprotected, payload, signature = cbor2.loads(raw).value
    refused(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, signature[:63]])),
            Reason.BAD_STRUCTURE)


def test_an_agreement_also_signed_by_a_stranger_is_bad_signature() -> None:
    raw = cose.add_signature(TRANSCRIPT["agreement"], STRANGER.seed)
    refused(raw, Reason.BAD_SIGNATURE, now=AGREEMENT_NOW)


# ------------------------------------------------------------------ 5. schema


def test_an_unknown_field_is_bad_schema() -> None:
    err = refused(resign({**payload_map(), "loyalty": 1}), Reason.BAD_SCHEMA)
    assert "loyalty" in err.message


def test_an_unknown_message_type_is_bad_schema() -> None:
    refused(resign({**payload_map(), "type": "invoice"}), Reason.BAD_SCHEMA)


def test_a_field_of_the_wrong_type_is_bad_schema() -> None:
    refused(resign({**payload_map(), "issued_at": str(NOW)}), Reason.BAD_SCHEMA)


def test_a_missing_required_field_is_bad_schema() -> None:
    body = {k: v for k, v in payload_map().items() if k != "reply_to"}
    refused(resign(body), Reason.BAD_SCHEMA)


def test_a_payload_that_is_not_a_map_is_bad_schema() -> None:
    refused(resign(["intent", 1]), Reason.BAD_SCHEMA)


def test_expires_at_not_after_issued_at_is_bad_schema() -> None:
    refused(resign({**payload_map(), "expires_at": NOW}), Reason.BAD_SCHEMA)


def test_money_in_an_unknown_currency_is_bad_schema() -> None:
    body = payload_map()
    body["constraints"] = {**body["constraints"],
                           "max_price": {"amount": 100, "currency": "XYZ"}}
    refused(resign(body), Reason.BAD_SCHEMA)


def test_version_2_is_unsupported() -> None:
    refused(resign({**payload_map(), "v": 2}), Reason.UNSUPPORTED_VERSION)


def test_a_payload_not_in_deterministic_cbor_is_refused() -> None:
    body = payload_map()
    unsorted = cbor2.dumps(dict(reversed(list(body.items()))))
    assert cbor2.loads(unsorted) == body
    refused(sign_raw(unsorted), Reason.NOT_DETERMINISTIC)


def test_a_float_in_the_payload_is_refused() -> None:
    refused(sign_raw(cbor2.dumps({**payload_map(), "v": 1.0})), Reason.FLOAT_NOT_ALLOWED)


def test_a_duplicate_key_in_the_payload_is_refused() -> None:
    body = encode(payload_map())
    # one more entry ("v": 1) than the header says, then the header raised by one
    count = body[0] & 0x1F
    duplicated = bytes([0xA0 | (count + 1)]) + b"\x61v\x01" + body[1:]
    refused(sign_raw(duplicated), Reason.DUPLICATE_KEY)


def test_an_agreement_with_one_signature_is_missing_a_signature() -> None:
    raw = TRANSCRIPT["agreement-vendor-only"]
    refused(raw, Reason.MISSING_SIGNATURE, now=AGREEMENT_NOW)
    partial = open_envelope(raw, now=AGREEMENT_NOW, require_complete=False)
    assert partial.signers == (VECTORS.VENDOR.did,)


def test_only_a_party_may_seal_an_agreement() -> None:
    agreement = open_envelope(TRANSCRIPT["agreement"], now=AGREEMENT_NOW).message
    with pytest.raises(LocalProtocolError) as info:
        seal(agreement, STRANGER)
    assert info.value.reason is Reason.BAD_KEY
    assert info.value.message.strip()


# ------------------------------------------------------------------ 6. freshness


def test_a_message_is_expired_at_its_expires_at() -> None:
    raw = seal(make_intent(), BUYER)
    assert open_envelope(raw, now=NOW + TTL - 1).message.id == "intent-0001"
    refused(raw, Reason.EXPIRED, now=NOW + TTL)
    refused(raw, Reason.EXPIRED, now=NOW + 10 * TTL)


def test_a_message_issued_beyond_the_clock_skew_is_not_yet_valid() -> None:
    raw = seal(make_intent(), BUYER)
    assert MAX_CLOCK_SKEW == 300
    refused(raw, Reason.NOT_YET_VALID, now=NOW - 301)
    refused(raw, Reason.NOT_YET_VALID, now=NOW - 3000)


def test_a_message_issued_within_the_clock_skew_is_accepted() -> None:
    raw = seal(make_intent(), BUYER)
    assert open_envelope(raw, now=NOW - 300).signer == BUYER.did
    assert open_envelope(raw, now=NOW - 1).signer == BUYER.did


def test_the_allowed_skew_is_a_parameter() -> None:
    raw = seal(make_intent(), BUYER)
    refused(raw, Reason.NOT_YET_VALID, now=NOW - 1, max_skew=0)
    assert open_envelope(raw, now=NOW - 1000, max_skew=1000).signer == BUYER.did


def test_a_message_seen_before_is_a_replay() -> None:
    raw = seal(make_intent(), BUYER)
    guard = ReplayGuard()
    assert open_envelope(raw, now=NOW, seen=guard).signer == BUYER.did
    refused(raw, Reason.REPLAY, now=NOW + 1, seen=guard)


def test_the_same_id_under_new_content_is_still_a_replay() -> None:
    guard = ReplayGuard()
    open_envelope(seal(make_intent(), BUYER), now=NOW, seen=guard)
    refused(seal(make_intent(description="A different tent"), BUYER), Reason.REPLAY, seen=guard)


def test_without_a_guard_a_message_opens_again() -> None:
    raw = seal(make_intent(), BUYER)
    assert open_envelope(raw, now=NOW).digest == open_envelope(raw, now=NOW).digest


def test_replay_is_keyed_on_the_signer_as_well_as_the_id() -> None:
    guard = ReplayGuard()
    open_envelope(seal(make_intent(), BUYER), now=NOW, seen=guard)
    # A stranger reusing the id under its own key blocks nothing, and is not blocked.
    assert open_envelope(seal(make_intent(), STRANGER), now=NOW, seen=guard).signer == STRANGER.did
    other_id = seal(make_intent(id="intent-0002"), BUYER)
    assert open_envelope(other_id, now=NOW, seen=guard).message.id == "intent-0002"


def test_a_refused_message_is_not_remembered_by_the_guard() -> None:
    raw = seal(make_intent(), BUYER)
    guard = ReplayGuard()
    refused(raw, Reason.NOT_YET_VALID, now=NOW - 1000, seen=guard)
    refused(bad_signature(raw), Reason.BAD_SIGNATURE, seen=guard)
    assert len(guard) == 0
    assert open_envelope(raw, now=NOW, seen=guard).signer == BUYER.did
    assert len(guard) == 1


# ------------------------------------------------------------------ the order of the checks


def test_size_is_checked_before_the_signature() -> None:
    oversized = bad_signature(_envelope_of_size(LIMIT + 100))
    refused(oversized, Reason.TOO_LARGE)
    # The same flaw in an envelope of the allowed size is found by the signature check.
    refused(bad_signature(_envelope_of_size(LIMIT)), Reason.BAD_SIGNATURE)


def test_size_is_checked_before_structure() -> None:
    refused(encode({"pad": "x" * (LIMIT + 10)}), Reason.TOO_LARGE)


def test_structure_is_checked_before_the_algorithm() -> None:
    es256 = {1: -7, 4: BUYER.did.encode()}
    refused(sign_raw(encode(payload_map()), header=es256, tag=17), Reason.BAD_STRUCTURE)
    protected = encode(es256)
    detached = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, None, b"\x00" * 64]))
    refused(detached, Reason.BAD_STRUCTURE)


def test_the_algorithm_is_checked_before_the_signature() -> None:
    raw = sign_raw(encode(payload_map()), header={1: -7, 4: BUYER.did.encode()},
                   signature=b"\x00" * 64)
    refused(raw, Reason.BAD_ALGORITHM)


def test_the_signature_is_checked_before_the_payload_is_decoded() -> None:
    unsorted = cbor2.dumps(dict(reversed(list(payload_map().items()))))
    refused(bad_signature(sign_raw(unsorted)), Reason.BAD_SIGNATURE)


def test_the_signature_is_checked_before_the_schema() -> None:
    raw = bad_signature(resign({**payload_map(), "loyalty": 1}))
    refused(raw, Reason.BAD_SIGNATURE)
    refused(bad_signature(resign({**payload_map(), "v": 2})), Reason.BAD_SIGNATURE)


def test_the_signature_is_checked_before_expiry() -> None:
    raw = bad_signature(seal(make_intent(), BUYER))
    refused(raw, Reason.BAD_SIGNATURE, now=NOW + 10 * TTL)


def test_the_schema_is_checked_before_expiry() -> None:
    raw = resign({**payload_map(), "loyalty": 1})
    refused(raw, Reason.BAD_SCHEMA, now=NOW + 10 * TTL)


def test_the_schema_is_checked_before_replay() -> None:
    guard = ReplayGuard()
    open_envelope(seal(make_intent(), BUYER), now=NOW, seen=guard)
    same_id_invalid = resign({**payload_map(), "loyalty": 1})
    refused(same_id_invalid, Reason.BAD_SCHEMA, seen=guard)
    # the guard does hold that (signer, id): a schema-valid message with it is a replay
    refused(seal(make_intent(description="Another"), BUYER), Reason.REPLAY, seen=guard)


def test_expiry_is_checked_before_replay() -> None:
    raw = seal(make_intent(), BUYER)
    guard = ReplayGuard()
    open_envelope(raw, now=NOW, seen=guard)
    refused(raw, Reason.EXPIRED, now=NOW + TTL, seen=guard)


def test_not_yet_valid_is_checked_before_replay() -> None:
    raw = seal(make_intent(), BUYER)
    guard = ReplayGuard()
    open_envelope(raw, now=NOW, seen=guard)
    refused(raw, Reason.NOT_YET_VALID, now=NOW - 301, seen=guard)
    refused(raw, Reason.REPLAY, now=NOW - 300, seen=guard)


def test_a_version_of_true_is_not_version_one() -> None:
    body = payload_map()
    body["v"] = True  # CBOR 0xf5; Python's True == 1 must not let it through
    with pytest.raises(EnvelopeError) as err:
        open_envelope(resign(body), now=NOW)
    assert err.value.reason is Reason.UNSUPPORTED_VERSION


# ------------------------------------------------------------------ the guard under attack


def test_a_flood_of_far_future_entries_never_evicts_an_honest_one() -> None:
    # The attack that broke the old guard: fill it with messages that live as long as the
    # protocol allows, then replay an honest message it had to forget to make room.
    guard = ReplayGuard(capacity=1_000)
    honest = seal(make_intent(id="honest-0001"), BUYER)
    open_envelope(honest, now=NOW, seen=guard)
    longest = NOW + 30 * 86_400
    reasons: list[Reason | None] = []
    for i in range(1_500):
        try:
            open_envelope(seal(make_intent(id=f"flood-{i:06d}", expires_at=longest), STRANGER),
                          now=NOW, seen=guard)
            reasons.append(None)
        except EnvelopeError as exc:
            reasons.append(exc.reason)
    assert reasons == [None] * 999 + [Reason.OVERLOADED] * 501
    assert guard.refused == 501
    refused(honest, Reason.REPLAY, now=NOW + 1, seen=guard)  # still remembered
    # Fail closed: a new honest message is refused for now, not let in by forgetting one.
    refused(seal(make_intent(id="honest-0002"), BUYER), Reason.OVERLOADED, seen=guard)
    # Once entries expire there is room again; the forgotten honest one is now just expired.
    refused(honest, Reason.EXPIRED, now=NOW + TTL, seen=guard)
    later = seal(make_intent(id="honest-0003", issued_at=NOW + TTL, expires_at=NOW + 2 * TTL),
                 BUYER)
    assert open_envelope(later, now=NOW + TTL, seen=guard).signer == BUYER.did


def test_one_source_fills_only_its_own_share() -> None:
    guard = ReplayGuard(capacity=100, per_source=10)
    for i in range(10):
        open_envelope(seal(make_intent(id=f"flood-{i:06d}"), STRANGER), now=NOW, seen=guard,
                      source="attacker")
    refused(seal(make_intent(id="flood-000010"), STRANGER), Reason.OVERLOADED, seen=guard,
            source="attacker")
    honest = seal(make_intent(id="honest-0001"), BUYER)
    assert open_envelope(honest, now=NOW, seen=guard, source="friend").signer == BUYER.did
    refused(honest, Reason.REPLAY, seen=guard, source="attacker")  # a replay from anyone
    assert len(guard) == 11


def test_the_guard_holds_each_entry_until_its_message_expires_and_no_longer() -> None:
    guard = ReplayGuard()
    for i in range(50):
        open_envelope(seal(make_intent(id=f"intent-{i:06d}", expires_at=NOW + 10 + i), BUYER),
                      now=NOW, seen=guard)
    guard.prune(NOW + 30)
    assert len(guard) == 29  # the 21 expiring at NOW + 30 or before are gone
    guard.prune(NOW + 60)
    assert len(guard) == 0
