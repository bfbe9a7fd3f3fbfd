"""protocol.cose: COSE_Sign1 (RFC 9052 §4.2) with EdDSA, two readers.

`verify` reads an intentcast envelope, strictly (spec §4.1: tagged, protected
header exactly {1: -8, 4: did:key}, empty unprotected header, deterministic
CBOR, so one message has one digest). `verify_sign1(data, key)` verifies any
correct COSE_Sign1 under a key the caller knows, as RFC 9052 allows, including
the COSE working group's own Ed25519 example. Interoperability is checked
against pycose, an independent implementation, in both directions. The
hand-made envelopes compute the RFC 9052 §4.4 Sig_structure themselves, so each
one carries a valid signature and fails only for the reason the test names.
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from pycose.algorithms import EdDSA, Es256
from pycose.headers import KID, Algorithm, ContentType, Critical
from pycose.keys import EC2Key, OKPKey
from pycose.keys.curves import P256, Ed25519
from pycose.messages import Sign1Message

from intentcast.protocol import cose
from intentcast.protocol.encoding import encode
from intentcast.protocol.errors import EnvelopeError, Reason, RemoteProtocolError
from intentcast.protocol.identity import KeyPair

ALICE = KeyPair(bytes(range(32)))
BOB = KeyPair(bytes(range(1, 33)))
PAYLOAD = encode({"v": 1, "type": "intent", "id": "intent-0001"})


def _pycose_decode(data: bytes) -> Sign1Message:
    """Parse COSE_Sign1 bytes with pycose.

    pycose 1.1's `Sign1Message.decode` is broken with cbor2 >= 6: cbor2 now returns
    a tag's array as a tuple and nested maps as `frozendict`, and pycose checks for
    `list` and `dict` exactly ("Bytes cannot be decoded as COSE message", then
    "unprotected header should be of type 'dict'"). So decode with cbor2 here, hand
    pycose a plain list with a plain dict for the unprotected header, and let
    pycose's own `from_cose_obj` (with unknown attributes allowed) do the rest.
    """
    item = cbor2.loads(data)
    if isinstance(item, cbor2.CBORTag):
        assert item.tag == 18
        item = item.value
    fields = list(item)
    fields[1] = dict(fields[1])
    return Sign1Message.from_cose_obj(fields, True)


def _okp(pair: KeyPair, *, private: bool) -> OKPKey:
    if private:
        return OKPKey(crv=Ed25519, x=pair.public_key, d=pair.seed)
    return OKPKey(crv=Ed25519, x=pair.public_key)


def _pycose_sign(
    pair: KeyPair,
    payload: bytes | None = PAYLOAD,
    *,
    phdr: dict[Any, Any] | None = None,
    uhdr: dict[Any, Any] | None = None,
    **encode_kwargs: Any,
) -> bytes:
    """A COSE_Sign1 made and signed by pycose (EdDSA, OKP key, kid = the DID's bytes)."""
    if phdr is None:
        phdr = {Algorithm: EdDSA, KID: pair.did.encode()}
    message = Sign1Message(phdr=phdr, uhdr=uhdr or {}, payload=payload)
    message.key = _okp(pair, private=True)
    return bytes(message.encode(**encode_kwargs))


def _handmade(
    protected: bytes,
    unprotected: dict[Any, Any],
    payload: bytes | None,
    signer: KeyPair,
    *,
    tag: int | None = 18,
    signature: Any = None,
) -> bytes:
    """A COSE_Sign1 assembled here, signed over the RFC 9052 §4.4 Sig_structure."""
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload or b""])
    body = [
        protected,
        unprotected,
        payload,
        signer.sign(to_be_signed) if signature is None else signature,
    ]
    return bytes(cbor2.dumps(cbor2.CBORTag(tag, body) if tag is not None else body))


def _header(*pairs: tuple[int | str, Any]) -> bytes:
    """A protected header map encoded in exactly the key order given."""
    return bytes(cbor2.dumps(dict(pairs)))


def _refused(data: bytes, reason: Reason) -> None:
    with pytest.raises(EnvelopeError) as err:
        cose.verify(data)
    assert err.value.reason is reason, err.value


def _liberal_refused(data: bytes, reason: Reason, key: KeyPair = ALICE) -> None:
    with pytest.raises(EnvelopeError) as err:
        cose.verify_sign1(data, key.public_key)
    assert err.value.reason is reason, err.value


