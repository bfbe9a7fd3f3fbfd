"""Inputs the fuzzers (tests/fuzz) found that crashed a decoder, kept as plain cases.

Each one once escaped as something other than the project's own error (a TypeError),
or made a decoder take pathologically long or grow its memory on a small input. Each
now gets the project's error with the reason the spec names. Replay a new one with
`python tests/fuzz/run.py --replay FILE.hex`, then add its hex here with the fix.
"""

from __future__ import annotations

import cbor2
import pytest
from parties import BUYER

from intentcast.agents.conversation.control import ControlError, read_answer, read_request
from intentcast.agents.conversation.data_wire import read_data_answer, read_data_request
from intentcast.protocol import cose, decode, encode, open_envelope, read_stored
from intentcast.protocol.encoding import loads_wellformed
from intentcast.protocol.envelope import parse_message
from intentcast.protocol.errors import MAX_MESSAGE, EncodingError, EnvelopeError, Reason

NOW = 1_800_000_000


def _reason(call: object, *args: object, **kwargs: object) -> Reason:
    assert callable(call)
    with pytest.raises((EncodingError, EnvelopeError)) as info:
        call(*args, **kwargs)
    return info.value.reason


# --- crit (label 2) naming something that is not a label -------------------------------------
# A COSE_Sign1 whose protected header is {1: -8, 2: [[1]], 4: kid} (then [{1: 2}]): checking
# the crit entries against the labels we understand hashed them, and a list or map is not
# hashable (TypeError). RFC 9052 §3.1: crit is a non-empty array of labels (int or text).

CRIT_HOLDS_AN_ARRAY = (
    "d2845842a30127028181010458386469643a6b65793a7a364d6b74554c7564547441734168526567595069"
    "5a363633315256337669763132716434475146387a317842323253a041a058407e9e24f02960bb9566e15a"
    "d842767a7d4b18d1a56c3f3aa9aa04ef1e17fb2cd0f254b54e52bdddfef2e3cf4031fd0d5399f8976e5766"
    "d257cb87b927873dcf0c")
CRIT_HOLDS_A_MAP = (
    "d2845843a301270281a101020458386469643a6b65793a7a364d6b74554c75645474417341685265675950"
    "695a363633315256337669763132716434475146387a317842323253a041a05840ea49592484cc211cefc1"
    "f22a0980a774994ccef23840ca03ce7ea8d621be2bbf45419c8d25ce97e7d0c71bf657ff9c4d21da12a3eb"
    "60d1a082ca095535c7a80a")


@pytest.mark.parametrize("hex_input", [CRIT_HOLDS_AN_ARRAY, CRIT_HOLDS_A_MAP])
def test_crit_entries_that_are_not_labels_are_a_bad_structure(hex_input: str) -> None:
    data = bytes.fromhex(hex_input)
    # verify_sign1 takes any correct COSE_Sign1, crit included: it hashed the entries.
    assert _reason(cose.verify_sign1, data, BUYER.public_key) is Reason.BAD_STRUCTURE
    assert _reason(cose.parse, data) is Reason.BAD_STRUCTURE
    assert _reason(open_envelope, data, now=NOW) is Reason.BAD_STRUCTURE
    assert _reason(read_stored, data) is Reason.BAD_STRUCTURE


# {1: -8, 2: null, 4: kid}: a null crit passed the structure check (it tested `is not None`),
# then the algorithm check iterated over it (TypeError); verify_sign1 took it for no crit.
CRIT_IS_NULL = (
    "d2845840a3012702f60458386469643a6b65793a7a364d6b74554c75645474417341685265675950695a36"
    "3633315256337669763132716434475146387a317842323253a041a05840cc8c84dbd43b68e3dd08901709"
    "e19b1cbf1144f4d388b4c808319d170fa7b8816c4c949c017811ded18d94701e1df9f8c1f0a99f7e8b1734"
    "7fb03b49e6377405")
# An unprotected header {5: 0, "x": 0}: naming its labels sorted an int against a text.
UNPROTECTED_LABELS_OF_TWO_KINDS = "d28443a10127a205006178004040"


@pytest.mark.parametrize("hex_input", [CRIT_IS_NULL, UNPROTECTED_LABELS_OF_TWO_KINDS])
def test_odd_headers_found_by_the_fuzzer_are_a_bad_structure(hex_input: str) -> None:
    data = bytes.fromhex(hex_input)
    assert _reason(cose.parse, data) is Reason.BAD_STRUCTURE
    assert _reason(open_envelope, data, now=NOW) is Reason.BAD_STRUCTURE


def test_a_null_crit_is_a_bad_structure_for_any_cose_sign1() -> None:
    data = bytes.fromhex(CRIT_IS_NULL)
    assert _reason(cose.verify_sign1, data, BUYER.public_key) is Reason.BAD_STRUCTURE


