"""An assistant negotiating for the person under a delegation chain.

Both sides are real `Negotiation`s exchanging real signed envelopes. The
assistant's own state machine refuses a move outside its scope before sealing
it; the seller refuses the same move, with the same reason code, when a
dishonest assistant seals it anyway.
"""

from __future__ import annotations

import pytest

from intentcast.protocol.delegation import Revocations, issue, revoke
from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.envelope import seal
from intentcast.protocol.errors import DelegationError, LocalProtocolError, NegotiationError, Reason
from intentcast.protocol.identity import KeyPair
from intentcast.protocol.messages import (
    Accept,
    Agreement,
    Counter,
    Delegation,
    Intent,
    Money,
    ReplyTo,
    Scope,
    digest,
    new_id,
)
from intentcast.protocol.negotiation import Negotiation, Role, State
from intentcast.protocol.terms import CustomerTerms, DataRequest, VendorTerms

NOW = 1_800_000_000
PERSON = KeyPair(b"\x41" * 32)  # the intent's key
ASSISTANT = KeyPair(b"\x42" * 32)
HELPER = KeyPair(b"\x43" * 32)  # the assistant's own sub-delegate
SELLER = KeyPair(b"\x44" * 32)
PEER = "12D3KooWDemoWa1kthroughNoNetworkXXXXXXXXXXXXXXXXXXXXX"
TERMS = CustomerTerms(purposes=["delivery"], retention_days=90)
FAIR = VendorTerms(requests=[DataRequest(field="shipping_address", purpose="delivery",
                                         retention_days=30)])


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


SCOPE = Scope(categories=["outdoor"], max_price=eur(20_000), may_counter=True, may_accept=True)


def intent(assistant: str | None = ASSISTANT.did, category: str = "outdoor.camping.tents"
           ) -> bytes:
    return seal(Intent(
        id=new_id(), issued_at=NOW, expires_at=NOW + 3600, category=category,
        description="a tent", terms=TERMS, reply_to=ReplyTo(peer_id=PEER), assistant=assistant,
    ), PERSON)


def link(scope: Scope = SCOPE, *, expires_at: int = NOW + 60, issuer: KeyPair = PERSON,
         delegate: str = ASSISTANT.did, parent: bytes | None = None) -> bytes:
    return issue(issuer, delegate, scope, now=NOW, expires_at=expires_at, parent=parent)


def opened(raw_intent: bytes, price: int = 19_000, revocations: Revocations | None = None
           ) -> tuple[Negotiation, Negotiation]:
    buyer = Negotiation(Role.BUYER, ASSISTANT, raw_intent, now=NOW)
    seller = Negotiation(Role.SELLER, SELLER, raw_intent, now=NOW, revocations=revocations)
    buyer.receive(seller.offer(sku="T-1", title="Tent", quantity=1, price=eur(price),
                               terms=FAIR, now=NOW), now=NOW)
    return buyer, seller


def forged(seller: Negotiation, kind: type[Counter] | type[Accept], chain: list[bytes],
           price: int, signer: KeyPair = ASSISTANT) -> bytes:
    """A move sealed by hand, skipping the assistant's own checks (a dishonest assistant)."""
    extra = {"round": 1} if kind is Counter else {}
    return seal(kind(id=new_id(), issued_at=NOW, expires_at=NOW + 600,
                     intent_id=seller.intent.id, in_reply_to=seller.head, price=eur(price),
                     delegation=chain, **extra), signer)


def test_an_assistant_counters_accepts_and_signs_for_the_person() -> None:
    buyer, seller = opened(intent())
    chain = [link()]
    seller.receive(buyer.counter(price=eur(17_000), now=NOW, delegation=chain), now=NOW)
    buyer.receive(seller.counter(price=eur(18_000), now=NOW), now=NOW)
    seller.receive(buyer.accept(now=NOW, delegation=[link()]), now=NOW)
    buyer.receive(seller.sign_agreement(now=NOW), now=NOW)
    final = buyer.countersign(now=NOW)
    seller.receive(final, now=NOW)
    assert buyer.state is seller.state is State.AGREED
    verified = open_envelope(final, now=NOW)
    agreement = verified.message
    assert isinstance(agreement, Agreement)
    assert agreement.buyer == PERSON.did
    assert agreement.agent == ASSISTANT.did
    assert agreement.delegation is not None
    assert len(agreement.delegation) == 1
    assert set(verified.signers) == {ASSISTANT.did, SELLER.did}