def _fields(data: bytes) -> list[Any]:
    """The four fields of a tagged COSE_Sign1, as a mutable list."""
    item = cbor2.loads(data)
    assert isinstance(item, cbor2.CBORTag)
    assert item.tag == 18
    fields = list(item.value)
    fields[1] = dict(fields[1])
    return fields


def _retag(fields: list[Any]) -> bytes:
    return bytes(cbor2.dumps(cbor2.CBORTag(18, fields)))


KID_ALICE = ALICE.did.encode()


# --- what we emit ------------------------------------------------------------------------------


def test_we_emit_a_tagged_sign1_with_alg_and_kid_protected() -> None:
    data = cose.sign1(PAYLOAD, ALICE.seed)
    protected = bytes.fromhex("a20127045838") + KID_ALICE  # {1: -8, 4: h'<56-byte did>'}
    assert len(KID_ALICE) == 0x38
    # 18([h'<62-byte protected header>', {}, payload, signature])
    assert data.startswith(bytes.fromhex("d284583e") + protected + bytes.fromhex("a0"))
    assert _fields(data) == [protected, {}, PAYLOAD, _fields(data)[3]]
    signed = cose.verify(data)
    assert (signed.payload, signed.multi) == (PAYLOAD, False)
    assert [s.signer for s in signed.signatures] == [ALICE.did]


# --- ours, verified by pycose ------------------------------------------------------------------


def test_pycose_verifies_what_we_sign() -> None:
    message = _pycose_decode(cose.sign1(PAYLOAD, ALICE.seed))
    assert message.phdr[Algorithm] is EdDSA
    assert message.phdr[KID] == KID_ALICE
    assert message.uhdr == {}
    assert message.payload == PAYLOAD
    message.key = _okp(ALICE, private=False)
    assert message.verify_signature()


def test_pycose_refuses_what_we_sign_once_it_is_altered_or_under_another_key() -> None:
    # The same check as above can fail: altered payload, or Bob's key for Alice's envelope.
    altered = _pycose_decode(cose.sign1(PAYLOAD, ALICE.seed))
    altered.payload = encode({"v": 2})
    altered.key = _okp(ALICE, private=False)
    assert not altered.verify_signature()
    other = _pycose_decode(cose.sign1(PAYLOAD, ALICE.seed))
    other.key = _okp(BOB, private=False)
    assert not other.verify_signature()


# --- pycose's, in our profile, verified by us --------------------------------------------------


def test_we_verify_what_pycose_signs_in_our_profile() -> None:
    data = _pycose_sign(ALICE)
    signed = cose.verify(data)
    assert signed.payload == PAYLOAD
    assert [s.signer for s in signed.signatures] == [ALICE.did]
    assert cose.verify_sign1(data, ALICE.public_key) == PAYLOAD


def test_pycose_and_we_produce_the_same_bytes() -> None:
    # Ed25519 is deterministic and {1: -8, 4: kid} has one deterministic encoding.
    assert _pycose_sign(ALICE) == cose.sign1(PAYLOAD, ALICE.seed)


def test_we_refuse_pycose_es256() -> None:
    message = Sign1Message(phdr={Algorithm: Es256, KID: KID_ALICE}, payload=PAYLOAD)
    message.key = EC2Key.generate_key(crv=P256)
    data = bytes(message.encode())
    _refused(data, Reason.BAD_ALGORITHM)
    _liberal_refused(data, Reason.BAD_ALGORITHM)


def test_we_refuse_pycose_detached_payload() -> None:
    data = _pycose_sign(ALICE, payload=None, detached_payload=PAYLOAD)
    assert cbor2.loads(data).value[2] is None
    _refused(data, Reason.BAD_STRUCTURE)
    _liberal_refused(data, Reason.BAD_STRUCTURE)


def test_we_refuse_pycose_signed_by_another_key_than_its_kid() -> None:
    data = _pycose_sign(BOB, phdr={Algorithm: EdDSA, KID: KID_ALICE})
    _refused(data, Reason.BAD_SIGNATURE)


# --- the liberal reader: any correct COSE_Sign1, under a key the caller knows -------------------


