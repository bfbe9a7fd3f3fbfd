"""`intentcast.protocol` exports exactly its documented names, none of which shadows a builtin."""

from __future__ import annotations

import builtins

import intentcast.protocol as protocol

DOCUMENTED = {
    # envelopes
    "MAX_ENVELOPE_SIZE", "ReplayGuard", "Verified", "countersign", "open_envelope",
    "read_stored", "seal",
    # messages and the values inside them
    "Accept", "Agreement", "Category", "ConsentReceipt", "Constraints", "Counter",
    "Delegation", "DeletionReceipt", "Disclosure", "Intent", "Location", "LoyaltyCredit",
    "Message", "Money", "Offer", "Redemption", "Reject", "ReplyTo", "Report", "Revocation",
    "Scope", "Withdraw", "digest", "new_id",
    # terms and money
    "Conflict", "CustomerTerms", "DataRequest", "FieldName", "VendorTerms", "check_terms",
    "EXPONENTS", "format_amount", "parse_amount",
    # negotiation and delegation
    "Negotiation", "Role", "State", "acknowledge", "check_ack", "Ack", "MAX_LIFETIME",
    "Authority", "Revocations", "authorise", "category_within",
    "issue_delegation", "revoke_delegation", "scope_covers", "verify_chain",
    # identity and encoding
    "KeyPair", "MasterKey", "did_from_public_key", "is_did", "public_key_from_did", "decode",
    "encode",
    # errors
    "IntentcastError", "LocalProtocolError", "RemoteProtocolError", "ConsentError",
    "DelegatedMoveError", "DelegationError", "DidError", "EncodingError", "EnvelopeError",
    "NegotiationError", "Reason", "SealingError",
}


def test_the_exports_are_exactly_the_documented_ones():
    assert set(protocol.__all__) == DOCUMENTED
    assert len(protocol.__all__) == len(DOCUMENTED)  # no name listed twice
    for name in protocol.__all__:
        assert getattr(protocol, name) is not None


def test_no_export_shadows_a_builtin_or_hides_what_it_does():
    assert not set(protocol.__all__) & set(dir(builtins))
    assert not {"open", "check", "issue", "revoke"} & set(dir(protocol))
