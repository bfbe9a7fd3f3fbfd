"""Selective disclosure under consent, and its withdrawal, as pure functions.

After an agreement the person sends a vendor only the fields the agreement's
data terms request, sealed to the vendor's key (`Disclosure`), each time with a
`ConsentReceipt` (after the Kantara consent receipt: who, what, why, for how
long, under which agreement). The receipt is signed by the agreement's buyer
key, which binds it to the deal; its `subject` is the person's pairwise DID for
this vendor, which signs the disclosure and may later revoke the consent. The
vendor answers a revocation, or the end of the retention period, with a signed
`DeletionReceipt`. Time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from .envelope import Verified, seal
from .errors import ConsentError, LocalProtocolError, Reason
from .identity import KeyPair
from .messages import (
    Agreement,
    ConsentReceipt,
    DeletionReceipt,
    Disclosure,
    Revocation,
    digest,
    new_id,
)
from .sealing import open_fields, seal_fields
from .terms import Purpose

DAY = 86_400
RECEIPT_TTL = 10 * 365 * DAY
"""Receipts are records: they stay valid long after the data is gone."""


@dataclass(frozen=True)
class Consent:
    """What the person consents to give one vendor under one agreement."""

    fields: tuple[str, ...]
    purposes: tuple[Purpose, ...]
    retention_days: int


def needed(agreement: Agreement, available: set[str]) -> Consent | None:
    """The fields the agreement's data terms request and the person has, or None."""
    requests = [r for r in agreement.vendor_terms.requests if r.field in available]
    if not requests:
        return None
    return Consent(
        fields=tuple(dict.fromkeys(r.field for r in requests)),
        purposes=tuple(dict.fromkeys(r.purpose for r in requests)),
        retention_days=max(r.retention_days for r in requests),
    )


def disclose(agreement: Agreement, values: dict[str, str], *, buyer: KeyPair,
             pairwise: KeyPair, now: int) -> tuple[bytes, bytes]:
    """Sign a consent receipt and seal the agreed fields to the vendor: (receipt, disclosure)."""
    if buyer.did != agreement.buyer:
        raise LocalProtocolError(Reason.BAD_KEY, "the receipt is signed by the agreement's buyer")
    consent = needed(agreement, set(values))
    if consent is None:
        raise LocalProtocolError(Reason.FIELD_NOT_AGREED, "the agreement requests none of these")
    receipt = seal(ConsentReceipt(
        id=new_id(), issued_at=now, expires_at=now + RECEIPT_TTL, agreement_id=agreement.id,
        terms_hash=agreement.terms_hash, subject=pairwise.did, controller=agreement.vendor,
        fields=list(consent.fields), purposes=list(consent.purposes),
        retention_days=consent.retention_days,
    ), buyer)
    sealed = seal_fields({f: values[f] for f in consent.fields}, agreement.vendor)
    disclosure = seal(Disclosure(
        id=new_id(), issued_at=now, expires_at=now + RECEIPT_TTL, agreement_id=agreement.id,
        consent=digest(receipt), recipient=agreement.vendor, sealed=sealed,
    ), pairwise)
    return receipt, disclosure


def receive(agreement: Agreement, receipt: Verified, disclosure: Verified, vendor: KeyPair
            ) -> tuple[ConsentReceipt, dict[str, str]]:
    """Vendor: check a receipt and its disclosure against the agreement; open the fields."""
    msg = receipt.message
    if not isinstance(msg, ConsentReceipt):
        raise ConsentError(Reason.BAD_SCHEMA, "expected a consent receipt")
    if receipt.signer != agreement.buyer:
        raise ConsentError(Reason.CONSENT_MISMATCH, "the receipt is not signed by the buyer")
    if (msg.agreement_id, msg.terms_hash, msg.controller) != (
            agreement.id, agreement.terms_hash, vendor.did) or agreement.vendor != vendor.did:
        raise ConsentError(Reason.CONSENT_MISMATCH, "the receipt is for another agreement")
    allowed = {(r.field, r.purpose) for r in agreement.vendor_terms.requests}
    for field in msg.fields:
        if not any(f == field for f, _ in allowed):
            raise ConsentError(Reason.FIELD_NOT_AGREED, f"{field} is not in the data terms")
    for purpose in msg.purposes:
        if purpose not in agreement.customer_terms.purposes:
            raise ConsentError(Reason.PURPOSE_NOT_AGREED, f"{purpose} is not agreed")
    if msg.retention_days > agreement.customer_terms.retention_days:
        raise ConsentError(Reason.CONSENT_MISMATCH, "retention beyond the person's terms")
    sent = disclosure.message
    if not isinstance(sent, Disclosure):
        raise ConsentError(Reason.BAD_SCHEMA, "expected a disclosure")
    if disclosure.signer != msg.subject or sent.consent != receipt.digest or (
            sent.recipient, sent.agreement_id) != (vendor.did, agreement.id):
        raise ConsentError(Reason.CONSENT_MISMATCH, "the disclosure does not match its receipt")
    fields = open_fields(sent.sealed, vendor)
    if sorted(fields) != sorted(msg.fields):
        raise ConsentError(Reason.FIELD_NOT_AGREED, "sealed fields differ from the receipt's")
    return msg, fields


def usable_for(receipt: ConsentReceipt, purpose: str, *, received_at: int, now: int) -> bool:
    """May the vendor use the data for `purpose` now? Only a named purpose, in retention."""
    return purpose in receipt.purposes and now < received_at + receipt.retention_days * DAY


def withdraw(receipt_raw: bytes, key: KeyPair, *, now: int, reason: str | None = None) -> bytes:
    """The person revokes a consent (signed by its subject or by the buyer key)."""
    return seal(Revocation(id=new_id(), issued_at=now, expires_at=now + RECEIPT_TTL,
                           target=digest(receipt_raw), target_type="consent", reason=reason),
                key)


def check_withdrawal(receipt: Verified, revocation: Verified, agreement: Agreement) -> None:
    """Vendor: is this revocation of this consent valid?"""
    msg, consent = revocation.message, receipt.message
    if not isinstance(msg, Revocation) or msg.target_type != "consent" or not isinstance(
            consent, ConsentReceipt) or msg.target != receipt.digest:
        raise ConsentError(Reason.CONSENT_MISMATCH, "the revocation names another consent")
    if revocation.signer not in (consent.subject, agreement.buyer):
        raise ConsentError(Reason.CONSENT_MISMATCH, "only the person may revoke the consent")


def deletion_receipt(receipt: ConsentReceipt, vendor: KeyPair, *, now: int, cause: str
                     ) -> bytes:
    """Vendor: the signed statement that the data a consent covered is deleted."""
    return seal(DeletionReceipt(
        id=new_id(), issued_at=now, expires_at=now + RECEIPT_TTL, consent_id=receipt.id,
        agreement_id=receipt.agreement_id, controller=vendor.did, fields=receipt.fields,
        deleted_at=now, cause=cause,  # type: ignore[arg-type]
    ), vendor)


def check_deletion(receipt: ConsentReceipt, deletion: Verified) -> None:
    """Person: does this deletion receipt cover the consent, signed by its controller?"""
    msg = deletion.message
    if not isinstance(msg, DeletionReceipt) or deletion.signer != receipt.controller or (
            msg.consent_id, msg.agreement_id) != (receipt.id, receipt.agreement_id) or (
            sorted(msg.fields) != sorted(receipt.fields)):
        raise ConsentError(Reason.CONSENT_MISMATCH, "that deletion receipt is not for this "
                           "consent or not from its controller")