def test_the_person_may_still_act_with_the_intents_own_key() -> None:
    raw = intent()
    person = Negotiation(Role.BUYER, PERSON, raw, now=NOW)
    seller = Negotiation(Role.SELLER, SELLER, raw, now=NOW)
    person.receive(seller.offer(sku="T-1", title="Tent", quantity=1, price=eur(19_000),
                                terms=FAIR, now=NOW), now=NOW)
    seller.receive(person.accept(now=NOW), now=NOW)
    person.receive(seller.sign_agreement(now=NOW), now=NOW)
    seller.receive(person.countersign(now=NOW), now=NOW)
    assert seller.state is State.AGREED


@pytest.mark.parametrize(("scope", "intent_category", "move", "price", "reason"), [
    (SCOPE, "outdoor.camping.tents", Counter, 25_000, Reason.OVER_PRICE_CAP),
    (SCOPE.model_copy(update={"may_accept": False}), "outdoor.camping.tents", Accept, 19_000,
     Reason.ACTION_NOT_DELEGATED),
    (SCOPE.model_copy(update={"may_counter": False}), "outdoor.camping.tents", Counter, 15_000,
     Reason.ACTION_NOT_DELEGATED),
    (SCOPE.model_copy(update={"categories": ["food"]}), "outdoor.camping.tents", Counter,
     15_000, Reason.OUT_OF_SCOPE_CATEGORY),
    (SCOPE.model_copy(update={"max_price": Money(amount=1, currency="USD")}),
     "outdoor.camping.tents", Counter, 15_000, Reason.OVER_PRICE_CAP),
])
def test_a_move_outside_the_scope_is_refused_by_both_sides_alike(
    scope: Scope, intent_category: str, move: type[Counter] | type[Accept], price: int,
    reason: Reason,
) -> None:
    buyer, seller = opened(intent(category=intent_category), price=price)
    chain = [link(scope)]
    def act() -> bytes:
        if move is Counter:
            return buyer.counter(price=eur(price), now=NOW, delegation=chain)
        return buyer.accept(now=NOW, delegation=chain)

    with pytest.raises(LocalProtocolError) as local:
        act()
    assert local.value.reason is reason
    assert buyer.state is State.BUYER_TURN  # nothing was sealed or changed
    with pytest.raises(NegotiationError) as remote:
        seller.receive(forged(seller, move, chain, price), now=NOW)
    assert remote.value.reason is reason
    assert seller.state is State.BUYER_TURN


def test_a_widened_sub_delegation_is_refused() -> None:
    _, seller = opened(intent())
    parent = link()
    # The sub-delegate asks for a higher cap than its parent grants: sealed by hand,
    # because `issue` itself refuses to widen.
    wider = SCOPE.model_copy(update={"max_price": eur(90_000)})

    child = seal(Delegation(
        id=new_id(), issued_at=NOW, expires_at=NOW + 60, issuer=ASSISTANT.did,
        delegate=HELPER.did, scope=wider, not_before=NOW, nonce=b"\x00" * 16,
        parent=digest(parent),
    ), ASSISTANT)
    with pytest.raises(NegotiationError) as refused:
        seller.receive(forged(seller, Counter, [parent, child], 15_000, HELPER), now=NOW)
    assert refused.value.reason is Reason.DELEGATION_WIDENED
    # The same error is a DelegationError: a caller can tell "an assistant overstepped"
    # from any other refusal without listing the delegation reasons itself.
    assert isinstance(refused.value, DelegationError)