COSE_WG_EDDSA_SIG_01 = bytes.fromhex(
    # cose-wg/Examples, eddsa-examples/eddsa-sig-01.json: Ed25519, protected {1: -8, 3: 0},
    # unprotected {4: '11'}, payload "This is the content."
    "D28445A201270300A10442313154546869732069732074686520636F6E74656E742E58407142FD2FF96D56DB"
    "85BEE905A76BA1D0B7321A95C8C4D3607C5781932B7AFB8711497DFA751BF40B58B3BCC32300B1487F3DB340"
    "85EEF013BF08F4A44D6FEF0D"
)
COSE_WG_KEY_11 = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


def test_the_cose_working_groups_ed25519_example_verifies_under_its_key() -> None:
    assert cose.verify_sign1(COSE_WG_EDDSA_SIG_01, COSE_WG_KEY_11) == b"This is the content."
    _liberal_refused(COSE_WG_EDDSA_SIG_01, Reason.BAD_SIGNATURE, key=ALICE)
    # Its kid is "11", not a did:key: it is a correct COSE_Sign1 but not an intentcast envelope.
    _refused(COSE_WG_EDDSA_SIG_01, Reason.BAD_STRUCTURE)


def test_we_verify_pycose_untagged_with_the_kid_unprotected_under_the_key() -> None:
    data = _pycose_sign(ALICE, phdr={Algorithm: EdDSA}, uhdr={KID: KID_ALICE}, tag=False)
    assert data[0] == 0x84  # an untagged array of four
    assert cose.verify_sign1(data, ALICE.public_key) == PAYLOAD
    _refused(data, Reason.BAD_STRUCTURE)


def test_we_verify_pycose_with_a_content_type_header_under_the_key() -> None:
    data = _pycose_sign(ALICE, phdr={Algorithm: EdDSA, ContentType: 0, KID: KID_ALICE})
    assert cose.verify_sign1(data, ALICE.public_key) == PAYLOAD
    _refused(data, Reason.BAD_STRUCTURE)


def test_the_liberal_reader_accepts_headers_in_any_order_and_any_kid() -> None:
    for protected, unprotected in [
        (_header((4, KID_ALICE), (1, -8)), {}),
        (_header((1, -8)), {4: KID_ALICE}),
        (_header((1, -8)), {4: b"11"}),
        (_header((1, -8)), {}),
        (_header((3, 0), (1, -8), (2, [3])), {}),
    ]:
        data = _handmade(protected, unprotected, PAYLOAD, ALICE)
        assert cose.verify_sign1(data, ALICE.public_key) == PAYLOAD
        assert cose.verify_sign1(data[1:], ALICE.public_key) == PAYLOAD  # untagged too


def test_we_refuse_pycose_with_an_unknown_critical_header() -> None:
    phdr = {Algorithm: EdDSA, KID: KID_ALICE, Critical: [99], 99: 1}
    _liberal_refused(_pycose_sign(ALICE, phdr=phdr), Reason.UNKNOWN_CRITICAL_HEADER)
    _refused(_pycose_sign(ALICE, phdr=phdr), Reason.BAD_STRUCTURE)


def test_a_critical_text_label_we_do_not_understand_is_refused() -> None:
    data = _handmade(_header((1, -8), (2, ["exp"]), (4, KID_ALICE), ("exp", 1)), {}, PAYLOAD, ALICE)
    _liberal_refused(data, Reason.UNKNOWN_CRITICAL_HEADER)


@pytest.mark.parametrize("crit", [[], 99, b"\x63"], ids=["empty list", "integer", "bstr"])
def test_a_malformed_critical_list_is_refused(crit: Any) -> None:
    _liberal_refused(_handmade(_header((1, -8), (2, crit)), {}, PAYLOAD, ALICE),
                     Reason.BAD_STRUCTURE)


@pytest.mark.parametrize("unprotected", [{2: [99]}, {2: [4]}])
def test_crit_may_not_travel_unprotected(unprotected: dict[int, Any]) -> None:
    # RFC 9052 §3.1: crit is in the protected bucket, or it could be removed unseen.
    _liberal_refused(_handmade(_header((1, -8)), unprotected, PAYLOAD, ALICE),
                     Reason.BAD_STRUCTURE)


