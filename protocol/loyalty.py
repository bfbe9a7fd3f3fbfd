"""Loyalty without identity: credits to a pairwise pseudonym, redeemable with the issuer only.

A vendor issues a `LoyaltyCredit` to the pseudonym a person uses with it alone
(the subject of their consent receipts). To use it on a later intent, the
person signs a `Redemption` with that pseudonym's key, naming the credit and
one open offer of the issuer. Another vendor never saw the pseudonym and did
not sign the credit: it refuses (`credit_not_ours`); the issuer keeps the
digests of credits spent and refuses a second use (`credit_spent`, its store's
business). Time is passed in.
"""

from __future__ import annotations

from .envelope import Verified, seal
from .errors import ConsentError, Reason
from .identity import KeyPair
from .messages import LoyaltyCredit, Money, Redemption, digest, new_id

CREDIT_TTL = 365 * 86_400


def issue_credit(vendor: KeyPair, *, holder: str, agreement_id: str, value: Money, now: int
                 ) -> bytes:
    return seal(LoyaltyCredit(id=new_id(), issued_at=now, expires_at=now + CREDIT_TTL,
                              issuer=vendor.did, holder=holder, agreement_id=agreement_id,
                              value=value), vendor)


def redeem(credit_raw: bytes, holder: KeyPair, *, intent_id: str, offer: bytes, now: int
           ) -> bytes:
    """The holder's signed presentation of a credit against `offer` (its envelope digest)."""
    return seal(Redemption(id=new_id(), issued_at=now, expires_at=now + 3600,
                           credit=digest(credit_raw), intent_id=intent_id, offer=offer), holder)


def check(credit: Verified, redemption: Verified, *, vendor: str, offer: bytes) -> Money:
    """Issuer: the value of a credit presented against one of our offers, if it holds."""
    issued, presented = credit.message, redemption.message
    if not isinstance(issued, LoyaltyCredit) or not isinstance(presented, Redemption):
        raise ConsentError(Reason.BAD_SCHEMA, "expected a loyalty credit and a redemption")
    if credit.signer != vendor or issued.issuer != vendor:
        raise ConsentError(Reason.CREDIT_NOT_OURS, "this credit was issued by another vendor")
    if redemption.signer != issued.holder or presented.credit != credit.digest:
        raise ConsentError(Reason.CONSENT_MISMATCH, "only the credit's holder may present it")
    if presented.offer != offer:
        raise ConsentError(Reason.CONSENT_MISMATCH, "the redemption names another offer")
    return issued.value
