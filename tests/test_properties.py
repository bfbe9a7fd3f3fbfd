"""Property tests: deterministic CBOR, tamper-evidence of sealed envelopes, and that hostile
bytes only ever raise the protocol's own error.

Example counts keep the whole file to a few seconds; `deadline=None` because the first
examples pay for imports and caches.
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parties import NOW, PEER
from vector_files import generator

from intentcast.protocol.encoding import MAX_DEPTH, decode, encode
from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.envelope import seal
from intentcast.protocol.errors import EncodingError, EnvelopeError, IntentcastError, Reason
from intentcast.protocol.identity import KeyPair
from intentcast.protocol.messages import (
    Constraints,
    CustomerTerms,
    Intent,
    Location,
    Money,
    ReplyTo,
)

ENCODING_REASONS = {
    Reason.TOO_LARGE, Reason.MALFORMED_CBOR, Reason.TRAILING_BYTES, Reason.INDEFINITE_LENGTH,
    Reason.DUPLICATE_KEY, Reason.TOO_DEEP, Reason.FLOAT_NOT_ALLOWED, Reason.TYPE_NOT_ALLOWED,
    Reason.NOT_DETERMINISTIC,
}
# What an envelope without a valid signature can be refused for: it never reaches the schema.
PRE_SIGNATURE_REASONS = ENCODING_REASONS | {
    Reason.BAD_STRUCTURE, Reason.BAD_ALGORITHM, Reason.UNKNOWN_CRITICAL_HEADER,
    Reason.BAD_SIGNATURE,
}
PURPOSES = ["fulfilment", "delivery", "receipt", "support", "warranty", "marketing",
            "analytics", "personalisation"]


def attempt(call: Any, *args: Any, **kwargs: Any) -> Any:
    """What `call` returns, or the protocol error it raised; any other exception propagates."""
    try:
        return call(*args, **kwargs)
    except IntentcastError as err:
        return err


def one_line_error(err: IntentcastError) -> None:
    assert isinstance(err.reason, Reason)
    assert err.message.strip()
    assert "\n" not in err.message


# ------------------------------------------------------------------ deterministic CBOR

INTS = st.integers(min_value=-(2**64), max_value=2**64 - 1)
LEAVES = st.one_of(INTS, st.binary(max_size=40), st.text(max_size=30), st.booleans(), st.none())
KEYS = st.one_of(st.text(max_size=10), INTS)


def nested(depth: int) -> st.SearchStrategy[Any]:
    """Values the encoder supports, nested at most `depth` containers deep."""
    if depth == 0:
        return LEAVES
    inner = nested(depth - 1)
    return st.one_of(LEAVES, st.lists(inner, max_size=4),
                     st.dictionaries(KEYS, inner, max_size=4))


VALUES = nested(6)
assert MAX_DEPTH > 6


def typed(value: Any) -> Any:
    """`value` with every scalar tagged by its type, so that True != 1 and b"" != ""."""
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, dict):
        return ("map", {(type(k).__name__, k): typed(v) for k, v in value.items()})
    return (type(value).__name__, value)


def reversed_maps(value: Any) -> Any:
    """The same value with every map's insertion order reversed."""
    if isinstance(value, list):
        return [reversed_maps(v) for v in value]
    if isinstance(value, dict):
        return {k: reversed_maps(v) for k, v in reversed(list(value.items()))}
    return value


def assert_keys_in_bytewise_order(value: Any) -> None:
    """Every map, as a plain decoder sees it, has its keys in RFC 8949 §4.2.1 order."""
    if isinstance(value, list):
        for v in value:
            assert_keys_in_bytewise_order(v)
    elif isinstance(value, dict):
        encoded = [cbor2.dumps(k) for k in value]
        assert encoded == sorted(encoded)
        assert len(set(encoded)) == len(encoded)
        for v in value.values():
            assert_keys_in_bytewise_order(v)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_encode_then_decode_gives_back_the_value(value: Any) -> None:
    data = encode(value)
    back = decode(data)
    assert typed(back) == typed(value)
    assert encode(back) == data


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_encoding_sorts_map_keys_bytewise_whatever_the_insertion_order(value: Any) -> None:
    data = encode(value)
    assert encode(reversed_maps(value)) == data
    assert_keys_in_bytewise_order(cbor2.loads(data))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, LEAVES, min_size=2, max_size=8))
