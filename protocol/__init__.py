"""intentcast's protocol core, installed as `intentcast.protocol`: pure, sans-I/O, time passed in.

What a developer may import is listed here, in groups; everything else is internal.
- envelopes: `seal`, `open_envelope` (verify, in the spec's order), `countersign`,
  `read_stored` (an envelope verified earlier), `ReplayGuard`, `Verified`
- messages: every message type, the values inside them, `digest`, `new_id`
- terms: the person's and the vendor's terms, `check_terms` and its `Conflict`
- money: `parse_amount`, `format_amount`, `EXPONENTS` (minor units per currency)
- negotiation: `Negotiation` (the state machine), `Role`, `State`; `acknowledge` and
  `check_ack` for the acknowledgement that closes a deal
- delegation: `issue_delegation`, `revoke_delegation`, `verify_chain`, `authorise`,
  `Authority`, `Revocations`, `category_within`, `scope_covers`
- identity and encoding: `KeyPair`, `MasterKey`, did:key helpers, `encode`, `decode`
- errors: the root `IntentcastError`, local vs remote, each family, and `Reason`
"""

from .cose import MAX_ENVELOPE_SIZE
from .currencies import EXPONENTS, format_amount, parse_amount
from .delegation import (
    Authority,
    Revocations,
    authorise,
    category_within,
    scope_covers,
    verify_chain,
)
from .delegation import issue as issue_delegation
from .delegation import revoke as revoke_delegation
from .delivery import acknowledge, check_ack
from .encoding import decode, encode
from .envelope import ReplayGuard, Verified, countersign, read_stored, seal
from .envelope import open as open_envelope
from .errors import (
    ConsentError,
    DelegatedMoveError,
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
from .identity import KeyPair, MasterKey, did_from_public_key, is_did, public_key_from_did
from .messages import (
    MAX_LIFETIME,
    Accept,
    Ack,
    Agreement,
    Category,
    ConsentReceipt,
    Constraints,
    Counter,
    Delegation,
    DeletionReceipt,
    Disclosure,
    Intent,
    Location,
    LoyaltyCredit,
    Message,
    Money,
    Offer,
    Redemption,
    Reject,
    ReplyTo,
    Report,
    Revocation,
    Scope,
    Withdraw,
    digest,
    new_id,
)
from .negotiation import Negotiation, Role, State
from .sealing import SealingError
from .terms import Conflict, CustomerTerms, DataRequest, FieldName, VendorTerms
from .terms import check as check_terms

__all__ = [
    "EXPONENTS",
    "MAX_ENVELOPE_SIZE",
    "MAX_LIFETIME",
    "Accept",
    "Ack",
    "Agreement",
    "Authority",
    "Category",
    "Conflict",
    "ConsentError",
    "ConsentReceipt",
    "Constraints",
    "Counter",
    "CustomerTerms",
    "DataRequest",
    "DelegatedMoveError",
    "Delegation",
    "DelegationError",
    "DeletionReceipt",
    "DidError",
    "Disclosure",
    "EncodingError",
    "EnvelopeError",
    "FieldName",
    "Intent",
    "IntentcastError",
    "KeyPair",
    "LocalProtocolError",
    "Location",
    "LoyaltyCredit",
    "MasterKey",
    "Message",
    "Money",
    "Negotiation",
    "NegotiationError",
    "Offer",
    "Reason",
    "Redemption",
    "Reject",
    "RemoteProtocolError",
    "ReplayGuard",
    "ReplyTo",
    "Report",
    "Revocation",
    "Revocations",
    "Role",
    "Scope",
    "SealingError",
    "State",
    "VendorTerms",
    "Verified",
    "Withdraw",
    "acknowledge",
    "authorise",
    "category_within",
    "check_ack",
    "check_terms",
    "countersign",
    "decode",
    "did_from_public_key",
    "digest",
    "encode",
    "format_amount",
    "is_did",
    "issue_delegation",
    "new_id",
    "open_envelope",
    "parse_amount",
    "public_key_from_did",
    "read_stored",
    "revoke_delegation",
    "scope_covers",
    "seal",
    "verify_chain",
]

if __name__ != "intentcast.protocol":  # the folder is on sys.path when Python runs from the root
    raise ImportError(f"import intentcast.protocol, not {__name__} (the package is installed "
                      "under the intentcast namespace)")