def test_a_narrowing_sub_delegate_may_act() -> None:
    _, seller = opened(intent())
    parent = link()
    child = link(SCOPE.model_copy(update={"max_price": eur(16_000)}), issuer=ASSISTANT,
                 delegate=HELPER.did, parent=parent)
    seller.receive(forged(seller, Counter, [parent, child], 15_000, HELPER), now=NOW)
    assert seller.state is State.SELLER_TURN


def test_an_expired_link_is_refused() -> None:
    _, seller = opened(intent())
    stale = issue(PERSON, ASSISTANT.did, SCOPE, now=NOW - 120, expires_at=NOW - 60)
    with pytest.raises(NegotiationError) as refused:
        seller.receive(forged(seller, Counter, [stale], 15_000), now=NOW)
    assert refused.value.reason is Reason.DELEGATION_EXPIRED


def test_a_revoked_link_is_refused_once_the_seller_knows() -> None:
    revocations = Revocations()
    _, seller = opened(intent(), revocations=revocations)
    chain = [link()]
    revocation = revoke(PERSON, chain[0], now=NOW, expires_at=NOW + 60)
    revocations.add(open_envelope(revocation, now=NOW))
    with pytest.raises(NegotiationError) as refused:
        seller.receive(forged(seller, Counter, chain, 15_000), now=NOW)
    assert refused.value.reason is Reason.DELEGATION_REVOKED


def test_a_revocation_by_a_stranger_counts_for_nothing() -> None:
    revocations = Revocations()
    _, seller = opened(intent(), revocations=revocations)
    chain = [link()]
    revocations.add(open_envelope(revoke(SELLER, chain[0], now=NOW, expires_at=NOW + 60),
                                  now=NOW))
    seller.receive(forged(seller, Counter, chain, 15_000), now=NOW)
    assert seller.state is State.SELLER_TURN


def test_a_chain_to_an_assistant_the_intent_does_not_name_is_refused() -> None:
    _, seller = opened(intent(assistant=HELPER.did))
    with pytest.raises(NegotiationError) as refused:
        seller.receive(forged(seller, Counter, [link()], 15_000), now=NOW)
    assert refused.value.reason is Reason.DELEGATION_BROKEN_CHAIN


def test_a_chain_signed_by_anyone_but_the_intents_key_is_refused() -> None:
    _, seller = opened(intent())
    with pytest.raises(NegotiationError) as refused:
        seller.receive(forged(seller, Counter, [link(issuer=SELLER)], 15_000), now=NOW)
    assert refused.value.reason is Reason.DELEGATION_BROKEN_CHAIN


def test_an_assistant_move_without_a_chain_is_refused() -> None:
    buyer, seller = opened(intent())
    with pytest.raises(LocalProtocolError) as local:
        buyer.counter(price=eur(15_000), now=NOW)
    assert local.value.reason is Reason.DELEGATION_BROKEN_CHAIN
    unchained = seal(Counter(id=new_id(), issued_at=NOW, expires_at=NOW + 600, round=1,
                             intent_id=seller.intent.id, in_reply_to=seller.head,
                             price=eur(15_000)), ASSISTANT)
    with pytest.raises(NegotiationError) as remote:
        seller.receive(unchained, now=NOW)
    assert remote.value.reason is Reason.WRONG_COUNTERPARTY


def test_no_assistant_may_negotiate_an_intent_that_names_none() -> None:
    with pytest.raises(LocalProtocolError) as refused:
        Negotiation(Role.BUYER, ASSISTANT, intent(assistant=None), now=NOW)
    assert refused.value.reason is Reason.BAD_KEY


def test_an_assistant_rejects_but_never_withdraws_the_persons_intent() -> None:
    buyer, seller = opened(intent())
    with pytest.raises(LocalProtocolError):
        buyer.withdraw(reason="no", now=NOW)
    seller.receive(buyer.reject(reason="too dear", now=NOW, delegation=[link()]), now=NOW)
    assert seller.state is State.REJECTED
