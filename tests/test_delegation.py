"""Delegation chains: attenuation only, signatures back to the root, revocation, scope."""

from __future__ import annotations

import pytest

from intentcast.protocol import KeyPair, Money, Scope, cose, encode, seal
from intentcast.protocol.delegation import (
    Revocations,
    authorise,
    category_within,
    issue,
    revoke,
    verify_chain,
    widenings,
)
from intentcast.protocol.encoding import decode
from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.errors import DelegationError, LocalProtocolError, Reason
from intentcast.protocol.messages import Delegation, Revocation, digest, new_id

NOW = 1_800_000_000
DAY = 86_400
PERSON = KeyPair(b"\x01" * 32)
ASSISTANT = KeyPair(b"\x02" * 32)
HELPER = KeyPair(b"\x03" * 32)
STRANGER = KeyPair(b"\x04" * 32)

WIDE = Scope(
    categories=["outdoor", "food"],
    max_price=Money(amount=25_000, currency="EUR"),
    may_counter=True,
    may_accept=True,
    may_disclose=["postcode", "size"],
)


def narrow(**changes) -> Scope:
    base = {
        "categories": ["outdoor.camping"],
        "max_price": Money(amount=20_000, currency="EUR"),
        "may_counter": True,
        "may_accept": False,
        "may_disclose": ["size"],
    }
    return Scope(**{**base, **changes})


def two_links(scope: Scope | None = None) -> list[bytes]:
    first = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + 7 * DAY)
    second = issue(
        ASSISTANT, HELPER.did, scope or narrow(), now=NOW, expires_at=NOW + DAY, parent=first
    )
    return [first, second]


def resign(raw: bytes, key: KeyPair, **changes) -> bytes:
    """Re-sign a delegation's payload with changes: what a forger with `key` can make."""
    payload = decode(cose.verify(raw).payload)
    payload.update(changes)
    return cose.sign1(encode(payload), key.seed)


def test_single_link_grants_its_scope():
    link = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + DAY)
    authority = verify_chain([link], root=PERSON.did, now=NOW + 10)
    assert authority.delegate == ASSISTANT.did
    assert authority.scope == WIDE
    assert authority.chain == (PERSON.did, ASSISTANT.did)


def test_two_links_narrow_and_the_leaf_scope_applies():
    authority = verify_chain(two_links(), root=PERSON.did, now=NOW + 10)
    assert authority.chain == (PERSON.did, ASSISTANT.did, HELPER.did)
    assert authority.scope.categories == ["outdoor.camping"]
    assert authority.expires_at == NOW + DAY


def test_each_link_is_an_ordinary_signed_envelope():
    link = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + DAY)
    verified = open_envelope(link, now=NOW)
    assert isinstance(verified.message, Delegation)
    assert verified.signer == PERSON.did
    assert len(verified.message.nonce) == 16


def test_two_delegations_of_the_same_scope_differ_by_nonce():
    a = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + DAY)
    b = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + DAY)
    assert a != b


def test_wrong_root_breaks_the_chain():
    with pytest.raises(DelegationError) as err:
        verify_chain(two_links(), root=STRANGER.did, now=NOW)
    assert err.value.reason is Reason.DELEGATION_BROKEN_CHAIN


def test_links_out_of_order_break_the_chain():
    first, second = two_links()
    with pytest.raises(DelegationError) as err:
        verify_chain([second, first], root=PERSON.did, now=NOW)
    assert err.value.reason is Reason.DELEGATION_BROKEN_CHAIN


def test_a_link_must_name_its_parent():
    first, second = two_links()
    orphan = resign(second, ASSISTANT, parent=b"\x00" * 32)
    with pytest.raises(DelegationError) as err:
        verify_chain([first, orphan], root=PERSON.did, now=NOW)
    assert err.value.reason is Reason.DELEGATION_BROKEN_CHAIN


def test_a_link_signed_by_someone_else_than_its_issuer_is_refused():
    first, _ = two_links()
    forged = resign(first, STRANGER)  # still says issuer = PERSON
    with pytest.raises(DelegationError) as err:
        verify_chain([forged], root=PERSON.did, now=NOW)
    assert err.value.reason is Reason.DELEGATION_BROKEN_CHAIN


