"""Selective disclosure under consent: receipts, sealed fields, revocation and deletion."""

from __future__ import annotations

import pytest
from parties import BUYER, NOW, PAIRWISE, SELLER, STRANGER, VALUES, agreement

from intentcast.protocol import consent
from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.envelope import seal
from intentcast.protocol.errors import ConsentError, LocalProtocolError, Reason
from intentcast.protocol.messages import Agreement, ConsentReceipt
from intentcast.protocol.sealing import SealingError, open_fields, seal_fields


def opened(raw: bytes):
    return open_envelope(raw, now=NOW)


def test_only_the_agreed_fields_reach_the_vendor_and_only_it_can_read_them() -> None:
    deal = agreement()
    receipt, disclosure = consent.disclose(deal, VALUES, buyer=BUYER, pairwise=PAIRWISE, now=NOW)
    record, fields = consent.receive(deal, opened(receipt), opened(disclosure), SELLER)
    assert fields == {"email": VALUES["email"], "shipping_address": VALUES["shipping_address"]}
    assert "phone" not in fields  # the agreement's data terms do not ask for it
    assert (record.subject, record.controller) == (PAIRWISE.did, SELLER.did)
    assert set(record.purposes) == {"receipt", "delivery"}
    assert record.retention_days == 30
    assert b"Hauptstr" not in disclosure
    sealed = opened(disclosure).message.sealed
    with pytest.raises(SealingError) as err:
        open_fields(sealed, STRANGER)
    assert err.value.reason is Reason.SEALED_UNREADABLE


def test_nothing_is_disclosed_when_the_agreement_asks_for_nothing_the_person_has() -> None:
    with pytest.raises(LocalProtocolError) as err:
        consent.disclose(agreement(), {"phone": "1"}, buyer=BUYER, pairwise=PAIRWISE, now=NOW)
    assert err.value.reason is Reason.FIELD_NOT_AGREED


def _forged_receipt(deal: Agreement, **changes) -> bytes:
    base = dict(id="consent-0001", issued_at=NOW, expires_at=NOW + 3600,
                agreement_id=deal.id, terms_hash=deal.terms_hash, subject=PAIRWISE.did,
                controller=SELLER.did, fields=["email"], purposes=["receipt"],
                retention_days=30)
    signer = changes.pop("signer", BUYER)
    return seal(ConsentReceipt(**{**base, **changes}), signer)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"signer": STRANGER}, Reason.CONSENT_MISMATCH),
    ({"terms_hash": bytes(32)}, Reason.CONSENT_MISMATCH),
    ({"controller": STRANGER.did}, Reason.CONSENT_MISMATCH),
    ({"fields": ["phone"]}, Reason.FIELD_NOT_AGREED),
    ({"purposes": ["marketing"]}, Reason.PURPOSE_NOT_AGREED),
    ({"retention_days": 365}, Reason.CONSENT_MISMATCH),
])
def test_a_receipt_that_does_not_fit_the_agreement_is_refused(changes, reason) -> None:
    deal = agreement()
    _, disclosure = consent.disclose(deal, VALUES, buyer=BUYER, pairwise=PAIRWISE, now=NOW)
    with pytest.raises(ConsentError) as err:
        consent.receive(deal, opened(_forged_receipt(deal, **changes)), opened(disclosure),
                        SELLER)
    assert err.value.reason is reason


def test_a_disclosure_must_match_its_receipt() -> None:
    deal = agreement()
    receipt, _ = consent.disclose(deal, VALUES, buyer=BUYER, pairwise=PAIRWISE, now=NOW)
    _, other = consent.disclose(deal, VALUES, buyer=BUYER, pairwise=PAIRWISE, now=NOW)
    with pytest.raises(ConsentError) as err:
        consent.receive(deal, opened(receipt), opened(other), SELLER)
    assert err.value.reason is Reason.CONSENT_MISMATCH


def test_sealed_fields_must_be_exactly_the_receipts() -> None:
    from intentcast.protocol.messages import Disclosure, digest

    deal = agreement()
    receipt, _ = consent.disclose(deal, VALUES, buyer=BUYER, pairwise=PAIRWISE, now=NOW)
    smuggled = seal(Disclosure(
        id="disclosure-0001", issued_at=NOW, expires_at=NOW + 3600, agreement_id=deal.id,
        consent=digest(receipt), recipient=SELLER.did,
        sealed=seal_fields({"email": "x", "shipping_address": "y", "phone": "z"}, SELLER.did),
    ), PAIRWISE)
    with pytest.raises(ConsentError) as err:
        consent.receive(deal, opened(receipt), opened(smuggled), SELLER)
    assert err.value.reason is Reason.FIELD_NOT_AGREED


def test_data_serves_only_named_purposes_and_only_within_retention() -> None:
    deal = agreement()
    receipt, disclosure = consent.disclose(deal, VALUES, buyer=BUYER, pairwise=PAIRWISE, now=NOW)
    record, _ = consent.receive(deal, opened(receipt), opened(disclosure), SELLER)
    assert consent.usable_for(record, "delivery", received_at=NOW, now=NOW + 29 * 86_400)
    assert not consent.usable_for(record, "marketing", received_at=NOW, now=NOW)
    assert not consent.usable_for(record, "delivery", received_at=NOW, now=NOW + 30 * 86_400)


def test_revocation_by_the_person_yields_a_deletion_receipt_the_person_can_check() -> None:
    deal = agreement()
    receipt, disclosure = consent.disclose(deal, VALUES, buyer=BUYER, pairwise=PAIRWISE, now=NOW)
    record, _ = consent.receive(deal, opened(receipt), opened(disclosure), SELLER)
    revocation = consent.withdraw(receipt, PAIRWISE, now=NOW + 10)
    consent.check_withdrawal(opened(receipt), opened(revocation), deal)
    with pytest.raises(ConsentError):
        consent.check_withdrawal(opened(receipt),
                                 opened(consent.withdraw(receipt, STRANGER, now=NOW)), deal)
    deleted = consent.deletion_receipt(record, SELLER, now=NOW + 11, cause="revocation")
    consent.check_deletion(record, opened(deleted))
    forged = consent.deletion_receipt(record, STRANGER, now=NOW + 11, cause="revocation")
    with pytest.raises(ConsentError):
        consent.check_deletion(record, opened(forged))
