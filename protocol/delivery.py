"""Acknowledgements: a party says "done" to a person only once the other side stored it.

An `Ack` names the envelope it acknowledges by digest and says whether the
signer stored it or refused it (with a reason). The seller acknowledges the
buyer's countersignature once the agreement is on its disk; the buyer reports
the deal as agreed only with that acknowledgement in hand (spec §7). Sans-I/O:
the caller stores, sends and retries.
"""

from __future__ import annotations

from .envelope import Verified, seal
from .errors import NegotiationError, Reason
from .identity import KeyPair
from .messages import RECORD_LIFETIME, Ack, digest, new_id


def acknowledge(key: KeyPair, about: bytes, *, now: int, refused: str | None = None) -> bytes:
    """Sign an acknowledgement of the envelope `about`: stored, or refused with a reason."""
    return seal(Ack(id=new_id(), issued_at=now, expires_at=now + RECORD_LIFETIME,
                    about=digest(about), outcome="refused" if refused else "stored",
                    reason=refused[:280] if refused else None), key)


def check_ack(verified: Verified, *, about: bytes, signer: str) -> Ack:
    """The acknowledgement of `about` by `signer`, or `NegotiationError` if it is not one."""
    ack = verified.message
    if not isinstance(ack, Ack):
        raise NegotiationError(Reason.ILLEGAL_TRANSITION, f"expected an ack, got a {ack.type}")
    if verified.signer != signer:
        raise NegotiationError(Reason.WRONG_COUNTERPARTY, "the ack is not signed by the party")
    if ack.about != digest(about):
        raise NegotiationError(Reason.BROKEN_TRANSCRIPT, "the ack is about another envelope")
    return ack