def test_a_tampered_link_fails_its_signature():
    first, _ = two_links()
    tampered = bytearray(first)
    tampered[-1] ^= 1
    with pytest.raises(DelegationError) as err:
        verify_chain([bytes(tampered)], root=PERSON.did, now=NOW)
    assert err.value.reason is Reason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "widened",
    [
        {"categories": ["electronics"]},
        {"categories": ["outdoor.camping", "travel"]},
        {"max_price": Money(amount=30_000, currency="EUR")},
        {"max_price": Money(amount=100, currency="USD")},
        {"max_price": None},
        {"may_disclose": ["size", "email"]},
    ],
)
def test_a_widening_child_is_refused_by_verifier_and_issuer(widened):
    first = issue(PERSON, ASSISTANT.did, narrow(), now=NOW, expires_at=NOW + DAY)
    child = {**narrow().model_dump(), **widened}
    with pytest.raises(LocalProtocolError) as err:
        issue(ASSISTANT, HELPER.did, Scope(**child), now=NOW, expires_at=NOW + DAY, parent=first)
    assert err.value.reason is Reason.DELEGATION_WIDENED
    # A dishonest issuer signs it anyway; the verifier refuses it.
    honest = issue(ASSISTANT, HELPER.did, narrow(), now=NOW, expires_at=NOW + DAY, parent=first)
    scope = decode(cose.verify(honest).payload)["scope"]
    scope.update({k: (v.model_dump() if isinstance(v, Money) else v) for k, v in widened.items()})
    scope = {k: v for k, v in scope.items() if v is not None}
    forged = resign(honest, ASSISTANT, scope=scope)
    with pytest.raises(DelegationError) as err2:
        verify_chain([first, forged], root=PERSON.did, now=NOW)
    assert err2.value.reason is Reason.DELEGATION_WIDENED


def test_a_child_may_not_gain_accept_or_counter():
    first = issue(PERSON, ASSISTANT.did, narrow(may_counter=False), now=NOW, expires_at=NOW + DAY)
    for grab in ({"may_counter": True}, {"may_accept": True}):
        with pytest.raises(LocalProtocolError) as err:
            issue(
                ASSISTANT, HELPER.did, narrow(**{"may_counter": False, **grab}),
                now=NOW, expires_at=NOW + DAY, parent=first,
            )
        assert err.value.reason is Reason.DELEGATION_WIDENED


def test_a_child_may_not_outlive_or_predate_its_parent():
    first = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + DAY, not_before=NOW)
    with pytest.raises(LocalProtocolError):
        issue(ASSISTANT, HELPER.did, narrow(), now=NOW, expires_at=NOW + 2 * DAY, parent=first)
    with pytest.raises(LocalProtocolError):
        issue(
            ASSISTANT, HELPER.did, narrow(), now=NOW, expires_at=NOW + DAY,
            not_before=NOW - 10, parent=first,
        )


def test_only_the_parents_delegate_may_extend_the_chain():
    first = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + DAY)
    with pytest.raises(LocalProtocolError) as err:
        issue(STRANGER, HELPER.did, narrow(), now=NOW, expires_at=NOW + DAY, parent=first)
    assert err.value.reason is Reason.DELEGATION_BROKEN_CHAIN


def test_window_not_yet_valid_and_expired():
    link = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + DAY, not_before=NOW + 60)
    with pytest.raises(DelegationError) as early:
        verify_chain([link], root=PERSON.did, now=NOW + 59)
    assert early.value.reason is Reason.DELEGATION_NOT_YET_VALID
    verify_chain([link], root=PERSON.did, now=NOW + 60)
    with pytest.raises(DelegationError) as late:
        verify_chain([link], root=PERSON.did, now=NOW + DAY)
    assert late.value.reason is Reason.DELEGATION_EXPIRED


def test_an_expired_middle_link_breaks_the_chain():
    first = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + 100)
    second = issue(ASSISTANT, HELPER.did, narrow(), now=NOW, expires_at=NOW + 100, parent=first)
    with pytest.raises(DelegationError) as err:
        verify_chain([first, second], root=PERSON.did, now=NOW + 100)
    assert err.value.reason is Reason.DELEGATION_EXPIRED