# --- a message type that is not text ---------------------------------------------------------
# {"v": 1, "type": {}, "id": "intent-0001"}: the type was looked up in a dict of the message
# types, and a map (or an array) is not hashable (TypeError), after the signature held.

TYPE_IS_A_MAP = "a36176016269646b696e74656e742d303030316474797065a0"
TYPE_IS_AN_ARRAY = "a261760164747970658166696e74656e74"


@pytest.mark.parametrize("hex_payload", [TYPE_IS_A_MAP, TYPE_IS_AN_ARRAY])
def test_a_type_that_is_not_text_is_a_bad_schema(hex_payload: str) -> None:
    payload = bytes.fromhex(hex_payload)
    assert _reason(parse_message, payload) is Reason.BAD_SCHEMA
    signed = cose.sign1(payload, BUYER.seed)
    assert _reason(open_envelope, signed, now=NOW) is Reason.BAD_SCHEMA
    assert _reason(read_stored, signed) is Reason.BAD_SCHEMA



# --- a peer's value shown in full in the error -----------------------------------------------
# {"v": h'00' * 4096, ...}: the error repeated the peer's value (`protocol version b'\\x00...`),
# 16,408 characters here and up to 4 times the payload's 64 KiB: a peer chose the length of
# the line an agent logs and shows. An error is one line of at most MAX_MESSAGE characters.

VERSION_IS_4_KIB = "a2617659100000" + "00" * 4095 + "6474797065666f6666657273"
TYPE_IS_1000_CHARACTERS = "a2617601647479706579" + "03e8" + "78" * 1000


@pytest.mark.parametrize(("hex_payload", "reason"), [
    (VERSION_IS_4_KIB, Reason.UNSUPPORTED_VERSION),
    (TYPE_IS_1000_CHARACTERS, Reason.BAD_SCHEMA),
])
def test_an_error_never_shows_a_peers_value_in_full(hex_payload: str, reason: Reason) -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_message(bytes.fromhex(hex_payload))
    assert info.value.reason is reason
    assert len(info.value.message) <= MAX_MESSAGE
    assert len(str(info.value)) <= MAX_MESSAGE + len(reason.value) + 2



# A withdraw with one more key, "x\nINFO all good": the schema error named the key as it
# came, so a peer could end our error line and start a forged one in the log.
NEWLINE_IN_A_KEY = (
    "a86176016269646d77697468647261772d30303031647479706568776974686472617766726561736f6e61"
    "7869696e74656e745f69646b696e74656e742d30303031696973737565645f6174016a657870697265735f"
    "6174026f780a494e464f20616c6c20676f6f6401")


def test_an_error_is_one_line_whatever_a_peer_put_in_a_key() -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_message(bytes.fromhex(NEWLINE_IN_A_KEY))
    assert info.value.reason is Reason.BAD_SCHEMA
    assert "\n" not in info.value.message
    assert "\n" not in str(info.value)
    assert info.value.message.startswith("x\\nINFO all good: ")


# --- shared values (tags 28 and 29) ----------------------------------------------------------
# cbor2 resolves value sharing while it decodes, so every reference to a shared array is
# the whole array again: six levels of thirty references (475 bytes) stood for 30^5 arrays,
# which decode walked for 12 s and loads_wellformed copied for 31 s (and memory), before
# refusing or accepting. Seven levels would have taken hours. A tag is refused as a tag.


def _shared_levels(levels: int, refs: int) -> bytes:
    """[28([1]), 28([29(0) x refs]), 28([29(1) x refs]), ...]: each level names the last."""
    items = [b"\xd8\x1c\x81\x01"]
    for level in range(1, levels):
        ref = b"\xd8\x1d" + cbor2.dumps(level - 1)
        items.append(b"\xd8\x1c\x98" + bytes([refs]) + ref * refs)
    return b"\x98" + bytes([len(items)]) + b"".join(items)


SHARED_TWICE = "82d81c8101d81d00"  # [28([1]), 29(0)]: [[1], [1]] once resolved


def test_a_shared_value_is_refused_as_a_tag_not_resolved() -> None:
    data = bytes.fromhex(SHARED_TWICE)
    assert _reason(decode, data) is Reason.TYPE_NOT_ALLOWED
    assert _reason(loads_wellformed, data, allow_tags=False) is Reason.TYPE_NOT_ALLOWED
    # Inside COSE, where tags are carried, the references stay references.
    kept = loads_wellformed(data, allow_tags=True)
    assert kept == [cbor2.CBORTag(28, [1]), cbor2.CBORTag(29, 0)]