def test_a_map_in_another_key_order_does_not_decode(value: dict[Any, Any]) -> None:
    ordered = encode(value)
    shuffled = cbor2.dumps(dict(sorted(value.items(), key=lambda kv: cbor2.dumps(kv[0]),
                                       reverse=True)))
    assert shuffled != ordered
    with pytest.raises(EncodingError) as info:
        decode(shuffled)
    assert info.value.reason is Reason.NOT_DETERMINISTIC


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 3))
def test_floats_are_refused_by_encode_and_decode(number: float, depth: int) -> None:
    value: Any = number
    for _ in range(depth):
        value = [value]
    with pytest.raises(EncodingError) as info:
        encode(value)
    assert info.value.reason is Reason.FLOAT_NOT_ALLOWED
    with pytest.raises(EncodingError) as info:
        decode(cbor2.dumps(value))
    assert info.value.reason is Reason.FLOAT_NOT_ALLOWED


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(min_value=2**64), st.integers(max_value=-(2**64) - 1)))
def test_integers_beyond_64_bits_are_refused(number: int) -> None:
    with pytest.raises(EncodingError) as info:
        encode({"n": number})
    assert info.value.reason is Reason.TYPE_NOT_ALLOWED
    with pytest.raises(EncodingError) as info:
        decode(cbor2.dumps({"n": number}))
    assert info.value.reason is Reason.TYPE_NOT_ALLOWED


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=120))
def test_decoding_random_bytes_raises_only_encoding_errors(data: bytes) -> None:
    result = attempt(decode, data)
    if isinstance(result, IntentcastError):
        assert isinstance(result, EncodingError)
        assert result.reason in ENCODING_REASONS
        one_line_error(result)
    else:
        # only deterministic CBOR decodes: the value is written back as exactly these bytes
        assert cbor2.dumps(result) == data


@settings(max_examples=300, deadline=None)
@given(VALUES, st.data())
def test_decoding_a_damaged_encoding_raises_only_encoding_errors(value: Any,
                                                                 data: st.DataObject) -> None:
    raw = bytearray(encode(value))
    index = data.draw(st.integers(0, len(raw) - 1), label="index")
    raw[index] = data.draw(st.integers(0, 255), label="byte")
    cut = data.draw(st.integers(0, len(raw)), label="cut")
    for damaged in (bytes(raw), bytes(raw[:cut])):
        result = attempt(decode, damaged)
        if isinstance(result, IntentcastError):
            assert isinstance(result, EncodingError)
            assert result.reason in ENCODING_REASONS
            one_line_error(result)
        else:
            assert cbor2.dumps(result) == damaged


# ------------------------------------------------------------------ sealed envelopes


@st.composite
def signed_intents(draw: st.DrawFn) -> tuple[Intent, KeyPair]:
    key = KeyPair(draw(st.binary(min_size=32, max_size=32), label="seed"))
    issued_at = draw(st.integers(0, 2**39))
    currency = draw(st.sampled_from(["EUR", "USD", "JPY", "BHD"]))
    max_price = draw(st.none() | st.builds(Money, amount=st.integers(0, 10**15),
                                           currency=st.just(currency)))
    location = draw(st.none() | st.just(Location(country="DE", postcode_prefix="10"))
                    | st.builds(Location, lat_e6=st.integers(-90_000_000, 90_000_000),
                                lon_e6=st.integers(-180_000_000, 180_000_000),
                                radius_km=st.integers(1, 1000)))
    terms = CustomerTerms(
        purposes=draw(st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=8, unique=True)),
        retention_days=draw(st.integers(0, 3650)), no_resale=draw(st.booleans()),
        no_profiling=draw(st.booleans()), delete_on_revocation=draw(st.booleans()),
    )
    intent = Intent(
        id=draw(st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True)),
        issued_at=issued_at, expires_at=issued_at + draw(st.integers(1, 30 * 86_400)),
        category=draw(st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,7}", fullmatch=True)),
        description=draw(st.text(max_size=120)),
        constraints=Constraints(max_price=max_price, quantity=draw(st.integers(1, 1_000_000)),
                                location=location),
        disclosed=draw(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True),
                                       st.text(max_size=40), max_size=3)),
        terms=terms,
        reply_to=ReplyTo(peer_id=PEER, addrs=draw(st.lists(
            st.from_regex(r"/[!-~]{1,40}", fullmatch=True), max_size=2))),
    )
    return intent, key