@pytest.mark.parametrize(
    ("protected", "unprotected"),
    [
        pytest.param(_header((1, -8), (4, KID_ALICE)), {4: KID_ALICE}, id="kid in both"),
        pytest.param(_header((1, -8)), {1: -8}, id="alg in both"),
        pytest.param(_header((1, -8), (3, 0)), {3: 1}, id="content type in both"),
    ],
)
def test_a_label_in_both_buckets_is_refused(
    protected: bytes, unprotected: dict[int, Any]
) -> None:
    _liberal_refused(_handmade(protected, unprotected, PAYLOAD, ALICE), Reason.BAD_STRUCTURE)


@pytest.mark.parametrize(
    ("protected", "unprotected"),
    [
        pytest.param(_header((1, -7), (4, KID_ALICE)), {}, id="ES256 (-7)"),
        pytest.param(_header((1, "EdDSA"), (4, KID_ALICE)), {}, id="alg as text"),
        pytest.param(_header((4, KID_ALICE)), {}, id="no alg at all"),
        pytest.param(_header((4, KID_ALICE)), {1: -8}, id="EdDSA only in the unprotected bucket"),
        pytest.param(b"", {1: -8, 4: KID_ALICE}, id="empty protected bucket"),
    ],
)
def test_the_liberal_reader_wants_protected_eddsa(
    protected: bytes, unprotected: dict[int, Any]
) -> None:
    _liberal_refused(_handmade(protected, unprotected, PAYLOAD, ALICE), Reason.BAD_ALGORITHM)


@pytest.mark.parametrize("tag", [16, 17, 61, 98])
def test_the_liberal_reader_refuses_other_tags(tag: int) -> None:
    _liberal_refused(_handmade(_header((1, -8)), {}, PAYLOAD, ALICE, tag=tag),
                     Reason.BAD_STRUCTURE)


def test_the_liberal_reader_refuses_a_cose_sign() -> None:
    _liberal_refused(cose.sign_multi(PAYLOAD, ALICE.seed), Reason.BAD_STRUCTURE)


def test_the_wrong_expected_key_is_refused() -> None:
    data = cose.sign1(PAYLOAD, ALICE.seed)
    _liberal_refused(data, Reason.BAD_SIGNATURE, key=BOB)
    assert cose.verify_sign1(data, ALICE.public_key) == PAYLOAD


# --- tampering ---------------------------------------------------------------------------------


def test_a_tampered_payload_is_refused() -> None:
    fields = _fields(cose.sign1(PAYLOAD, ALICE.seed))
    fields[2] = encode({"v": 1, "type": "intent", "id": "intent-0002"})
    _refused(_retag(fields), Reason.BAD_SIGNATURE)


def test_a_flipped_payload_bit_in_the_raw_bytes_is_refused() -> None:
    data = bytearray(cose.sign1(PAYLOAD, ALICE.seed))
    at = bytes(data).index(PAYLOAD) + len(PAYLOAD) - 1  # last byte of "intent-0001"
    data[at] ^= 0x01
    _refused(bytes(data), Reason.BAD_SIGNATURE)


def test_a_protected_header_naming_another_signer_is_refused() -> None:
    fields = _fields(cose.sign1(PAYLOAD, ALICE.seed))
    fields[0] = _header((1, -8), (4, BOB.did.encode()))
    _refused(_retag(fields), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s[:-1] + bytes([s[-1] ^ 0x01]), id="last bit flipped"),
        pytest.param(lambda s: bytes([s[0] ^ 0x80]) + s[1:], id="first bit flipped"),
        pytest.param(lambda s: bytes(64), id="all zero"),
    ],
)
def test_a_tampered_signature_is_refused(change: Any) -> None:
    fields = _fields(cose.sign1(PAYLOAD, ALICE.seed))
    fields[3] = change(fields[3])
    _refused(_retag(fields), Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s[:63], id="63 bytes"),
        pytest.param(lambda s: s + b"\x00", id="65 bytes"),
        pytest.param(lambda s: b"", id="empty"),
        pytest.param(lambda s: "sig", id="text"),
    ],
)
def test_a_signature_that_is_not_64_bytes_is_a_structure_fault(change: Any) -> None:
    fields = _fields(cose.sign1(PAYLOAD, ALICE.seed))
    fields[3] = change(fields[3])
    _refused(_retag(fields), Reason.BAD_STRUCTURE)


# --- the strict profile: one form, one digest -------------------------------------------------


