"""intentcast's protocol core: pure, sans-I/O, time passed in.

What a developer may import is listed here; everything else is internal.
"""

from .cose import MAX_ENVELOPE_SIZE, sign1, verify_sign1
from .encoding import decode, encode
from .envelope import ReplayGuard, Verified, countersign, open, seal
from .errors import (
    DelegationError,
    DidError,
    EncodingError,
    EnvelopeError,
    IntentcastError,
    LocalProtocolError,
    NegotiationError,
    Reason,
    RemoteProtocolError,
)
from .identity import KeyPair, MasterKey, did_from_public_key, public_key_from_did
from .messages import (
    Accept,
    Agreement,
    ConsentReceipt,
    Constraints,
    Counter,
    Delegation,
    DeletionReceipt,
    Intent,
    Location,
    Message,
    Money,
    Offer,
    Reject,
    ReplyTo,
    Revocation,
    Scope,
    Withdraw,
    digest,
    new_id,
)
from .negotiation import Negotiation, Role, State
from .terms import Conflict, CustomerTerms, DataRequest, VendorTerms, check

__all__ = [
    "MAX_ENVELOPE_SIZE", "Accept", "Agreement", "Conflict", "ConsentReceipt", "Constraints",
    "Counter", "CustomerTerms", "DataRequest", "Delegation", "DelegationError", "DeletionReceipt",
    "DidError", "EncodingError", "EnvelopeError", "Intent", "IntentcastError", "KeyPair",
    "LocalProtocolError", "Location", "MasterKey", "Message", "Money", "Negotiation",
    "NegotiationError", "Offer", "Reason", "Reject", "RemoteProtocolError", "ReplayGuard",
    "ReplyTo", "Revocation", "Role", "Scope", "State", "VendorTerms", "Verified", "Withdraw",
    "check", "countersign", "decode", "did_from_public_key", "digest", "encode", "new_id", "open",
    "public_key_from_did", "seal", "sign1", "verify_sign1",
]