def flip_bit(raw: bytes, bit: int) -> bytes:
    out = bytearray(raw)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=200, deadline=None)
@given(signed_intents(), st.data())
def test_flipping_any_bit_of_a_sealed_intent_never_opens(case: tuple[Intent, KeyPair],
                                                         data: st.DataObject) -> None:
    intent, key = case
    raw = seal(intent, key)
    now = intent.issued_at  # fresh: only tampering can make it fail
    verified = open_envelope(raw, now=now)
    assert verified.message == intent
    assert verified.signer == key.did
    bit = data.draw(st.integers(0, len(raw) * 8 - 1), label="bit")
    with pytest.raises(IntentcastError) as info:
        open_envelope(flip_bit(raw, bit), now=now)
    assert isinstance(info.value, EnvelopeError)
    assert info.value.reason in PRE_SIGNATURE_REASONS
    one_line_error(info.value)


VECTORS = generator()
TRANSCRIPT = VECTORS.transcript()


@pytest.mark.parametrize("name", ["intent", "agreement"])
def test_every_single_bit_flip_of_a_vector_envelope_is_refused(name: str) -> None:
    # Exhaustive, for a COSE_Sign1 and a COSE_Sign: every bit of every byte.
    raw = TRANSCRIPT[name]
    now = VECTORS.NOW + 60
    assert open_envelope(raw, now=now).message.type == name
    for bit in range(len(raw) * 8):
        with pytest.raises(IntentcastError) as info:
            open_envelope(flip_bit(raw, bit), now=now)
        assert info.value.reason in PRE_SIGNATURE_REASONS, (bit, info.value)


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_given_to_open_raise_only_the_protocol_error(data: bytes) -> None:
    with pytest.raises(IntentcastError) as info:
        open_envelope(data, now=NOW)
    assert isinstance(info.value, EnvelopeError)
    assert info.value.reason in PRE_SIGNATURE_REASONS
    one_line_error(info.value)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([None, 18, 98, 17, 0, 2, 24, 55799]),
       st.lists(VALUES, min_size=0, max_size=5))
def test_cose_shaped_garbage_raises_only_the_protocol_error(tag: int | None,
                                                            items: list[Any]) -> None:
    body = encode(items)
    data = body if tag is None else cbor2.dumps(cbor2.CBORTag(tag, cbor2.loads(body)))
    with pytest.raises(IntentcastError) as info:
        open_envelope(data, now=NOW)
    assert info.value.reason in PRE_SIGNATURE_REASONS
    one_line_error(info.value)


@settings(max_examples=150, deadline=None)
@given(signed_intents(), st.data())
def test_damage_to_an_envelope_never_changes_what_it_says(case: tuple[Intent, KeyPair],
                                                          data: st.DataObject) -> None:
    # Some bytes of a COSE envelope are not signed (the tag, which may be dropped, and the
    # unprotected header), so damage may still open; but never as another message or signer.
    intent, key = case
    raw = seal(intent, key)
    start = data.draw(st.integers(0, len(raw) - 1), label="start")
    end = data.draw(st.integers(start, min(len(raw), start + 8)), label="end")
    replacement = data.draw(st.binary(max_size=8), label="replacement")
    damaged = raw[:start] + replacement + raw[end:]
    result = attempt(open_envelope, damaged, now=intent.issued_at)
    if isinstance(result, IntentcastError):
        assert result.reason in PRE_SIGNATURE_REASONS
        one_line_error(result)
    else:
        assert result.message == intent
        assert result.signers == (key.did,)
