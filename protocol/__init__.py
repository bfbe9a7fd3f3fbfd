"""intentcast's protocol core, installed as `intentcast.protocol`: pure, sans-I/O, time passed in.

What a developer may import is listed here; everything else is internal.
"""

from .cose import MAX_ENVELOPE_SIZE, sign1, verify_sign1
from .delegation import Authority, Revocations, authorise, issue, revoke, verify_chain
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
    "MAX_ENVELOPE_SIZE",
    "Accept",
    "Agreement",
    "Authority",
    "Conflict",
    "ConsentReceipt",
    "Constraints",
    "Counter",
    "CustomerTerms",
    "DataRequest",
    "Delegation",
    "DelegationError",
    "DeletionReceipt",
    "DidError",
    "EncodingError",
    "EnvelopeError",
    "Intent",
    "IntentcastError",
    "KeyPair",
    "LocalProtocolError",
    "Location",
    "MasterKey",
    "Message",
    "Money",
    "Negotiation",
    "NegotiationError",
    "Offer",
    "Reason",
    "Reject",
    "RemoteProtocolError",
    "ReplayGuard",
    "ReplyTo",
    "Revocation",
    "Revocations",
    "Role",
    "Scope",
    "State",
    "VendorTerms",
    "Verified",
    "Withdraw",
    "authorise",
    "check",
    "countersign",
    "decode",
    "did_from_public_key",
    "digest",
    "encode",
    "issue",
    "new_id",
    "open",
    "public_key_from_did",
    "revoke",
    "seal",
    "sign1",
    "verify_chain",
    "verify_sign1",
]

if __name__ != "intentcast.protocol":  # the folder is on sys.path when Python runs from the root
    raise ImportError(f"import intentcast.protocol, not {__name__} (the package is installed "
                      "under the intentcast namespace)")
