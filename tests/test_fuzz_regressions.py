"""Inputs the fuzzers (tests/fuzz) found that crashed a decoder, kept as plain cases.

Each one once escaped as something other than the project's own error (a TypeError),
or made a decoder take pathologically long or grow its memory on a small input. Each
now gets the project's error with the reason the spec names. Replay a new one with
`python tests/fuzz/run.py --replay FILE.hex`, then add its hex here with the fix.
"""

from __future__ import annotations

import pytest
from parties import BUYER

from intentcast.protocol import cose, open_envelope, read_stored
from intentcast.protocol.envelope import parse_message
from intentcast.protocol.errors import EncodingError, EnvelopeError, Reason

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