def _revocations(*envelopes: bytes) -> Revocations:
    known = Revocations()
    for raw in envelopes:
        known.add(open_envelope(raw, now=NOW + 1))
    return known


def test_revoked_leaf_by_its_issuer_breaks_the_chain():
    first, second = two_links()
    known = _revocations(revoke(ASSISTANT, second, now=NOW, expires_at=NOW + DAY))
    with pytest.raises(DelegationError) as err:
        verify_chain([first, second], root=PERSON.did, now=NOW + 2, revocations=known)
    assert err.value.reason is Reason.DELEGATION_REVOKED
    verify_chain([first], root=PERSON.did, now=NOW + 2, revocations=known)


def test_the_person_may_revoke_any_link_below_them():
    first, second = two_links()
    known = _revocations(revoke(PERSON, second, now=NOW, expires_at=NOW + DAY))
    with pytest.raises(DelegationError) as err:
        verify_chain([first, second], root=PERSON.did, now=NOW + 2, revocations=known)
    assert err.value.reason is Reason.DELEGATION_REVOKED


def test_revoking_the_root_link_kills_everything_below():
    first, second = two_links()
    known = _revocations(revoke(PERSON, first, now=NOW, expires_at=NOW + 7 * DAY))
    with pytest.raises(DelegationError) as err:
        verify_chain([first, second], root=PERSON.did, now=NOW + 2, revocations=known)
    assert err.value.reason is Reason.DELEGATION_REVOKED


def test_a_revocation_by_an_outsider_or_the_delegate_below_does_not_count():
    first, second = two_links()
    known = _revocations(
        revoke(STRANGER, first, now=NOW, expires_at=NOW + DAY),
        revoke(HELPER, first, now=NOW, expires_at=NOW + DAY),
    )
    verify_chain([first, second], root=PERSON.did, now=NOW + 2, revocations=known)


def test_revocations_accept_only_delegation_revocations():
    link = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + DAY)
    with pytest.raises(LocalProtocolError):
        Revocations().add(open_envelope(link, now=NOW))


@pytest.mark.parametrize(
    ("where", "extra"),
    [("scope", {"max_quantity": 3}), ("top", {"region": "EU"})],
)
def test_an_unknown_constraint_fails_rather_than_being_ignored(where, extra):
    link = issue(PERSON, ASSISTANT.did, WIDE, now=NOW, expires_at=NOW + DAY)
    payload = decode(cose.verify(link).payload)
    if where == "scope":
        payload["scope"].update(extra)
    else:
        payload.update(extra)
    unknown = cose.sign1(encode(payload), PERSON.seed)
    with pytest.raises(DelegationError) as err:
        verify_chain([unknown], root=PERSON.did, now=NOW)
    assert err.value.reason is Reason.DELEGATION_UNKNOWN_CONSTRAINT


def test_a_chain_of_something_else_is_refused():
    other = seal(
        Delegation(
            id=new_id(), issued_at=NOW, expires_at=NOW + DAY, issuer=PERSON.did,
            delegate=ASSISTANT.did, scope=WIDE, not_before=NOW, nonce=b"n" * 16,
        ),
        PERSON,
    )
    verify_chain([other], root=PERSON.did, now=NOW)
    with pytest.raises(DelegationError) as err:
        verify_chain([], root=PERSON.did, now=NOW)
    assert err.value.reason is Reason.DELEGATION_BROKEN_CHAIN
    with pytest.raises(DelegationError) as err2:
        verify_chain([b"\xa0"], root=PERSON.did, now=NOW)
    assert err2.value.reason is Reason.BAD_STRUCTURE


def test_chain_length_is_bounded():
    links = [issue(PERSON, PERSON.did, WIDE, now=NOW, expires_at=NOW + DAY)]
    for _ in range(4):
        link = issue(PERSON, PERSON.did, WIDE, now=NOW, expires_at=NOW + DAY, parent=links[-1])
        links.append(link)
    verify_chain(links[:4], root=PERSON.did, now=NOW)
    with pytest.raises(DelegationError) as err:
        verify_chain(links, root=PERSON.did, now=NOW)
    assert err.value.reason is Reason.DELEGATION_BROKEN_CHAIN


