"""The vendor's data store: disclosures kept sealed, used only as agreed, purged on time.

Real stores (SQLite files, vault) and real signed envelopes; time is trio's
autojump clock, so a 30-day retention runs in no time and no sleep is made.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing
from agent_harness import make_store
from parties import BUYER, NOW, PAIRWISE, SELLER, VALUES, agreement

from intentcast.agents.conversation.data_wire import Deleted, Disclose, Revoke, read_data_answer
from intentcast.agents.store import consents
from intentcast.agents.store.db import StoredAgreement
from intentcast.agents.vendor.data import DataRefused, VendorData
from intentcast.protocol import consent, cose
from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.envelope import seal

DAY = 86_400


@pytest.fixture
def vendor(tmp_path):
    store = make_store(tmp_path / "vendor.sqlite")
    deal = agreement()
    raw = cose.add_signature(seal(deal, SELLER), BUYER.seed)
    store.save_agreement(StoredAgreement(deal.id, deal.intent_id, deal.buyer, deal.vendor,
                                         deal.price.amount, "EUR", raw, NOW), audit_data={})
    return store, deal


def _disclose(data: VendorData, deal, now: int = NOW) -> bytes:
    receipt, disclosure = consent.disclose(deal, VALUES, buyer=BUYER, pairwise=PAIRWISE,
                                           now=now)
    data._disclosed(Disclose(receipt=receipt, disclosure=disclosure))
    return receipt


def test_data_is_kept_sealed_and_used_only_for_named_purposes(vendor, tmp_path):
    store, deal = vendor
    data = VendorData(store, SELLER, clock=lambda: NOW + 60)
    receipt = _disclose(data, deal)
    consent_id = open_envelope(receipt, now=NOW).message.id
    assert data.use(consent_id, "delivery")["shipping_address"] == VALUES["shipping_address"]
    with pytest.raises(DataRefused, match="does not allow 'marketing'"):
        data.use(consent_id, "marketing")
    raw_file = (tmp_path / "vendor.sqlite").read_bytes()
    assert b"Hauptstr" not in raw_file  # sealed by the vault, never in the clear


def test_a_revocation_erases_the_data_and_returns_a_valid_deletion_receipt(vendor):
    store, deal = vendor
    data = VendorData(store, SELLER, clock=lambda: NOW + 60)
    receipt = _disclose(data, deal)
    record = open_envelope(receipt, now=NOW).message
    sealed = store.db.execute("SELECT data FROM consents").fetchone()[0]
    answer = read_data_answer(data._revoked(Revoke(
        revocation=consent.withdraw(receipt, PAIRWISE, now=NOW + 60))))
    assert isinstance(answer, Deleted)
    consent.check_deletion(record, open_envelope(answer.receipt, now=NOW + 60))
    assert store.db.execute("SELECT data, state FROM consents").fetchone() == (None, "deleted")
    assert sealed not in store.path.read_bytes()  # erased from the file, not just unlinked
    with pytest.raises(DataRefused):
        data.use(record.id, "delivery")


def test_a_stranger_cannot_revoke(vendor):
    store, deal = vendor
    data = VendorData(store, SELLER, clock=lambda: NOW + 60)
    receipt = _disclose(data, deal)
    with pytest.raises(Exception, match="only the person"):
        data._revoked(Revoke(revocation=consent.withdraw(receipt, SELLER, now=NOW + 60)))
    assert consents.all_(store)[0].state == "active"


@pytest.mark.trio
async def test_retention_ends_on_time_with_a_deletion_receipt(vendor, autojump):
    store, deal = vendor
    start = trio.current_time()
    data = VendorData(store, SELLER, clock=lambda: NOW + (trio.current_time() - start))
    receipt = _disclose(data, deal)
    record = open_envelope(receipt, now=NOW).message
    assert record.retention_days == 30
    async with trio.open_nursery() as nursery:
        nursery.start_soon(data.purge_forever, 60.0)
        await trio.sleep(30 * DAY - 120)
        assert consents.get(store, record.id).state == "active"
        await trio.sleep(240)
        held = consents.get(store, record.id)
        assert held.state == "deleted"
        deleted = open_envelope(held.deletion, now=NOW + 30 * DAY)
        assert deleted.message.cause == "retention"
        assert NOW + 30 * DAY <= deleted.message.deleted_at <= NOW + 30 * DAY + 60
        consent.check_deletion(record, deleted)
        assert consents.data(store, record.id) is None
        nursery.cancel_scope.cancel()


def _credit(vendor_key):
    """A 10.00 EUR credit to the person's pseudonym with `vendor_key`'s owner."""
    from intentcast.protocol.loyalty import issue_credit
    from intentcast.protocol.messages import Money

    return issue_credit(vendor_key, holder=PAIRWISE.did, agreement_id="agreement-0001",
                        value=Money(amount=1000, currency="EUR"), now=NOW)


@pytest.mark.parametrize(("issuer", "presenter", "reason"), [
    ("stranger", PAIRWISE, "credit_not_ours"),  # issued by another vendor
    ("us", BUYER, "consent_mismatch"),  # presented by someone who does not hold it
])
def test_a_credit_is_honoured_only_by_its_issuer_and_from_its_holder(vendor, issuer, presenter,
                                                                     reason):
    from parties import STRANGER

    from intentcast.agents.conversation.data_wire import Redeem
    from intentcast.protocol.errors import ConsentError
    from intentcast.protocol.loyalty import redeem

    store, _ = vendor
    offer = b"\x01" * 32
    data = VendorData(store, SELLER, clock=lambda: NOW + 60,
                      offer_open=lambda d: "ref-1" if d == offer else None)
    credit = _credit(STRANGER if issuer == "stranger" else SELLER)
    presented = redeem(credit, presenter, intent_id="intent-0002", offer=offer, now=NOW + 60)
    with pytest.raises(ConsentError) as err:
        data._redeemed(Redeem(credit=credit, redemption=presented))
    assert err.value.reason.value == reason


def test_a_credit_is_spent_once(vendor):
    from intentcast.agents.conversation.data_wire import Honoured, Redeem
    from intentcast.protocol.errors import ConsentError
    from intentcast.protocol.loyalty import redeem

    store, _ = vendor
    offers = {b"\x01" * 32: "ref-1", b"\x02" * 32: "ref-2"}
    data = VendorData(store, SELLER, clock=lambda: NOW + 60, offer_open=offers.get)
    credit = _credit(SELLER)
    first = redeem(credit, PAIRWISE, intent_id="intent-0002", offer=b"\x01" * 32, now=NOW + 60)
    answer = read_data_answer(data._redeemed(Redeem(credit=credit, redemption=first)))
    assert isinstance(answer, Honoured)
    assert answer.value == 1000
    again = redeem(credit, PAIRWISE, intent_id="intent-0003", offer=b"\x02" * 32, now=NOW + 61)
    with pytest.raises(ConsentError) as err:
        data._redeemed(Redeem(credit=credit, redemption=again))
    assert err.value.reason.value == "credit_spent"
