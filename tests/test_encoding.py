"""protocol.encoding: deterministic CBOR (RFC 8949 §4.2.1) and its strict decoder.

Every bad input below is written out by hand as hex, with what it is, so a test
never depends on an encoder to produce the bytes it expects the decoder to refuse.
The reasons are those of specs/protocol.md §3.
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentcast.protocol.encoding import MAX_DEPTH, MAX_SIZE, decode, encode, loads_wellformed
from intentcast.protocol.errors import EncodingError, IntentcastError, Reason, RemoteProtocolError


def _refused(data: bytes | str, **kwargs: Any) -> Reason:
    """Decode strictly and return the reason of the `EncodingError` it must raise."""
    raw = bytes.fromhex(data) if isinstance(data, str) else data
    with pytest.raises(EncodingError) as err:
        decode(raw, **kwargs)
    return err.value.reason


def test_encoding_errors_are_remote_protocol_errors_with_a_reason() -> None:
    with pytest.raises(EncodingError) as err:
        decode(bytes.fromhex("1817"))
    assert isinstance(err.value, RemoteProtocolError)
    assert isinstance(err.value, IntentcastError)
    assert err.value.reason is Reason.NOT_DETERMINISTIC
    assert str(err.value).startswith("not_deterministic: ")


# --- not in deterministic form --------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("1800", id="0 with a 1-byte argument (shortest: 00)"),
        pytest.param("1817", id="23 with a 1-byte argument (shortest: 17)"),
        pytest.param("190018", id="24 with a 2-byte argument (shortest: 18 18)"),
        pytest.param("1900ff", id="255 with a 2-byte argument (shortest: 18 ff)"),
        pytest.param("1a0000ffff", id="65535 with a 4-byte argument (shortest: 19 ffff)"),
        pytest.param("1b00000000ffffffff", id="2**32-1 with an 8-byte argument"),
        pytest.param("1b0000000000000001", id="1 with an 8-byte argument"),
        pytest.param("3800", id="-1 with a 1-byte argument (shortest: 20)"),
        pytest.param("390018", id="-25 with a 2-byte argument (shortest: 38 18)"),
        pytest.param("580161", id="bstr of length 1 with a 1-byte length (shortest: 41 61)"),
        pytest.param("59000161", id="bstr of length 1 with a 2-byte length"),
        pytest.param("780161", id="tstr 'a' with a 1-byte length (shortest: 61 61)"),
        pytest.param("98020102", id="array [1, 2] with a 1-byte length (shortest: 82 01 02)"),
        pytest.param("b8010102", id="map {1: 2} with a 1-byte length (shortest: a1 01 02)"),
        pytest.param("82181701", id="[23, 1] with 23 in long form inside an array"),
    ],
)
def test_non_shortest_integers_and_lengths_are_not_deterministic(data: str) -> None:
    assert _refused(data) is Reason.NOT_DETERMINISTIC


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("a202010101", id="{2: 1, 1: 1}: integer keys descending"),
        pytest.param("a2616201616101", id='{"b": 1, "a": 1}: text keys descending'),
        pytest.param("a2616101" "0102", id='{"a": 1, 1: 2}: text key before int'),
        pytest.param("a220010102", id="{-1: 1, 1: 2}: negative (0x20) before positive (0x01)"),
        pytest.param("a262616101" "616202", id='{"aa": 1, "b": 2}: long before short'),
        # RFC 7049 length-first order puts -1 (20) before 24 (18 18); RFC 8949 bytewise does not.
        pytest.param("a22001181802", id="{-1: 1, 24: 2}: length-first (RFC 7049) order"),
        pytest.param("a16178a2616201616101", id='{"x": {"b": 1, "a": 1}}: unsorted nested map'),
    ],
)
def test_map_keys_out_of_bytewise_order_are_not_deterministic(data: str) -> None:
    assert _refused(data) is Reason.NOT_DETERMINISTIC


def test_bytewise_order_that_length_first_order_would_reject_is_accepted() -> None:
    # {24: 2, -1: 1}: 18 18 sorts before 20 bytewise, although it is the longer key.
    assert decode(bytes.fromhex("a21818022001")) == {24: 2, -1: 1}


# --- duplicate keys, indefinite lengths, floats ---------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("a201010102", id="{1: 1, 1: 2}"),
        pytest.param("a2616101616102", id='{"a": 1, "a": 2}'),
        pytest.param("a2616101616101", id='{"a": 1, "a": 1}: same key, same value'),
        pytest.param("81a201010102", id="[{1: 1, 1: 2}]: duplicate in a nested map"),
    ],
)
def test_duplicate_map_keys_are_refused(data: str) -> None:
    assert _refused(data) is Reason.DUPLICATE_KEY


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("5f4161ff", id="bstr (_ h'61')"),
        pytest.param("5f41614162ff", id="bstr in two chunks (_ h'61', h'62')"),
        pytest.param("5fff", id="empty indefinite bstr"),
        pytest.param("7f6161ff", id="tstr (_ 'a')"),
        pytest.param("7fff", id="empty indefinite tstr"),
        pytest.param("9f01ff", id="array [_ 1]"),
        pytest.param("9fff", id="empty indefinite array"),
        pytest.param("bf0101ff", id="map {_ 1: 1}"),
        pytest.param("bfff", id="empty indefinite map"),
        pytest.param("819f01ff", id="[[_ 1]]: nested indefinite array"),
    ],
)
def test_indefinite_length_items_are_refused(data: str) -> None:
    assert _refused(data) is Reason.INDEFINITE_LENGTH


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("f93c00", id="half 1.0"),
        pytest.param("f90000", id="half 0.0"),
        pytest.param("f97e00", id="half NaN"),
        pytest.param("fa3f800000", id="single 1.0"),
        pytest.param("fb3ff0000000000000", id="double 1.0"),
        pytest.param("fbc010666666666666", id="double -4.1"),
        pytest.param("81f93c00", id="[1.0]: half inside an array"),
        pytest.param("a16161fa3f800000", id='{"a": 1.0}: single as a map value'),
    ],
)
def test_floats_of_every_width_are_refused(data: str) -> None:
    assert _refused(data) is Reason.FLOAT_NOT_ALLOWED


# --- types outside the intentcast subset ----------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("c11a514b67b0", id="tag 1 (epoch time) around 1363896240"),
        pytest.param("c074323031332d30332d32315432303a30343a30305a", id="tag 0 (date text)"),
        pytest.param("d818410a", id="tag 24 (embedded CBOR) around h'0a'"),
        pytest.param("c249010000000000000000", id="tag 2 bignum 2**64, past 64 bits"),
        pytest.param("c349010000000000000000", id="tag 3 bignum -2**64-1, past 64 bits"),
        pytest.param("f7", id="undefined"),
        pytest.param("e0", id="simple value 0"),
        pytest.param("a1410101", id="{h'01': 1}: byte-string map key"),
        pytest.param("a1f501", id="{true: 1}: boolean map key"),
        pytest.param("a1f601", id="{null: 1}: null map key"),
    ],
)
def test_tags_simple_values_and_odd_keys_are_refused(data: str) -> None:
    assert _refused(data) is Reason.TYPE_NOT_ALLOWED


@pytest.mark.parametrize(
    ("data", "value"),
    [
        pytest.param("1bffffffffffffffff", 2**64 - 1, id="2**64-1, the largest unsigned"),
        pytest.param("3bffffffffffffffff", -(2**64), id="-2**64, the smallest negative"),
        pytest.param("f4", False, id="false"),
        pytest.param("f5", True, id="true"),
        pytest.param("f6", None, id="null"),
    ],
)
def test_integers_at_the_64_bit_limits_and_simple_literals_are_accepted(
    data: str, value: object
) -> None:
    decoded = decode(bytes.fromhex(data))
    assert decoded == value
    assert type(decoded) is type(value)


# --- nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("81" * 16 + "00", id="16 arrays around 0"),
        pytest.param("81" * 15 + "80", id="15 arrays around an empty array (16 deep)"),
        pytest.param("a10a" * 16 + "00", id="16 maps {10: ...} around 0"),
        pytest.param("81a10a" * 8 + "00", id="arrays and maps alternating, 16 deep"),
    ],
)
def test_nesting_exactly_at_the_limit_is_accepted(data: str) -> None:
    assert MAX_DEPTH == 16
    assert encode(decode(bytes.fromhex(data))) == bytes.fromhex(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("81" * 17 + "00", id="17 arrays around 0"),
        pytest.param("81" * 17 + "20", id="17 arrays around -1"),
        pytest.param("a10a" * 17 + "00", id="17 maps {10: ...} around 0"),
        pytest.param("81" * 17 + "80", id="17 arrays around an empty array (18 deep)"),
        pytest.param("81" * 18 + "f6", id="18 arrays around null"),
        pytest.param("81" * 1000 + "00", id="1000 arrays around 0"),
        pytest.param("a10a" * 1000 + "00", id="1000 maps around 0"),
    ],
)
def test_nesting_deeper_than_the_limit_is_refused(data: str) -> None:
    assert _refused(data) is Reason.TOO_DEEP


# --- size, trailing bytes, empty and truncated input ----------------------------------------


def test_input_exactly_at_the_size_limit_is_accepted() -> None:
    # bstr with a 2-byte length 0xfffd: 3 header bytes + 65,533 content bytes = 65,536.
    data = bytes.fromhex("59fffd") + b"x" * 0xFFFD
    assert len(data) == MAX_SIZE == 65536
    assert decode(data) == b"x" * 0xFFFD


def test_input_over_the_size_limit_is_refused() -> None:
    # bstr with a 2-byte length 0xfffe: 3 + 65,534 = 65,537 bytes, otherwise deterministic.
    data = bytes.fromhex("59fffe") + b"x" * 0xFFFE
    assert _refused(data) is Reason.TOO_LARGE


def test_size_is_checked_before_anything_else() -> None:
    # 65,537 bytes of 0xff (lone "break" codes): garbage, but too large first.
    assert _refused(b"\xff" * (MAX_SIZE + 1)) is Reason.TOO_LARGE


def test_the_size_limit_can_be_lowered_per_call() -> None:
    data = "43010203"  # h'010203': 4 bytes in all
    assert _refused(data, max_size=3) is Reason.TOO_LARGE
    assert decode(bytes.fromhex(data), max_size=4) == b"\x01\x02\x03"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("0000", id="0 then 0"),
        pytest.param("a0a0", id="{} then {}"),
        pytest.param("820102ff", id="[1, 2] then a break code"),
        pytest.param("4161" "00", id="h'61' then 0"),
    ],
)
def test_trailing_bytes_are_refused(data: str) -> None:
    assert _refused(data) is Reason.TRAILING_BYTES


def test_empty_input_is_refused() -> None:
    assert _refused(b"") is Reason.MALFORMED_CBOR


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("19", id="uint with a 2-byte argument, argument missing"),
        pytest.param("1901", id="uint with a 2-byte argument, 1 byte given"),
        pytest.param("1b00000000", id="uint with an 8-byte argument, 4 bytes given"),
        pytest.param("6261", id="tstr of length 2, 1 byte given"),
        pytest.param("4301", id="bstr of length 3, 1 byte given"),
        pytest.param("5a0001", id="bstr with a 4-byte length, length cut short"),
        pytest.param("8201", id="array of 2, 1 item given"),
        pytest.param("a101", id="map of 1, value missing"),
        pytest.param("d8", id="tag with a 1-byte number, number missing"),
        pytest.param("5bffffffffffffffff", id="bstr claiming 2**64-1 bytes, none given"),
    ],
)
def test_truncated_input_is_malformed(data: str) -> None:
    assert _refused(data) is Reason.MALFORMED_CBOR


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("ff", id="a lone break code"),
        pytest.param("1c", id="reserved additional information 28"),
        pytest.param("62c328", id="tstr that is not UTF-8"),
        pytest.param("f818", id="simple value 24 in two bytes (not well-formed)"),
    ],
)
def test_ill_formed_input_is_malformed(data: str) -> None:
    assert _refused(data) is Reason.MALFORMED_CBOR


def test_non_bytes_input_is_refused_with_the_project_error() -> None:
    with pytest.raises(EncodingError) as err:
        decode("a0")  # type: ignore[arg-type]
    assert err.value.reason is Reason.MALFORMED_CBOR


# --- encode: canonical order and round trips ------------------------------------------------


def test_encode_orders_map_keys_bytewise_by_their_encoding() -> None:
    value = {"bb": 1, "a": 2, -1: 3, 24: 4, 1: 5, -25: 6, 256: 7}
    # 01 < 18 18 < 19 01 00 < 20 < 38 18 < 61 61 < 62 62 62, compared byte by byte.
    # (RFC 7049's length-first order would put 20 and 38 18 ahead of 19 01 00.)
    expected = "a7" "0105" "181804" "19010007" "2003" "381806" "616102" "62626201"
    assert encode(value).hex() == expected


def test_encode_does_not_depend_on_insertion_order() -> None:
    forward = {1: "x", "k": [{"b": 1, "a": 2}], -5: b""}
    backward = {-5: b"", "k": [{"a": 2, "b": 1}], 1: "x"}
    assert encode(forward) == encode(backward)
    # {1: "x", -5: h'', "k": [{"a": 2, "b": 1}]}: nested map sorted too.
    assert encode(forward).hex() == "a3" "016178" "2440" "616b" "81a2616102616201"


def test_encode_output_is_accepted_by_the_strict_decoder() -> None:
    value = {"z": 1, "y": {"b": [1, 2, {"d": None, "c": True}], "a": b"\x00"}, 7: "seven"}
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@pytest.mark.parametrize(
    ("value", "data"),
    [
        (0, "00"),
        (1, "01"),
        (23, "17"),
        (24, "1818"),
        (255, "18ff"),
        (256, "190100"),
        (65535, "19ffff"),
        (65536, "1a00010000"),
        (2**32 - 1, "1affffffff"),
        (2**32, "1b0000000100000000"),
        (2**64 - 1, "1bffffffffffffffff"),
        (-1, "20"),
        (-24, "37"),
        (-25, "3818"),
        (-256, "38ff"),
        (-257, "390100"),
        (-(2**32) - 1, "3b0000000100000000"),
        (-(2**64), "3bffffffffffffffff"),
    ],
)
def test_integers_round_trip_in_shortest_form(value: int, data: str) -> None:
    assert encode(value).hex() == data
    assert decode(bytes.fromhex(data)) == value


@pytest.mark.parametrize(
    ("value", "data"),
    [
        (b"", "40"),
        (b"\x01\x02\x03", "43010203"),
        (b"\x00" * 24, "5818" + "00" * 24),
        (b"\xff" * 256, "590100" + "ff" * 256),
        ("", "60"),
        ("a", "6161"),
        ("ü", "62c3bc"),
        ("x" * 24, "7818" + "78" * 24),
        ([], "80"),
        ([1, [2, 3], [[b"a"]]], "830182020381814161"),
        ({}, "a0"),
        ({"a": {"b": [1, {"c": "d"}]}}, "a16161a161628201a161636164"),
        ([True, False, None], "83f5f4f6"),
    ],
)
def test_bytes_text_and_containers_round_trip(value: object, data: str) -> None:
    assert encode(value).hex() == data
    assert decode(bytes.fromhex(data)) == value


def test_tuples_encode_as_arrays() -> None:
    assert encode((1, (2, 3))) == encode([1, [2, 3]]) == bytes.fromhex("8201820203")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1.0, Reason.FLOAT_NOT_ALLOWED),
        ([0.5], Reason.FLOAT_NOT_ALLOWED),
        ({"a": float("nan")}, Reason.FLOAT_NOT_ALLOWED),
        (2**64, Reason.TYPE_NOT_ALLOWED),
        (-(2**64) - 1, Reason.TYPE_NOT_ALLOWED),
        ({2**64: 1}, Reason.TYPE_NOT_ALLOWED),
        ({True: 1}, Reason.TYPE_NOT_ALLOWED),
        ({b"k": 1}, Reason.TYPE_NOT_ALLOWED),
        ({1, 2}, Reason.TYPE_NOT_ALLOWED),
        (cbor2.undefined, Reason.TYPE_NOT_ALLOWED),
        (object(), Reason.TYPE_NOT_ALLOWED),
    ],
)
def test_encode_refuses_what_decode_would_refuse(value: object, reason: Reason) -> None:
    with pytest.raises(EncodingError) as err:
        encode(value)
    assert err.value.reason is reason


def test_encode_refuses_nesting_deeper_than_the_limit() -> None:
    value: list[Any] = []
    for _ in range(MAX_DEPTH + 1):
        value = [value]
    with pytest.raises(EncodingError) as err:
        encode(value)
    assert err.value.reason is Reason.TOO_DEEP


# --- tags: only where COSE needs them --------------------------------------------------------


def test_tags_round_trip_through_the_cose_decoder() -> None:
    # COSE_Sign1 (tag 18) and COSE_Sign (tag 98) shapes, header map given out of order.
    sign1 = cbor2.CBORTag(18, [b"\xa0", {}, b"p", b"s"])
    sign = cbor2.CBORTag(98, [b"", {4: b"k", 1: -8}, b"p", [[b"", {}, b"s"]]])
    assert encode(sign1).hex() == "d28441a0a041704173"
    assert encode(sign).hex() == "d8628440a2012704416b4170818340a04173"
    assert loads_wellformed(encode(sign1), allow_tags=True) == sign1
    back = loads_wellformed(encode(sign), allow_tags=True)
    assert back == cbor2.CBORTag(98, [b"", {1: -8, 4: b"k"}, b"p", [[b"", {}, b"s"]]])
    assert encode(back) == encode(sign)


def test_tags_are_refused_where_the_decoder_does_not_allow_them() -> None:
    data = bytes.fromhex("d28441a0a041704173")  # 18([h'a0', {}, h'70', h'73'])
    with pytest.raises(EncodingError) as err:
        loads_wellformed(data, allow_tags=False)
    assert err.value.reason is Reason.TYPE_NOT_ALLOWED
    assert _refused(data) is Reason.TYPE_NOT_ALLOWED


def test_the_cose_decoder_still_refuses_floats_inside_tags() -> None:
    data = bytes.fromhex("d281f93c00")  # 18([1.0])
    with pytest.raises(EncodingError) as err:
        loads_wellformed(data, allow_tags=True)
    assert err.value.reason is Reason.FLOAT_NOT_ALLOWED


# --- property: everything encode makes, decode gives back ------------------------------------

_leaves = (
    st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20)
    | st.booleans()
    | st.none()
)
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.integers(min_value=-(2**64), max_value=2**64 - 1) | st.text(max_size=8),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(_values)
def test_encode_then_decode_is_the_identity(value: Any) -> None:
    data = encode(value)
    back = decode(data)
    assert back == value
    assert encode(back) == data


@pytest.mark.parametrize("innermost", ["f6", "60", "40", "f5", "80", "a0"])
def test_depth_counts_containers_whatever_sits_innermost(innermost: str) -> None:
    inside = "81" * (MAX_DEPTH - 1) if innermost in ("80", "a0") else "81" * MAX_DEPTH
    decode(bytes.fromhex(inside + innermost))  # exactly 16 containers
    with pytest.raises(EncodingError) as err:
        decode(bytes.fromhex("81" + inside + innermost))
    assert err.value.reason is Reason.TOO_DEEP
    with pytest.raises(EncodingError):
        encode(cbor2.loads(bytes.fromhex("81" + inside + innermost)))