@pytest.mark.parametrize(
    ("category", "within"),
    [
        ("outdoor", "outdoor"),
        ("outdoor.camping.tents", "outdoor"),
        ("outdoor.camping", "outdoor.camping"),
    ],
)
def test_category_within(category, within):
    assert category_within(category, within)


@pytest.mark.parametrize(
    ("category", "allowed"),
    [("outdoorsy", "outdoor"), ("outdoor", "outdoor.camping"), ("food", "outdoor")],
)
def test_category_not_within(category, allowed):
    assert not category_within(category, allowed)


def test_widenings_names_every_problem():
    child = Scope(
        categories=["travel"], max_price=None, may_counter=True, may_accept=True,
        may_disclose=["email"],
    )
    problems = widenings(child, narrow(may_counter=False))
    assert len(problems) == 5


class TestAuthorise:
    authority = verify_chain(two_links(), root=PERSON.did, now=NOW)

    def test_within_scope(self):
        authorise(
            self.authority, "counter", category="outdoor.camping.tents",
            price=Money(amount=20_000, currency="EUR"), fields=["size"],
        )

    @pytest.mark.parametrize(
        ("action", "kwargs", "reason"),
        [
            ("counter", {"category": "outdoor.climbing"}, Reason.OUT_OF_SCOPE_CATEGORY),
            ("accept", {"category": "outdoor.camping"}, Reason.ACTION_NOT_DELEGATED),
            (
                "counter",
                {"category": "outdoor.camping", "price": Money(amount=20_001, currency="EUR")},
                Reason.OVER_PRICE_CAP,
            ),
            (
                "counter",
                {"category": "outdoor.camping", "price": Money(amount=1, currency="GBP")},
                Reason.OVER_PRICE_CAP,
            ),
            (
                "disclose",
                {"category": "outdoor.camping", "fields": ["email"]},
                Reason.FIELD_NOT_DELEGATED,
            ),
        ],
    )
    def test_refusals(self, action, kwargs, reason):
        with pytest.raises(DelegationError) as err:
            authorise(self.authority, action, **kwargs)
        assert err.value.reason is reason

    def test_counter_not_delegated(self):
        authority = verify_chain(
            two_links(narrow(may_counter=False)), root=PERSON.did, now=NOW
        )
        with pytest.raises(DelegationError) as err:
            authorise(authority, "counter", category="outdoor.camping")
        assert err.value.reason is Reason.ACTION_NOT_DELEGATED


def test_revocations_are_bounded_per_issuer_and_in_all():
    # Anyone can sign revocations of random targets: a verifier keeps a bounded number.
    known = Revocations(per_issuer=3, capacity=5)
    first, _ = two_links()

    def revocation(by, target: bytes, expires_at: int = NOW + 100) -> bool:
        raw = seal(Revocation(id=new_id(), issued_at=NOW, expires_at=expires_at, target=target,
                              target_type="delegation"), by)
        return known.add(open_envelope(raw, now=NOW))

    assert [revocation(STRANGER, bytes([i]) * 32) for i in range(5)] == [True] * 3 + [False] * 2
    assert revocation(PERSON, digest(first))  # another issuer still has room
    assert len(known) == 4
    assert revocation(ASSISTANT, bytes(32))
    assert not revocation(ASSISTANT, bytes([9]) * 32)
    assert len(known) == 5  # the total cap
    assert known.revoked(digest(first), [PERSON.did])


def test_revocations_are_forgotten_when_they_expire():
    known = Revocations()
    first, _ = two_links()
    raw = seal(Revocation(id=new_id(), issued_at=NOW, expires_at=NOW + 60, target=digest(first),
                          target_type="delegation"), PERSON)
    assert known.add(open_envelope(raw, now=NOW))
    known.prune(NOW + 59)
    assert known.revoked(digest(first), [PERSON.did])
    known.prune(NOW + 60)
    assert (len(known), known.revoked(digest(first), [PERSON.did])) == (0, False)