def test_shared_values_cannot_make_a_small_input_a_huge_tree() -> None:
    data = _shared_levels(6, 30)
    assert len(data) < 500
    assert _reason(decode, data) is Reason.TYPE_NOT_ALLOWED
    assert _reason(loads_wellformed, data, allow_tags=False) is Reason.TYPE_NOT_ALLOWED
    assert loads_wellformed(data, allow_tags=True)[0] == cbor2.CBORTag(28, [1])
    # In an envelope's unprotected header, where cose.parse thaws tagged content.
    envelope = cbor2.dumps(cbor2.CBORTag(18, [b"", {5: cbor2.loads(
        data, semantic_decoders={28: lambda v, _i: cbor2.CBORTag(28, v),
                                 29: lambda v, _i: cbor2.CBORTag(29, v)})}, b"", b""]))
    assert _reason(cose.parse, envelope) is Reason.BAD_STRUCTURE


# --- string references (tags 256 and 25) -----------------------------------------------------
# 256([text, 25(0), 25(0), ...]): every 3-byte reference is the whole text again. A 63 KB
# input of one 30 KB text and 11,000 references passed the checks (texts are leaves), then
# decode's re-encoding wrote all of them out: 330 MB, 2 s and 665 MB of memory per input.

STRINGREF_TWICE = "d901008263616263d81900"  # 256(["abc", 25(0)]): ["abc", "abc"] once resolved


def _stringrefs(text_size: int, refs: int) -> bytes:
    return (b"\xd9\x01\x00\x99" + (refs + 1).to_bytes(2, "big")
            + cbor2.dumps("a" * text_size) + b"\xd8\x19\x00" * refs)


def test_a_string_reference_is_refused_as_a_tag_not_resolved() -> None:
    data = bytes.fromhex(STRINGREF_TWICE)
    assert _reason(decode, data) is Reason.TYPE_NOT_ALLOWED
    kept = loads_wellformed(data, allow_tags=True)
    assert kept == cbor2.CBORTag(256, ["abc", cbor2.CBORTag(25, 0)])


def test_string_references_cannot_make_a_small_input_a_huge_text() -> None:
    data = _stringrefs(30_000, 11_000)
    assert len(data) < 64 * 1024
    assert _reason(decode, data) is Reason.TYPE_NOT_ALLOWED


# --- tags cbor2 would turn into values ---------------------------------------------------------
# A decimal fraction (tag 4) with a 64 KB bignum mantissa made cbor2 build a Decimal, which
# is quadratic in the digits: 0.36 s of one core per 64 KiB envelope, before any signature
# was checked. No tag is decoded into a value any more; each is refused as a tag.


def test_a_decimal_with_a_huge_mantissa_is_refused_as_a_tag() -> None:
    data = b"\xc4\x82\x3a\x7f\xff\xff\xff\xc2\x59\xfa\x00" + b"\x01" * 64_000
    assert _reason(decode, data) is Reason.TYPE_NOT_ALLOWED
    assert loads_wellformed(data, allow_tags=True).tag == 4


def test_every_tag_cbor2_would_turn_into_a_value_is_kept_as_a_tag() -> None:
    # A cbor2 that decodes one more tag into a value fails here: add it to SEMANTIC_TAGS.
    for tag in [*range(65_536), 2**32 - 1, 2**64 - 1]:
        kept = loads_wellformed(cbor2.dumps(cbor2.CBORTag(tag, 0)), allow_tags=True)
        assert kept == cbor2.CBORTag(tag, 0), f"cbor2 decodes tag {tag} into {kept!r}"


# --- control frames: the same, for ControlError -------------------------------------------
# {"op": "x\n" * 600}: pydantic quoted the unknown tag in full (1,200 characters, newlines
# and all), and a hello with a key "a\nINFO forged" named it as it came. An assistant also
# raises ControlError with the daemon's own error text. One line, bounded, whatever a peer
# sends.

HELLO_WITH_A_NEWLINE_IN_A_KEY = "a3626f706568656c6c6f656772616e74406d610a494e464f20666f7267656401"


@pytest.mark.parametrize("frame", [
    encode({"op": "x\n" * 600}),
    bytes.fromhex(HELLO_WITH_A_NEWLINE_IN_A_KEY),
])
def test_a_control_error_is_one_bounded_line(frame: bytes) -> None:
    for read in (read_request, read_answer, read_data_request, read_data_answer):
        with pytest.raises(ControlError) as info:
            read(frame)
        assert "\n" not in str(info.value)
        assert len(str(info.value)) <= MAX_MESSAGE
    assert str(ControlError("no such grant\nINFO forged")) == "no such grant\\nINFO forged"


def test_the_schema_fast_path_resolves_no_tag_either() -> None:
    # decode_for_schema tries plain cbor2 first: it resolved the 20^5 shared arrays of a
    # 329-byte payload and wrote (7 MB, 6 s) them all out again before the exact path refused.
    import tracemalloc

    from intentcast.protocol.encoding import decode_for_schema

    payload = b"\xa1\x61x" + _shared_levels(6, 20)
    tracemalloc.start()
    try:
        assert _reason(decode_for_schema, payload) is Reason.TYPE_NOT_ALLOWED
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"{peak} bytes to refuse {len(payload)}"
    assert _reason(parse_message, payload) is Reason.TYPE_NOT_ALLOWED