@pytest.mark.parametrize(
    ("protected", "reason"),
    [
        pytest.param(_header((1, -8), (4, KID_ALICE), (100, b"\x00" * 60_000)),
                     Reason.BAD_STRUCTURE, id="junk under label 100"),
        pytest.param(_header((1, -8), (3, 0), (4, KID_ALICE)), Reason.BAD_STRUCTURE,
                     id="content type"),
        pytest.param(_header((1, -8), (2, [3]), (3, 0), (4, KID_ALICE)), Reason.BAD_STRUCTURE,
                     id="crit"),
        pytest.param(_header((4, KID_ALICE), (1, -8)), Reason.NOT_DETERMINISTIC,
                     id="keys out of order"),
        pytest.param(_header((1, -8)), Reason.BAD_STRUCTURE, id="no kid"),
        pytest.param(_header((1, -8), (4, b"alice")), Reason.BAD_STRUCTURE, id="kid not a DID"),
        pytest.param(_header((1, -8), (4, ALICE.did)), Reason.BAD_STRUCTURE, id="kid as text"),
        pytest.param(_header((1, -8), (4, b"\xff" + KID_ALICE[1:])), Reason.BAD_STRUCTURE,
                     id="kid not UTF-8"),
        pytest.param(_header((1, -7), (4, KID_ALICE)), Reason.BAD_ALGORITHM, id="ES256"),
        pytest.param(_header((1, "EdDSA"), (4, KID_ALICE)), Reason.BAD_ALGORITHM,
                     id="alg as text"),
        pytest.param(_header((4, KID_ALICE)), Reason.BAD_ALGORITHM, id="no alg"),
        pytest.param(bytes.fromhex("8101"), Reason.BAD_STRUCTURE, id="not a map"),
        pytest.param(bytes.fromhex("a3012701270458") + bytes([len(KID_ALICE)]) + KID_ALICE,
                     Reason.BAD_STRUCTURE, id="label 1 twice"),
    ],
)
def test_the_protected_header_is_exactly_alg_and_kid(protected: bytes, reason: Reason) -> None:
    _refused(_handmade(protected, {}, PAYLOAD, ALICE), reason)


@pytest.mark.parametrize("unprotected", [{4: KID_ALICE}, {1: -8}, {99: 1}, {2: [4]}])
def test_the_unprotected_header_is_empty(unprotected: dict[int, Any]) -> None:
    _refused(_handmade(_header((1, -8), (4, KID_ALICE)), unprotected, PAYLOAD, ALICE),
             Reason.BAD_STRUCTURE)


def test_an_untagged_envelope_is_not_ours() -> None:
    tagged = cose.sign1(PAYLOAD, ALICE.seed)
    assert tagged[0] == 0xD2  # tag 18
    _refused(tagged[1:], Reason.BAD_STRUCTURE)
    assert cose.verify_sign1(tagged[1:], ALICE.public_key) == PAYLOAD


def test_a_non_shortest_length_gives_another_form_and_is_refused() -> None:
    # The payload's length written in two bytes where one suffices: same message, other bytes.
    tagged = cose.sign1(PAYLOAD, ALICE.seed)
    short = bytes([0x40 | len(PAYLOAD)]) if len(PAYLOAD) < 24 else bytes([0x58, len(PAYLOAD)])
    assert short + PAYLOAD in tagged
    longer = tagged.replace(short + PAYLOAD, bytes([0x59, 0, len(PAYLOAD)]) + PAYLOAD)
    _refused(longer, Reason.NOT_DETERMINISTIC)
    assert cose.verify_sign1(longer, ALICE.public_key) == PAYLOAD  # still correct COSE


@pytest.mark.parametrize(
    "tag",
    [
        pytest.param(17, id="COSE_Mac0"),
        pytest.param(16, id="COSE_Encrypt0"),
        pytest.param(61, id="CWT"),
        pytest.param(98, id="COSE_Sign around a Sign1 body"),
    ],
)
def test_other_tags_are_refused(tag: int) -> None:
    _refused(_handmade(_header((1, -8), (4, KID_ALICE)), {}, PAYLOAD, ALICE, tag=tag),
             Reason.BAD_STRUCTURE)


