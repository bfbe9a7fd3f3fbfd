"""One root error, local vs remote, and a machine-readable reason on every rejection.

`IntentcastError` is the only exception type the protocol raises on bad input.
`RemoteProtocolError` means a peer sent something wrong (drop it, count it);
`LocalProtocolError` means our own caller misused the API (a bug to fix).
Every error carries a `Reason`, stable across releases and listed in the spec.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # encoding
    TOO_LARGE = "too_large"
    MALFORMED_CBOR = "malformed_cbor"
    TRAILING_BYTES = "trailing_bytes"
    INDEFINITE_LENGTH = "indefinite_length"
    DUPLICATE_KEY = "duplicate_key"
    TOO_DEEP = "too_deep"
    FLOAT_NOT_ALLOWED = "float_not_allowed"
    TYPE_NOT_ALLOWED = "type_not_allowed"
    NOT_DETERMINISTIC = "not_deterministic"
    # identity
    BAD_DID = "bad_did"
    BAD_KEY = "bad_key"
    # envelope
    BAD_STRUCTURE = "bad_structure"
    BAD_ALGORITHM = "bad_algorithm"
    UNKNOWN_CRITICAL_HEADER = "unknown_critical_header"
    BAD_SIGNATURE = "bad_signature"
    BAD_SCHEMA = "bad_schema"
    UNSUPPORTED_VERSION = "unsupported_version"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REPLAY = "replay"
    OVERLOADED = "overloaded"
    # negotiation
    ILLEGAL_TRANSITION = "illegal_transition"
    WRONG_INTENT = "wrong_intent"
    WRONG_COUNTERPARTY = "wrong_counterparty"
    BROKEN_TRANSCRIPT = "broken_transcript"
    TOO_MANY_ROUNDS = "too_many_rounds"
    TERMS_MISMATCH = "terms_mismatch"
    TERMS_CONFLICT = "terms_conflict"
    MISSING_SIGNATURE = "missing_signature"
    # delegation
    DELEGATION_BROKEN_CHAIN = "delegation_broken_chain"
    DELEGATION_WIDENED = "delegation_widened"
    DELEGATION_EXPIRED = "delegation_expired"
    DELEGATION_NOT_YET_VALID = "delegation_not_yet_valid"
    DELEGATION_REVOKED = "delegation_revoked"
    DELEGATION_UNKNOWN_CONSTRAINT = "delegation_unknown_constraint"
    OUT_OF_SCOPE_CATEGORY = "out_of_scope_category"
    OVER_PRICE_CAP = "over_price_cap"
    ACTION_NOT_DELEGATED = "action_not_delegated"
    FIELD_NOT_DELEGATED = "field_not_delegated"
    # data rights
    CONSENT_MISMATCH = "consent_mismatch"
    FIELD_NOT_AGREED = "field_not_agreed"
    PURPOSE_NOT_AGREED = "purpose_not_agreed"
    SEALED_UNREADABLE = "sealed_unreadable"
    CREDIT_NOT_OURS = "credit_not_ours"
    CREDIT_SPENT = "credit_spent"


MAX_MESSAGE = 300
"""Longest error message, in characters. Messages quote what a peer sent (a version, a
type, a map key): escaped and cut here, a peer never breaks or stretches the line we log."""


class IntentcastError(Exception):
    """Root of every error the protocol raises: a reason code and a sentence."""

    def __init__(self, reason: Reason, message: str) -> None:
        if not message.isprintable():  # a newline or a control character from a peer
            message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE - 3] + "..."
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


class RemoteProtocolError(IntentcastError):
    """A peer sent bytes or a message that breaks the protocol."""


class LocalProtocolError(IntentcastError):
    """Our own caller asked for something the protocol forbids."""


class EncodingError(RemoteProtocolError):
    """Bytes are not valid intentcast CBOR."""


class DidError(RemoteProtocolError):
    """A DID or key is malformed or of an unsupported kind."""


class EnvelopeError(RemoteProtocolError):
    """A signed envelope failed verification."""


class NegotiationError(RemoteProtocolError):
    """A peer's message does not fit the negotiation."""


class ConsentError(RemoteProtocolError):
    """A consent receipt, disclosure or deletion receipt that does not fit its agreement."""


class DelegationError(RemoteProtocolError):
    """A delegation chain does not authorise what was asked."""


class DelegatedMoveError(NegotiationError, DelegationError):
    """A peer's negotiation move made under a chain that does not cover it: catch it as a
    `NegotiationError` (the move is refused) or as a `DelegationError` (an assistant acted
    outside what the person signed)."""