@pytest.mark.parametrize("tag", [16, 17, 61])
def test_other_tags_are_refused_around_a_cose_sign_body_too(tag: int) -> None:
    item = cbor2.loads(cose.sign_multi(PAYLOAD, ALICE.seed))
    assert item.tag == 98
    cose.verify(cbor2.dumps(item))  # valid as it is
    _refused(cbor2.dumps(cbor2.CBORTag(tag, item.value)), Reason.BAD_STRUCTURE)


def test_a_cose_sign_body_header_is_empty() -> None:
    item = cbor2.loads(cose.sign_multi(PAYLOAD, ALICE.seed))
    fields = list(item.value)
    fields[0] = _header((3, 0))
    _refused(cbor2.dumps(cbor2.CBORTag(98, fields)), Reason.BAD_STRUCTURE)


@pytest.mark.parametrize("size", [3, 5])
def test_a_sign1_is_an_array_of_four(size: int) -> None:
    fields = _fields(cose.sign1(PAYLOAD, ALICE.seed))
    fields = [*fields, b""][:size]
    _refused(_retag(fields), Reason.BAD_STRUCTURE)


def test_a_detached_payload_is_refused() -> None:
    data = _handmade(_header((1, -8), (4, KID_ALICE)), {}, None, ALICE)
    assert cbor2.loads(data).value[2] is None  # nil where the payload goes
    _refused(data, Reason.BAD_STRUCTURE)


def test_a_payload_that_is_not_a_byte_string_is_refused() -> None:
    body = [_header((1, -8), (4, KID_ALICE)), {}, "text payload", bytes(64)]
    _refused(cbor2.dumps(cbor2.CBORTag(18, body)), Reason.BAD_STRUCTURE)


def test_a_signature_by_another_key_than_the_kid_is_refused() -> None:
    _refused(_handmade(_header((1, -8), (4, KID_ALICE)), {}, PAYLOAD, BOB), Reason.BAD_SIGNATURE)


def test_envelope_errors_carry_encoding_reasons_for_bad_bytes() -> None:
    data = cose.sign1(PAYLOAD, ALICE.seed)
    with pytest.raises(EnvelopeError) as err:
        cose.verify(data + b"\x00")
    assert err.value.reason is Reason.TRAILING_BYTES
    assert isinstance(err.value, RemoteProtocolError)
    _refused(b"", Reason.MALFORMED_CBOR)
    _refused(data[:-1], Reason.MALFORMED_CBOR)


def test_an_envelope_over_the_size_limit_is_refused() -> None:
    big = cose.sign1(b"\x00" * (64 * 1024), ALICE.seed)
    _refused(big, Reason.TOO_LARGE)
    _liberal_refused(big, Reason.TOO_LARGE)
    fits = cose.sign1(b"\x00" * (64 * 1024 - 200), ALICE.seed)
    assert len(fits) <= 64 * 1024
    assert cose.verify(fits).signatures[0].signer == ALICE.did


@pytest.mark.parametrize("prefix", [b"\xd9\xd9\xf7", b"\xd8\x1c"])
def test_an_extra_outer_tag_is_refused(prefix: bytes) -> None:
    # cbor2 drops tags 55799 and 28 silently; one signed message must have one digest.
    _refused(prefix + cose.sign1(PAYLOAD, ALICE.seed), Reason.BAD_STRUCTURE)
    _liberal_refused(prefix + cose.sign1(PAYLOAD, ALICE.seed), Reason.BAD_STRUCTURE)


def test_structure_is_checked_before_the_algorithm() -> None:
    es256 = _header((1, -7), (4, KID_ALICE))
    _refused(_handmade(es256, {}, PAYLOAD, ALICE, signature=7), Reason.BAD_STRUCTURE)
    _refused(_handmade(_header((1, -7), (4, b"alice")), {}, PAYLOAD, ALICE),
             Reason.BAD_STRUCTURE)
    _refused(_handmade(_header((1, -7)), {}, PAYLOAD, ALICE), Reason.BAD_STRUCTURE)
    _refused(_handmade(es256, {4: KID_ALICE}, PAYLOAD, ALICE), Reason.BAD_STRUCTURE)
    _refused(_handmade(es256, {}, PAYLOAD, ALICE), Reason.BAD_ALGORITHM)


def test_the_algorithm_is_checked_before_the_signature() -> None:
    data = _handmade(_header((1, -7), (4, KID_ALICE)), {}, PAYLOAD, ALICE, signature=bytes(64))
    _refused(data, Reason.BAD_ALGORITHM)
