"""The buyer/seller negotiation state machine, driven pairwise over real signed envelopes.

Two `Negotiation`s, one per side, hand each other the bytes their actions return. Nothing is
mocked: every message is sealed with a real Ed25519 key and verified by `receive`. Time is an
integer passed in. Illegal moves are checked against a table written here from the protocol's
description (FIPA Contract Net), not read back from `negotiation._TRANSITIONS`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from parties import BUYER, FAIR, NOW, PEER, SELLER, STRANGER, TERMS

from intentcast.protocol import acknowledge, check_ack, cose
from intentcast.protocol.envelope import countersign as add_signature
from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.envelope import parse_message, seal
from intentcast.protocol.errors import (
    IntentcastError,
    LocalProtocolError,
    NegotiationError,
    Reason,
    RemoteProtocolError,
)
from intentcast.protocol.identity import KeyPair
from intentcast.protocol.messages import (
    Accept,
    Agreement,
    Constraints,
    Counter,
    Intent,
    Message,
    Money,
    Offer,
    Reject,
    ReplyTo,
    Withdraw,
    digest,
    new_id,
    terms_hash,
)
from intentcast.protocol.negotiation import DEFAULT_TTL, Negotiation, Role, State
from intentcast.protocol.terms import CustomerTerms, DataRequest, VendorTerms

INTENT_TTL = 3600
KEYS = {Role.BUYER: BUYER, Role.SELLER: SELLER}
B, S = Role.BUYER, Role.SELLER

GREEDY = VendorTerms(requests=[
    DataRequest(field="email", purpose="receipt", retention_days=30),
    DataRequest(field="email", purpose="marketing", retention_days=730, profiling=True),
], delete_on_revocation=False)
SKU, TITLE = "TH-TENT-2", "Ridgeline 2P tent, 1.9 kg"

OPEN = (State.AWAITING_OFFER, State.BUYER_TURN, State.SELLER_TURN, State.ACCEPTED,
        State.SELLER_SIGNED)
TERMINAL = (State.AGREED, State.REJECTED, State.WITHDRAWN, State.EXPIRED)
ALL_STATES = OPEN + TERMINAL


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def other(role: Role) -> Role:
    return S if role is B else B


def make_intent(key: KeyPair = BUYER, *, now: int = NOW, quantity: int = 1) -> bytes:
    intent = Intent(
        id=new_id(), issued_at=now, expires_at=now + INTENT_TTL,
        category="outdoor.camping.tents", description="Two-person backpacking tent",
        constraints=Constraints(max_price=eur(20_000), quantity=quantity),
        terms=TERMS, reply_to=ReplyTo(peer_id=PEER),
    )
    return seal(intent, key)


@functools.lru_cache(maxsize=4096)
def decoded(raw: bytes) -> Message:
    """The message inside an envelope, its signatures checked, whatever the time."""
    return parse_message(cose.verify(raw).payload)


@functools.lru_cache(maxsize=4096)
def signers(raw: bytes) -> frozenset[str]:
    return frozenset(s.signer for s in cose.verify(raw).signatures)


def complete(raw: bytes | None, now: int) -> bool:
    """`raw` is an agreement that opens with both parties' signatures at `now`."""
    return raw is not None and _complete(raw) and now < decoded(raw).expires_at


@functools.lru_cache(maxsize=4096)
def _complete(raw: bytes) -> bool:
    try:
        open_envelope(raw, now=decoded(raw).issued_at, require_complete=True)
    except IntentcastError:
        return False
    return True


def snapshot(n: Negotiation) -> tuple[Any, ...]:
    """Everything observable about one side's negotiation."""
    return (n.state, tuple(n.transcript), n.round, n.deadline, n.on_table, n.first_offer,
            n.offer_digest, n.accepted, n.agreement, n.counterparty)


def refused(n: Negotiation, raw: bytes, reason: Reason | None, *, now: int = NOW) -> None:
    """`n` refuses `raw` (with `reason`, if given) and is left exactly as it was."""
    before = snapshot(n)
    with pytest.raises(NegotiationError) as info:
        n.receive(raw, now=now)
    assert reason is None or info.value.reason is reason, info.value
    assert snapshot(n) == before


def refused_locally(n: Negotiation, move: Callable[[], object], reason: Reason) -> None:
    before = snapshot(n)
    with pytest.raises(LocalProtocolError) as info:
        move()
    assert info.value.reason is reason, info.value
    assert snapshot(n) == before


def attempt(move: Callable[[], bytes]) -> tuple[bytes | None, LocalProtocolError | None]:
    """A local move's envelope, or the refusal it met."""
    try:
        return move(), None
    except LocalProtocolError as exc:
        return None, exc


_FILL: dict[type, Callable[[Negotiation], dict[str, Any]]] = {
    Offer: lambda n: {"sku": SKU, "title": TITLE, "quantity": 1, "price": eur(21_900)},
    Counter: lambda n: {"round": n.round + 1, "price": eur(19_000)},
    Accept: lambda n: {"price": n.on_table.price if n.on_table else eur(19_000)},
    Reject: lambda n: {"reason": "no thanks"},
    Withdraw: lambda n: {"reason": "gone"},
}


def forge(cls: type, key: KeyPair, to: Negotiation, *, now: int = NOW, **fields: Any) -> bytes:
    """A message signed by `key` that fits `to` in every way `fields` does not change."""
    body: dict[str, Any] = {
        "id": new_id(), "issued_at": now, "expires_at": now + DEFAULT_TTL,
        "intent_id": to.intent.id, "in_reply_to": to.head, **_FILL[cls](to),
    }
    body.update(fields)
    return seal(cls(**body), key)


@dataclass
class Deal:
    """A buyer and a seller negotiating one intent; `wire` keeps every envelope delivered."""

    intent: bytes
    buyer: Negotiation
    seller: Negotiation
    now: int = NOW
    wire: list[bytes] = field(default_factory=list)

    @classmethod
    def start(cls, *, buyer_rounds: int = 8, seller_rounds: int = 8) -> Deal:
        intent = make_intent()
        return cls(
            intent,
            Negotiation(B, BUYER, intent, now=NOW, max_rounds=buyer_rounds),
            Negotiation(S, SELLER, intent, now=NOW, max_rounds=seller_rounds),
            wire=[intent],
        )

    def side(self, role: Role) -> Negotiation:
        return self.buyer if role is B else self.seller

    def send(self, to: Role, raw: bytes) -> bytes:
        self.side(to).receive(raw, now=self.now)
        self.wire.append(raw)
        return raw

    def offer(self, *, terms: VendorTerms = FAIR, price: int = 21_900) -> bytes:
        raw = self.seller.offer(sku=SKU, title=TITLE, quantity=1, price=eur(price), terms=terms,
                                now=self.now)
        return self.send(B, raw)

    def states(self) -> tuple[State, State]:
        return self.buyer.state, self.seller.state


def drive(target: State, **kw: int) -> Deal:
    """A fresh deal with both sides in `target`, by the shortest honest route."""
    d = Deal.start(**kw)
    if target is State.WITHDRAWN:
        d.send(S, d.buyer.withdraw(reason="changed my mind", now=d.now))
    elif target is State.EXPIRED:
        d.now = d.buyer.deadline
        assert d.buyer.expire(now=d.now)
        assert d.seller.expire(now=d.now)
    elif target is not State.AWAITING_OFFER:
        d.offer()
        if target is State.REJECTED:
            d.send(S, d.buyer.reject(reason="too dear", now=d.now))
        elif target is State.SELLER_TURN:
            d.send(S, d.buyer.counter(price=eur(18_000), now=d.now))
        elif target is not State.BUYER_TURN:
            d.send(S, d.buyer.accept(now=d.now))
            if target is not State.ACCEPTED:
                d.send(B, d.seller.sign_agreement(now=d.now))
                if target is not State.SELLER_SIGNED:
                    d.send(S, d.buyer.countersign(now=d.now))
    assert d.states() == (target, target)
    return d


# -- the happy path --------------------------------------------------------------------------


def test_offer_counter_counter_accept_sign_countersign():
    d = Deal.start()
    offer = d.offer(price=21_900)
    assert d.states() == (State.BUYER_TURN, State.BUYER_TURN)
    c1 = d.send(S, d.buyer.counter(price=eur(18_000), now=NOW, note="180?"))
    assert d.states() == (State.SELLER_TURN, State.SELLER_TURN)
    c2 = d.send(B, d.seller.counter(price=eur(19_500), now=NOW + 10))
    assert d.states() == (State.BUYER_TURN, State.BUYER_TURN)
    accept = d.send(S, d.buyer.accept(now=NOW + 20))
    assert d.states() == (State.ACCEPTED, State.ACCEPTED)
    half = d.send(B, d.seller.sign_agreement(now=NOW + 30))
    assert d.states() == (State.SELLER_SIGNED, State.SELLER_SIGNED)
    assert signers(half) == {SELLER.did}
    full = d.send(S, d.buyer.countersign(now=NOW + 40))
    assert d.states() == (State.AGREED, State.AGREED)
    assert d.buyer.agreement == d.seller.agreement == full

    verified = open_envelope(full, now=NOW + 50, require_complete=True)
    assert set(verified.signers) == {BUYER.did, SELLER.did}
    agreement = verified.message
    assert isinstance(agreement, Agreement)
    assert (agreement.buyer, agreement.vendor) == (BUYER.did, SELLER.did)
    assert agreement.intent_hash == digest(d.intent)
    assert agreement.offer_hash == digest(offer)
    assert agreement.accept_hash == digest(accept) == d.buyer.head == d.seller.head
    assert agreement.price == eur(19_500) == decoded(c2).price == decoded(accept).price
    assert (agreement.sku, agreement.title, agreement.quantity) == (SKU, TITLE, 1)
    assert (agreement.customer_terms, agreement.vendor_terms) == (TERMS, FAIR)
    assert agreement.terms_hash == terms_hash(
        sku=SKU, quantity=1, price=eur(19_500), customer=TERMS, vendor=FAIR
    )
    # The countersignature added a signature and changed nothing that was signed.
    assert cose.parse(half).payload == cose.parse(full).payload
    # Both sides hold the same hash-linked transcript: intent, offer, counters, accept.
    assert d.buyer.transcript == d.seller.transcript == [d.intent, offer, c1, c2, accept]
    assert d.buyer.round == d.seller.round == 2


def test_every_message_answers_the_digest_of_the_one_before():
    d = Deal.start()
    d.offer()
    d.send(S, d.buyer.counter(price=eur(18_000), now=NOW))
    d.send(B, d.seller.counter(price=eur(19_000), now=NOW))
    d.send(S, d.buyer.counter(price=eur(18_500), now=NOW))
    d.send(B, d.seller.counter(price=eur(18_800), now=NOW))
    d.send(S, d.buyer.accept(now=NOW))
    for previous, raw in zip(d.wire, d.wire[1:], strict=False):
        message = decoded(raw)
        assert message.intent_id == decoded(d.intent).id
        assert message.in_reply_to == digest(previous)
    assert [decoded(r).round for r in d.wire[2:6]] == [1, 2, 3, 4]


# -- starting a negotiation ------------------------------------------------------------------


def test_a_negotiation_starts_from_an_intent_signed_by_the_buyer():
    intent = make_intent()
    with pytest.raises(LocalProtocolError) as info:
        Negotiation(B, SELLER, intent, now=NOW)
    assert info.value.reason is Reason.BAD_KEY
    d = drive(State.BUYER_TURN)
    with pytest.raises(NegotiationError) as wrong:
        Negotiation(S, SELLER, d.wire[1], now=NOW)
    assert wrong.value.reason is Reason.WRONG_INTENT
    with pytest.raises(LocalProtocolError) as rounds:
        Negotiation(S, SELLER, intent, now=NOW, max_rounds=17)
    assert rounds.value.reason is Reason.TOO_MANY_ROUNDS
    with pytest.raises(RemoteProtocolError) as late:
        Negotiation(S, SELLER, intent, now=NOW + INTENT_TTL)
    assert late.value.reason is Reason.EXPIRED


# -- what the peer sends must fit ------------------------------------------------------------


@pytest.mark.parametrize("link", ["intent", "offer", "zeros", "unseen"])
def test_wrong_in_reply_to_is_a_broken_transcript(link):
    d = drive(State.SELLER_TURN)  # the buyer's counter is on the table
    unseen = forge(Counter, SELLER, d.buyer)  # a fitting answer, never delivered
    bad = {"intent": digest(d.intent), "offer": digest(d.wire[1]), "zeros": bytes(32),
           "unseen": digest(unseen)}[link]
    refused(d.buyer, forge(Counter, SELLER, d.buyer, in_reply_to=bad), Reason.BROKEN_TRANSCRIPT)
    refused(d.buyer, forge(Withdraw, SELLER, d.buyer, in_reply_to=bad), Reason.BROKEN_TRANSCRIPT)
    refused(d.buyer, forge(Reject, SELLER, d.buyer, in_reply_to=bad), Reason.BROKEN_TRANSCRIPT)
    d.send(B, d.seller.counter(price=eur(19_000), now=NOW))  # the real answer still fits
    refused(d.seller, forge(Accept, BUYER, d.seller, in_reply_to=bad), Reason.BROKEN_TRANSCRIPT)
    d.send(S, d.buyer.accept(now=NOW))
    assert d.states() == (State.ACCEPTED, State.ACCEPTED)


def test_a_withdraw_must_name_the_message_it_ends():
    d = drive(State.BUYER_TURN)
    refused(d.buyer, forge(Withdraw, SELLER, d.buyer, in_reply_to=None),
            Reason.BROKEN_TRANSCRIPT)


def test_a_counter_that_skips_a_round_is_a_broken_transcript():
    d = drive(State.BUYER_TURN)
    refused(d.seller, forge(Counter, BUYER, d.seller, round=2), Reason.BROKEN_TRANSCRIPT)
    d.send(S, forge(Counter, BUYER, d.seller, round=1))
    assert d.states() == (State.BUYER_TURN, State.SELLER_TURN)


def test_messages_about_another_intent_are_refused():
    d = drive(State.BUYER_TURN)
    elsewhere = Deal.start()
    elsewhere_offer = elsewhere.seller.offer(sku=SKU, title=TITLE, quantity=1,
                                             price=eur(1), now=NOW)
    refused(d.buyer, elsewhere_offer, Reason.ILLEGAL_TRANSITION)  # an offer is not a move now
    fresh = Deal.start()
    refused(fresh.buyer, elsewhere_offer, Reason.WRONG_INTENT)
    other_id = decoded(elsewhere.intent).id
    refused(d.seller, forge(Counter, BUYER, d.seller, intent_id=other_id), Reason.WRONG_INTENT)
    refused(d.buyer, forge(Withdraw, SELLER, d.buyer, intent_id=other_id), Reason.WRONG_INTENT)


def test_messages_signed_by_a_third_key_are_refused():
    d = drive(State.SELLER_TURN)
    refused(d.buyer, forge(Counter, STRANGER, d.buyer), Reason.WRONG_COUNTERPARTY)
    refused(d.buyer, forge(Reject, STRANGER, d.buyer), Reason.WRONG_COUNTERPARTY)
    refused(d.buyer, forge(Withdraw, STRANGER, d.buyer), Reason.WRONG_COUNTERPARTY)
    d = drive(State.BUYER_TURN)
    refused(d.seller, forge(Counter, STRANGER, d.seller), Reason.WRONG_COUNTERPARTY)
    refused(d.seller, forge(Accept, STRANGER, d.seller), Reason.WRONG_COUNTERPARTY)
    # Nor may a side be fed its own words.
    own = d.buyer.counter(price=eur(18_000), now=NOW)
    refused(d.buyer, own, Reason.WRONG_COUNTERPARTY)
    d = drive(State.BUYER_TURN)
    refused(d.seller, forge(Counter, SELLER, d.seller), Reason.WRONG_COUNTERPARTY)


def test_rounds_past_max_rounds_are_refused():
    d = Deal.start(buyer_rounds=8, seller_rounds=2)
    d.offer()
    d.send(S, d.buyer.counter(price=eur(18_000), now=NOW))
    d.send(B, d.seller.counter(price=eur(20_000), now=NOW))
    # The seller allows two rounds: the buyer's third is refused on arrival ...
    third = d.buyer.counter(price=eur(18_500), now=NOW)
    refused(d.seller, third, Reason.TOO_MANY_ROUNDS)
    # ... and a buyer allowing two does not make a third itself.
    d = Deal.start(buyer_rounds=2)
    d.offer()
    d.send(S, d.buyer.counter(price=eur(18_000), now=NOW))
    d.send(B, d.seller.counter(price=eur(20_000), now=NOW))
    refused_locally(d.buyer, lambda: d.buyer.counter(price=eur(19_000), now=NOW),
                    Reason.TOO_MANY_ROUNDS)
    d.send(S, d.buyer.accept(now=NOW))  # accepting is still open to it
    assert d.states() == (State.ACCEPTED, State.ACCEPTED)


def test_zero_rounds_means_take_it_or_leave_it():
    d = Deal.start(buyer_rounds=0)
    d.offer()
    refused_locally(d.buyer, lambda: d.buyer.counter(price=eur(1), now=NOW),
                    Reason.TOO_MANY_ROUNDS)
    d = Deal.start(seller_rounds=0)
    d.offer()
    refused(d.seller, d.buyer.counter(price=eur(1), now=NOW), Reason.TOO_MANY_ROUNDS)


def test_accept_refuses_an_offer_whose_data_requests_break_the_terms():
    d = Deal.start()
    d.offer(terms=GREEDY)
    refused_locally(d.buyer, lambda: d.buyer.accept(now=NOW), Reason.TERMS_CONFLICT)
    # Haggling does not launder the offer's terms.
    d.send(S, d.buyer.counter(price=eur(18_000), now=NOW))
    d.send(B, d.seller.counter(price=eur(18_000), now=NOW))
    refused_locally(d.buyer, lambda: d.buyer.accept(now=NOW), Reason.TERMS_CONFLICT)
    d.send(S, d.buyer.reject(reason="marketing and profiling", now=NOW))
    assert d.states() == (State.REJECTED, State.REJECTED)


def test_the_seller_will_not_sign_an_agreement_that_breaks_the_terms():
    d = Deal.start()
    d.offer(terms=GREEDY)
    d.send(S, forge(Accept, BUYER, d.seller))  # an accept the buyer's own code would not make
    assert d.seller.state is State.ACCEPTED
    refused_locally(d.seller, lambda: d.seller.sign_agreement(now=NOW), Reason.TERMS_CONFLICT)


def test_offer_and_accept_must_state_what_is_on_the_table():
    d = Deal.start()
    refused(d.buyer, forge(Offer, SELLER, d.buyer, quantity=2), Reason.TERMS_MISMATCH)
    usd = Money(amount=21_900, currency="USD")
    refused(d.buyer, forge(Offer, SELLER, d.buyer, price=usd), Reason.TERMS_MISMATCH)
    d = drive(State.BUYER_TURN)
    refused_locally(d.buyer, lambda: d.buyer.counter(price=usd, now=NOW), Reason.TERMS_MISMATCH)
    refused(d.seller, forge(Accept, BUYER, d.seller, price=eur(1)), Reason.TERMS_MISMATCH)
    refused(d.seller, forge(Counter, BUYER, d.seller, price=usd), Reason.TERMS_MISMATCH)
    d.send(S, forge(Accept, BUYER, d.seller, price=eur(21_900)))
    assert d.seller.state is State.ACCEPTED


def _altered(half: bytes, signer: KeyPair = SELLER, **changes: Any) -> bytes:
    """The agreement in `half` with `changes`, a fresh id and a consistent terms_hash."""
    agreement = decoded(half)
    assert isinstance(agreement, Agreement)
    changed = agreement.model_copy(update={"id": new_id(), **changes})
    changed = changed.model_copy(update={"terms_hash": terms_hash(
        sku=changed.sku, quantity=changed.quantity, price=changed.price,
        customer=changed.customer_terms, vendor=changed.vendor_terms,
    )})
    return seal(Agreement.model_validate(changed.model_dump()), signer)


AGREEMENT_CHANGES: dict[str, tuple[Callable[[Deal], dict[str, Any]], Reason]] = {
    "price": (lambda d: {"price": eur(1)}, Reason.TERMS_MISMATCH),
    "currency": (lambda d: {"price": Money(amount=21_900, currency="USD")},
                 Reason.TERMS_MISMATCH),
    "sku": (lambda d: {"sku": "BB-TENT-2"}, Reason.TERMS_MISMATCH),
    "title": (lambda d: {"title": "a lesser tent"}, Reason.TERMS_MISMATCH),
    "quantity": (lambda d: {"quantity": 2}, Reason.TERMS_MISMATCH),
    "vendor_terms": (lambda d: {"vendor_terms": VendorTerms()}, Reason.TERMS_MISMATCH),
    "customer_terms": (
        lambda d: {"customer_terms": CustomerTerms(purposes=["receipt"], retention_days=1)},
        Reason.TERMS_MISMATCH,
    ),
    "intent_hash": (lambda d: {"intent_hash": bytes(32)}, Reason.TERMS_MISMATCH),
    "offer_hash": (lambda d: {"offer_hash": digest(d.intent)}, Reason.TERMS_MISMATCH),
    "accept_hash": (lambda d: {"accept_hash": digest(d.wire[1])}, Reason.TERMS_MISMATCH),
    "buyer": (lambda d: {"buyer": STRANGER.did}, Reason.TERMS_MISMATCH),
    "intent_id": (lambda d: {"intent_id": new_id()}, Reason.WRONG_INTENT),
}


@pytest.mark.parametrize("change", sorted(AGREEMENT_CHANGES))
def test_an_agreement_must_state_exactly_what_was_accepted(change):
    d = drive(State.ACCEPTED)
    half = d.seller.sign_agreement(now=NOW)
    update, reason = AGREEMENT_CHANGES[change]
    refused(d.buyer, _altered(half, **update(d)), reason)
    d.send(B, half)  # the genuine one still goes through
    assert d.buyer.state is State.SELLER_SIGNED


def test_the_seller_accepts_back_only_the_agreement_it_signed():
    d = drive(State.ACCEPTED)
    half = d.send(B, d.seller.sign_agreement(now=NOW))
    cheaper = add_signature(_altered(half, price=eur(1)), BUYER, now=NOW)
    refused(d.seller, cheaper, Reason.TERMS_MISMATCH)
    d.send(S, d.buyer.countersign(now=NOW))
    assert d.states() == (State.AGREED, State.AGREED)


def test_agreement_signatures():
    d = drive(State.ACCEPTED)
    half = d.seller.sign_agreement(now=NOW)
    # The buyer expects the seller's signature, and only it.
    refused(d.buyer, add_signature(half, BUYER, now=NOW), Reason.MISSING_SIGNATURE)
    refused(d.buyer, _altered(half, signer=BUYER), Reason.MISSING_SIGNATURE)
    by_stranger = _altered(half, signer=STRANGER, vendor=STRANGER.did)
    refused(d.buyer, by_stranger, Reason.MISSING_SIGNATURE)
    single = cose.sign1(cose.parse(half).payload, SELLER.seed)  # not a COSE_Sign
    refused(d.buyer, single, Reason.BAD_STRUCTURE)
    d.send(B, half)
    # The seller expects both signatures back.
    refused(d.seller, half, Reason.MISSING_SIGNATURE)
    d.send(S, d.buyer.countersign(now=NOW))
    assert d.states() == (State.AGREED, State.AGREED)


def test_replayed_messages_are_refused():
    d = Deal.start()
    offer = d.offer()
    refused(d.buyer, offer, Reason.REPLAY)
    counter = d.send(S, d.buyer.counter(price=eur(18_000), now=NOW))
    refused(d.seller, counter, Reason.REPLAY)
    d.send(B, d.seller.counter(price=eur(19_000), now=NOW))
    d.send(S, d.buyer.accept(now=NOW))
    half = d.send(B, d.seller.sign_agreement(now=NOW))
    full = d.send(S, d.buyer.countersign(now=NOW))
    refused(d.seller, counter, Reason.REPLAY)
    refused(d.seller, full, Reason.REPLAY)
    refused(d.buyer, half, Reason.MISSING_SIGNATURE)  # once AGREED, a half-signed one is void


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(which=st.sampled_from(["offer", "counter", "accept", "agreement", "countersigned"]),
       position=st.integers(min_value=0), bit=st.integers(0, 7))
def test_tampered_envelopes_are_refused_and_change_nothing(which, position, bit):
    d = Deal.start()
    stages: list[tuple[str, Negotiation, Callable[[], bytes]]] = [
        ("offer", d.buyer, lambda: d.seller.offer(sku=SKU, title=TITLE, quantity=1,
                                                  price=eur(21_900), terms=FAIR, now=NOW)),
        ("counter", d.seller, lambda: d.buyer.counter(price=eur(18_000), now=NOW)),
        ("counter2", d.buyer, lambda: d.seller.counter(price=eur(19_000), now=NOW)),
        ("accept", d.seller, lambda: d.buyer.accept(now=NOW)),
        ("agreement", d.buyer, lambda: d.seller.sign_agreement(now=NOW)),
        ("countersigned", d.seller, lambda: d.buyer.countersign(now=NOW)),
    ]
    for name, to, make in stages:
        raw = make()
        if name == which:
            tampered = bytearray(raw)
            tampered[position % len(raw)] ^= 1 << bit
            before = snapshot(to)
            with pytest.raises(RemoteProtocolError):
                to.receive(bytes(tampered), now=NOW)
            assert snapshot(to) == before
        to.receive(raw, now=NOW)
    assert d.states() == (State.AGREED, State.AGREED)


# -- legal and illegal moves, state by state -------------------------------------------------

MOVES: dict[str, Callable[[Negotiation, int], bytes]] = {
    "offer": lambda n, now: n.offer(sku=SKU, title=TITLE, quantity=1, price=eur(21_900),
                                    terms=FAIR, now=now),
    "counter": lambda n, now: n.counter(price=eur(19_000), now=now),
    "accept": lambda n, now: n.accept(now=now),
    "reject": lambda n, now: n.reject(reason="no", now=now),
    "withdraw": lambda n, now: n.withdraw(reason="bye", now=now),
    "sign_agreement": lambda n, now: n.sign_agreement(now=now),
    "countersign": lambda n, now: n.countersign(now=now),
}

# Who may do what, where, and where it leads; everything else is illegal. The seller, once it
# has signed the agreement, is bound by its signature: the buyer's countersignature alone
# completes the deal, so a seller withdrawing then would leave the two sides disagreeing.
LEGAL: dict[tuple[Role, str], dict[State, State]] = {
    (S, "offer"): {State.AWAITING_OFFER: State.BUYER_TURN},
    (B, "counter"): {State.BUYER_TURN: State.SELLER_TURN},
    (S, "counter"): {State.SELLER_TURN: State.BUYER_TURN},
    (B, "accept"): {State.BUYER_TURN: State.ACCEPTED},
    (B, "reject"): {State.BUYER_TURN: State.REJECTED},
    (S, "reject"): {State.SELLER_TURN: State.REJECTED, State.ACCEPTED: State.REJECTED},
    (B, "withdraw"): dict.fromkeys(OPEN, State.WITHDRAWN),
    (S, "withdraw"): dict.fromkeys(
        [s for s in OPEN if s is not State.SELLER_SIGNED], State.WITHDRAWN
    ),
    (S, "sign_agreement"): {State.ACCEPTED: State.SELLER_SIGNED},
    (B, "countersign"): {State.SELLER_SIGNED: State.AGREED},
}
# Before an offer the buyer has no counterparty: a seller's withdraw then may be made (it simply
# offers nothing), but the buyer cannot tell it from anyone's, and refuses it.
ARRIVAL_REFUSED = {(S, "withdraw", State.AWAITING_OFFER): Reason.WRONG_COUNTERPARTY}


@pytest.mark.parametrize("move", list(MOVES))
@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", ALL_STATES)
def test_local_moves(state, role, move):
    d = drive(state)
    me, peer = d.side(role), d.side(other(role))
    new = LEGAL.get((role, move), {}).get(state)
    if new is None:
        refused_locally(me, lambda: MOVES[move](me, d.now), Reason.ILLEGAL_TRANSITION)
        return
    raw = MOVES[move](me, d.now)
    assert me.state is new
    refusal = ARRIVAL_REFUSED.get((role, move, state))
    if refusal is not None:
        refused(peer, raw, refusal, now=d.now)
        return
    peer.receive(raw, now=d.now)
    assert peer.state is new


PEER_MOVES = {"offer": Offer, "counter": Counter, "accept": Accept, "reject": Reject,
              "withdraw": Withdraw}


@pytest.mark.parametrize("move", list(PEER_MOVES))
@pytest.mark.parametrize("receiver", list(Role))
@pytest.mark.parametrize("state", ALL_STATES)
def test_peer_moves(state, receiver, move):
    """A well-signed, well-linked message is applied exactly when the sender may make it."""
    d = drive(state)
    me, sender = d.side(receiver), other(receiver)
    raw = forge(PEER_MOVES[move], KEYS[sender], me, now=d.now)
    new = LEGAL.get((sender, move), {}).get(state)
    if new is None:
        refused(me, raw, Reason.ILLEGAL_TRANSITION, now=d.now)
    elif (sender, move, state) in ARRIVAL_REFUSED:
        refused(me, raw, ARRIVAL_REFUSED[sender, move, state], now=d.now)
    else:
        me.receive(raw, now=d.now)
        assert me.state is new


@pytest.mark.parametrize("state", [State.BUYER_TURN, State.SELLER_TURN, State.ACCEPTED])
def test_reject_ends_the_negotiation_on_both_sides(state):
    d = drive(state)
    role = B if state is State.BUYER_TURN else S
    raw = d.send(other(role), d.side(role).reject(reason="no deal", now=NOW))
    assert d.states() == (State.REJECTED, State.REJECTED)
    assert decoded(raw).in_reply_to == digest(d.buyer.transcript[-2])
    assert d.buyer.transcript == d.seller.transcript


@pytest.mark.parametrize(("state", "role"), [
    (s, r) for s in OPEN for r in Role
    if (s, r) not in ((State.SELLER_SIGNED, S), (State.AWAITING_OFFER, S))  # see LEGAL
])
def test_withdraw_ends_the_negotiation_on_both_sides(state, role):
    d = drive(state)
    raw = d.send(other(role), d.side(role).withdraw(reason="not any more", now=NOW))
    assert d.states() == (State.WITHDRAWN, State.WITHDRAWN)
    assert decoded(raw).in_reply_to == digest(d.buyer.transcript[-2])
    assert d.buyer.agreement is None or not complete(d.buyer.agreement, NOW)


# -- time ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ALL_STATES)
def test_expire(state):
    d = drive(state)
    for n in (d.buyer, d.seller):
        deadline = n.deadline
        if state in OPEN:
            assert not n.expire(now=deadline - 1)
            assert n.state is state
            assert n.expire(now=deadline)
            assert n.state is State.EXPIRED
        else:
            before = snapshot(n)
            assert not n.expire(now=deadline + 10**6)
            assert snapshot(n) == before


def test_each_offer_and_counter_sets_the_deadline():
    d = Deal.start()
    assert d.buyer.deadline == d.seller.deadline == NOW + INTENT_TTL
    d.offer()
    assert d.buyer.deadline == d.seller.deadline == NOW + DEFAULT_TTL
    d.now = NOW + 100
    d.send(S, d.buyer.counter(price=eur(18_000), now=d.now, ttl=50))
    assert d.buyer.deadline == d.seller.deadline == NOW + 150


def test_nothing_moves_after_the_deadline():
    d = drive(State.BUYER_TURN)
    late = d.buyer.deadline
    refused_locally(d.buyer, lambda: d.buyer.counter(price=eur(1), now=late), Reason.EXPIRED)
    refused_locally(d.buyer, lambda: d.buyer.accept(now=late), Reason.EXPIRED)
    # A message still fresh itself, arriving after the negotiation's deadline.
    d = drive(State.BUYER_TURN)
    counter = d.buyer.counter(price=eur(18_000), now=late - 1, ttl=DEFAULT_TTL)
    refused(d.seller, counter, Reason.EXPIRED, now=late)
    # An expired message is refused by the envelope check.
    d = drive(State.BUYER_TURN)
    counter = d.buyer.counter(price=eur(18_000), now=NOW, ttl=5)
    refused(d.seller, counter, Reason.EXPIRED, now=NOW + 5)


def test_messages_after_expiry_are_refused():
    d = drive(State.SELLER_TURN)
    answer = d.seller.counter(price=eur(19_000), now=NOW + 100)  # fresh past the deadline
    assert d.buyer.expire(now=d.buyer.deadline)
    refused(d.buyer, answer, Reason.ILLEGAL_TRANSITION, now=d.buyer.deadline)
    refused_locally(d.buyer, lambda: d.buyer.withdraw(reason="x", now=NOW),
                    Reason.ILLEGAL_TRANSITION)
    d = drive(State.ACCEPTED)
    half = d.seller.sign_agreement(now=NOW)
    assert d.buyer.expire(now=d.buyer.deadline)
    refused(d.buyer, half, None, now=d.buyer.deadline)


def test_an_agreement_countersigned_late_counts_on_both_sides_or_on_neither():
    """The seller refuses a countersignature after the deadline; the buyer must not make one
    and count itself AGREED (or else the seller must take it)."""
    d = drive(State.SELLER_SIGNED)
    late = d.buyer.deadline
    assert late == d.seller.deadline
    full, refusal = attempt(lambda: d.buyer.countersign(now=late))
    if refusal is not None or full is None:
        assert refusal is not None
        assert refusal.reason is Reason.EXPIRED
        assert d.buyer.state is State.SELLER_SIGNED
        return
    assert d.buyer.state is State.AGREED
    d.seller.receive(full, now=late)
    assert d.seller.state is State.AGREED


@pytest.mark.parametrize("move", ["offer", "counter", "accept", "reject", "withdraw",
                                  "sign_agreement"])
def test_a_ttl_must_be_positive(move):
    state = {"offer": State.AWAITING_OFFER, "counter": State.BUYER_TURN,
             "accept": State.BUYER_TURN, "reject": State.BUYER_TURN,
             "withdraw": State.BUYER_TURN, "sign_agreement": State.ACCEPTED}[move]
    role = S if move in ("offer", "sign_agreement") else B
    d = drive(state)
    me = d.side(role)
    calls: dict[str, Callable[[], bytes]] = {
        "offer": lambda: me.offer(sku=SKU, title=TITLE, quantity=1, price=eur(1), now=NOW,
                                  ttl=0),
        "counter": lambda: me.counter(price=eur(1), now=NOW, ttl=0),
        "accept": lambda: me.accept(now=NOW, ttl=0),
        "reject": lambda: me.reject(reason="x", now=NOW, ttl=0),
        "withdraw": lambda: me.withdraw(reason="x", now=NOW, ttl=0),
        "sign_agreement": lambda: me.sign_agreement(now=NOW, ttl=0),
    }
    refused_locally(me, calls[move], Reason.BAD_SCHEMA)


# -- bugs found: each pinned by its own test -------------------------------------------------


def test_the_buyer_cannot_sign_the_agreement_instead_of_countersigning():
    d = drive(State.SELLER_SIGNED)
    refused_locally(d.buyer, lambda: d.buyer.sign_agreement(now=NOW),
                    Reason.ILLEGAL_TRANSITION)


def test_the_seller_cannot_countersign_its_own_agreement():
    d = drive(State.ACCEPTED)
    refused_locally(d.seller, lambda: d.seller.countersign(now=NOW), Reason.ILLEGAL_TRANSITION)


def test_a_seller_that_signed_cannot_withdraw_behind_the_buyers_back():
    d = drive(State.ACCEPTED)
    half = d.seller.sign_agreement(now=NOW)
    withdrawal, refusal = attempt(lambda: d.seller.withdraw(reason="better buyer", now=NOW))
    assert refusal is None or refusal.reason is Reason.ILLEGAL_TRANSITION
    d.send(B, half)  # the signed agreement overtakes the withdrawal
    full = d.buyer.countersign(now=NOW)
    assert d.buyer.state is State.AGREED
    assert complete(full, NOW)
    assert d.seller.state is not State.WITHDRAWN, "buyer AGREED on a deal the seller withdrew"
    d.seller.receive(full, now=NOW)
    assert d.seller.state is State.AGREED
    if withdrawal is not None:
        refused(d.buyer, withdrawal, Reason.ILLEGAL_TRANSITION)


def test_before_any_offer_a_strangers_withdraw_does_not_end_the_buyers_negotiation():
    """The intent is public, so anyone can link a message to it; only the offer names the
    counterparty, and until then nobody else may end the buyer's negotiation."""
    d = Deal.start()
    refused(d.buyer, forge(Withdraw, STRANGER, d.buyer), Reason.WRONG_COUNTERPARTY)
    d.offer()
    assert d.states() == (State.BUYER_TURN, State.BUYER_TURN)


def test_a_refused_message_is_not_remembered_as_seen():
    """`receive` must change nothing when it refuses, not even its replay memory. A seller's
    withdraw that overtakes the seller's own counter it answers is refused; sent again once
    the counter is in, it must end the negotiation."""
    d = drive(State.SELLER_TURN)
    answer = d.seller.counter(price=eur(19_500), now=NOW)
    withdrawal = d.seller.withdraw(reason="sold out", now=NOW)
    assert decoded(withdrawal).in_reply_to == digest(answer)
    refused(d.buyer, withdrawal, Reason.BROKEN_TRANSCRIPT)
    d.buyer.receive(answer, now=NOW)
    d.buyer.receive(withdrawal, now=NOW)  # the retransmission
    assert d.buyer.state is State.WITHDRAWN


# -- random sequences of moves, deliveries, replays, forgeries and time ----------------------

ROLES = st.sampled_from([B, S])
PRICES = st.builds(Money, amount=st.integers(0, 40_000),
                   currency=st.sampled_from(["EUR", "EUR", "EUR", "EUR", "USD"]))
ENDINGS = (State.REJECTED, State.WITHDRAWN)
MOVE_NAMES = st.sampled_from(list(MOVES))
FORWARD = ["offer", "counter", "accept", "sign_agreement", "countersign"]
DETOURS = st.none() | st.tuples(ROLES, st.sampled_from(FORWARD))
QUANTITIES = st.sampled_from([1, 1, 1, 2])
TERMS_OFFERED = st.sampled_from([FAIR, FAIR, GREEDY])


class NegotiationPair(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = NOW
        self.intent = make_intent()
        self.sides = {r: Negotiation(r, KEYS[r], self.intent, now=NOW, max_rounds=3)
                      for r in Role}
        self.inbox: dict[Role, list[bytes]] = {B: [], S: []}
        self.sent: list[bytes] = [self.intent]
        self.by_digest = {digest(self.intent): self.intent}
        self.ended_early: set[Role] = set()

    def _fully_signed(self) -> bool:
        return any(complete(n.agreement, self.now) for n in self.sides.values())

    def _act(self, role: Role, action: Callable[[Negotiation], object]) -> object:
        """Apply one action to one side: a refusal must be an IntentcastError that changes
        nothing; any other exception fails the test."""
        me = self.sides[role]
        before, states = snapshot(me), {r: n.state for r, n in self.sides.items()}
        signed_before = self._fully_signed()
        try:
            out = action(me)
        except IntentcastError:
            assert snapshot(me) == before
            return None
        for r, n in self.sides.items():
            if n.state is not states[r] and n.state in ENDINGS and not signed_before:
                self.ended_early.add(r)
        if isinstance(out, bytes):
            self.sent.append(out)
            self.by_digest[digest(out)] = out
            self.inbox[other(role)].append(out)
        return out

    def _move(self, role: Role, name: str, **kw: Any) -> None:
        self._act(role, lambda n: getattr(n, name)(now=self.now, **kw))

    def _deliver(self, to: Role, raw: bytes) -> object:
        return self._act(to, lambda n: n.receive(raw, now=self.now))

    # moves: any side may try any move; the machine decides what is legal
    def _any_move(self, role: Role, name: str, price: Money, quantity: int,
                  terms: VendorTerms, really: bool) -> None:
        kw: dict[str, Any] = {}
        if name == "offer":
            kw = {"sku": SKU, "title": TITLE, "quantity": quantity, "price": price,
                  "terms": terms}
        elif name == "counter":
            kw = {"price": price}
        elif name in ("reject", "withdraw"):
            if not really:  # endings are half as likely as other moves
                return
            kw = {"reason": "no"}
        self._move(role, name, **kw)

    @rule(role=ROLES, name=MOVE_NAMES, price=PRICES, quantity=QUANTITIES, terms=TERMS_OFFERED,
          really=st.booleans())
    def move(self, role, name, price, quantity, terms, really):
        self._any_move(role, name, price, quantity, terms, really)

    @rule(role=ROLES, name=MOVE_NAMES, price=PRICES, quantity=QUANTITIES, terms=TERMS_OFFERED,
          really=st.booleans())
    def move_again(self, role, name, price, quantity, terms, really):  # weight 3
        self._any_move(role, name, price, quantity, terms, really)

    @rule(role=ROLES, name=MOVE_NAMES, price=PRICES, quantity=QUANTITIES, terms=TERMS_OFFERED,
          really=st.booleans())
    def move_once_more(self, role, name, price, quantity, terms, really):
        self._any_move(role, name, price, quantity, terms, really)

    @rule(role=ROLES, order=st.permutations(FORWARD), price=PRICES, terms=TERMS_OFFERED)
    def probe(self, role, order, price, terms):
        """Try every forward move, in a random order, until one is legal."""
        for name in order:
            before = snapshot(self.sides[role])
            self._any_move(role, name, price, 1, terms, really=True)
            if snapshot(self.sides[role]) != before:
                return

    def _progress(self, price: Money, accept: bool, deliver: bool,
                  detour: tuple[Role, str] | None) -> None:
        """Whoever's turn it is makes the move that takes the deal forward; first, maybe a
        random side tries a random move (no endings), which is how deep states get probed."""
        if detour is not None:
            self._any_move(*detour, price, 1, FAIR, really=False)
        buyer, seller = self.sides[B], self.sides[S]
        if seller.state is State.AWAITING_OFFER:
            self._move(S, "offer", sku=SKU, title=TITLE, quantity=1, price=price, terms=FAIR)
        elif buyer.state is State.BUYER_TURN and accept:
            self._move(B, "accept")
        elif buyer.state is State.BUYER_TURN:
            self._move(B, "counter", price=price)
        elif seller.state is State.SELLER_TURN:
            self._move(S, "counter", price=price)
        elif seller.state is State.ACCEPTED:
            self._move(S, "sign_agreement")
        elif buyer.state is State.SELLER_SIGNED:
            self._move(B, "countersign")
        while deliver and (self.inbox[B] or self.inbox[S]):
            to = B if self.inbox[B] else S
            self._deliver(to, self.inbox[to].pop(0))

    @rule(price=PRICES, accept=st.booleans(), deliver=st.booleans(), detour=DETOURS)
    def progress(self, price, accept, deliver, detour):
        self._progress(price, accept, deliver, detour)

    @rule(price=PRICES, accept=st.booleans(), detour=DETOURS)
    def progress_and_deliver(self, price, accept, detour):  # progress is three times as likely
        self._progress(price, accept, True, detour)

    @rule(price=PRICES, detour=DETOURS)
    def progress_accept_and_deliver(self, price, detour):
        self._progress(price, True, True, detour)

    # the wire
    @precondition(lambda self: self.inbox[B] or self.inbox[S])
    @rule(pick=st.integers(0, 2**16))
    def deliver_next(self, pick):
        waiting = [r for r in Role if self.inbox[r]]
        to = waiting[pick % len(waiting)]
        self._deliver(to, self.inbox[to].pop(0))

    @precondition(lambda self: self.inbox[B] or self.inbox[S])
    @rule(pick=st.integers(0, 2**16))
    def deliver_next_again(self, pick):  # in-order delivery, twice as likely as the rest
        self.deliver_next(pick)

    @precondition(lambda self: self.inbox[B] or self.inbox[S])
    @rule(pick=st.integers(0, 2**16), drop=st.booleans())
    def deliver_out_of_order_or_drop(self, pick, drop):
        waiting = [r for r in Role if self.inbox[r]]
        to = waiting[pick % len(waiting)]
        raw = self.inbox[to].pop(pick % len(self.inbox[to]))
        if not drop:
            self._deliver(to, raw)

    @rule(to=ROLES, pick=st.integers(0, 2**16))
    def replay(self, to, pick):
        self._deliver(to, self.sent[pick % len(self.sent)])

    @rule(to=ROLES, pick=st.integers(0, 2**16), position=st.integers(0, 2**16),
          bit=st.integers(0, 7))
    def tamper(self, to, pick, position, bit):
        raw = bytearray(self.sent[pick % len(self.sent)])
        raw[position % len(raw)] ^= 1 << bit
        assert self._deliver(to, bytes(raw)) is None, "a tampered envelope was accepted"

    @rule(to=ROLES, kind=st.sampled_from([Counter, Accept, Reject, Withdraw]))
    def stranger(self, to, kind):
        me = self.sides[to]
        if kind is Accept and me.on_table is None:
            return
        raw = forge(kind, STRANGER, me, now=self.now)
        assert self._deliver(to, raw) is None, "a stranger's message was accepted"

    # time
    @rule(seconds=st.sampled_from([0, 1, 30, 120, 300, 599, 600, 900]))
    def tick(self, seconds):
        self.now += seconds

    @rule(role=ROLES)
    def expire(self, role):
        self._act(role, lambda n: n.expire(now=self.now))

    def teardown(self) -> None:
        event("outcome", f"{self.sides[B].state.value}/{self.sides[S].state.value}")

    # what must always hold
    @invariant()
    def transcripts_are_hash_linked(self):
        for n in self.sides.values():
            assert n.transcript[0] == self.intent
            for previous, raw in zip(n.transcript, n.transcript[1:], strict=False):
                assert decoded(raw).in_reply_to == digest(previous)

    @invariant()
    def agreed_means_one_agreement_signed_by_both(self):
        agreed = [r for r, n in self.sides.items() if n.state is State.AGREED]
        if not agreed:
            return
        for r in agreed:
            raw = self.sides[r].agreement
            assert complete(raw, self.now), f"{r.value} is AGREED on a half-signed agreement"
            assert raw is not None
            assert signers(raw) == {BUYER.did, SELLER.did}
            assert other(r) not in self.ended_early, (
                f"{r.value} is AGREED but the {other(r).value} ended the negotiation first"
            )
        payloads = {cose.parse(n.agreement).payload for n in self.sides.values()
                    if n.agreement is not None}
        assert len(payloads) == 1, "the two sides hold different agreements"
        agreement = parse_message(payloads.pop())
        assert isinstance(agreement, Agreement)
        accepted = [n.accepted for n in self.sides.values() if n.accepted is not None]
        assert accepted
        assert all(a == accepted[0] for a in accepted)
        assert agreement.price == accepted[0].price
        accept_raw = self.by_digest[agreement.accept_hash]
        offer_raw = self.by_digest[agreement.offer_hash]
        assert agreement.intent_hash == digest(self.intent)
        accept, offer = decoded(accept_raw), decoded(offer_raw)
        assert isinstance(accept, Accept)
        assert isinstance(offer, Offer)
        assert signers(accept_raw) == {BUYER.did}
        assert signers(offer_raw) == {SELLER.did}
        assert accept.price == agreement.price
        assert (offer.sku, offer.quantity, offer.terms) == (
            agreement.sku, agreement.quantity, agreement.vendor_terms)
        assert agreement.terms_hash == terms_hash(
            sku=agreement.sku, quantity=agreement.quantity, price=agreement.price,
            customer=agreement.customer_terms, vendor=agreement.vendor_terms,
        )
        assert (agreement.buyer, agreement.vendor) == (BUYER.did, SELLER.did)


TestNegotiationPair = NegotiationPair.TestCase
# No shrinking: a failing run stays fast, and each bug it can find has a minimal test above.
# Add Phase.shrink to the phases to have Hypothesis minimise a new failure.
TestNegotiationPair.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, derandomize=True, database=None,
    report_multiple_bugs=False, phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# -- our moves are checked as the peer's are (h11's rule 2) -----------------------------------


def test_we_never_send_an_offer_we_would_refuse_from_a_peer():
    d = Deal.start()
    usd = Money(amount=21_900, currency="USD")
    refused_locally(d.seller, lambda: d.seller.offer(sku=SKU, title=TITLE, quantity=1,
                                                     price=usd, now=NOW), Reason.TERMS_MISMATCH)
    refused_locally(d.seller, lambda: d.seller.offer(sku=SKU, title=TITLE, quantity=2,
                                                     price=eur(21_900), now=NOW),
                    Reason.TERMS_MISMATCH)
    assert d.seller.state is State.AWAITING_OFFER


def test_signing_and_countersigning_are_separate_moves_of_the_table():
    d = drive(State.ACCEPTED)
    refused_locally(d.buyer, lambda: d.buyer.sign_agreement(now=NOW), Reason.ILLEGAL_TRANSITION)
    d.send(B, d.seller.sign_agreement(now=NOW))
    refused_locally(d.seller, lambda: d.seller.countersign(now=NOW), Reason.ILLEGAL_TRANSITION)
    d.send(S, d.buyer.countersign(now=NOW))
    assert d.states() == (State.AGREED, State.AGREED)


def test_the_views_the_agents_read():
    d = Deal.start()
    assert (d.buyer.current_price, d.buyer.our_last_price, d.buyer.conflicts) == (None, None, [])
    d.offer(price=21_900, terms=GREEDY)
    assert d.seller.our_last_price == d.buyer.current_price == eur(21_900)
    assert d.buyer.our_last_price is None
    assert [c.clause for c in d.buyer.conflicts] == [c.clause for c in d.seller.conflicts] != []
    d = drive(State.BUYER_TURN)
    d.send(S, d.buyer.counter(price=eur(18_000), now=NOW))
    d.send(B, d.seller.counter(price=eur(20_000), now=NOW))
    assert d.buyer.our_last_price == eur(18_000)
    assert d.seller.our_last_price == d.buyer.current_price == eur(20_000)
    assert d.buyer.conflicts == []


# -- the seller's hold and the acknowledgement that closes the deal ------------------------------


def test_the_seller_holds_its_signature_for_its_own_bound_not_the_buyers():
    # The buyer's accept may live a day; the seller holds stock for its hold, here 120 s.
    d = drive(State.BUYER_TURN)
    d.send(S, d.buyer.accept(now=NOW, ttl=86_400))
    half = d.send(B, d.seller.sign_agreement(now=NOW, hold=120))
    assert decoded(half).countersign_by == NOW + 120  # type: ignore[union-attr]
    assert d.seller.deadline == d.buyer.deadline == NOW + 120 == d.seller.countersign_by
    # Past the hold the countersignature cannot be made, or taken.
    refused_locally(d.buyer, lambda: d.buyer.countersign(now=NOW + 120), Reason.EXPIRED)
    late = Deal.start()
    late.offer()
    late.send(S, late.buyer.accept(now=NOW))
    late.send(B, late.seller.sign_agreement(now=NOW, hold=120))
    full = late.buyer.countersign(now=NOW + 119)
    refused(late.seller, full, Reason.EXPIRED, now=NOW + 120)
    assert late.seller.expire(now=NOW + 120)


def test_the_hold_never_outlives_the_accept():
    d = drive(State.BUYER_TURN)
    d.send(S, d.buyer.accept(now=NOW, ttl=60))
    half = d.send(B, d.seller.sign_agreement(now=NOW, hold=600))
    assert decoded(half).countersign_by == NOW + 60  # type: ignore[union-attr]


def test_a_buyer_refuses_a_hold_past_the_accepts_deadline():
    d = drive(State.BUYER_TURN)
    d.send(S, d.buyer.accept(now=NOW, ttl=60))
    # A seller that claims to hold past the accept's deadline: built and signed by hand.
    rogue = Negotiation(S, SELLER, d.intent, now=NOW)
    rogue.state, rogue.deadline = d.seller.state, NOW + 600
    rogue.first_offer, rogue.offer_digest = d.seller.first_offer, d.seller.offer_digest
    rogue.accepted, rogue.accepted_by = d.seller.accepted, d.seller.accepted_by
    rogue.transcript, rogue.counterparty = list(d.seller.transcript), d.seller.counterparty
    half = rogue.sign_agreement(now=NOW, hold=300)
    refused(d.buyer, half, Reason.TERMS_MISMATCH)


def test_an_ack_names_what_it_acknowledges_and_who_stored_it():
    d = drive(State.AGREED)
    full = d.buyer.agreement
    assert full is not None
    ack = open_envelope(acknowledge(SELLER, full, now=NOW), now=NOW)
    assert check_ack(ack, about=full, signer=SELLER.did).outcome == "stored"
    for about, signer, reason in ((full, BUYER.did, Reason.WRONG_COUNTERPARTY),
                                  (d.intent, SELLER.did, Reason.BROKEN_TRANSCRIPT)):
        with pytest.raises(NegotiationError) as err:
            check_ack(ack, about=about, signer=signer)
        assert err.value.reason is reason
    refusal = open_envelope(acknowledge(SELLER, full, now=NOW, refused="too late"), now=NOW)
    answer = check_ack(refusal, about=full, signer=SELLER.did)
    assert (answer.outcome, answer.reason) == ("refused", "too late")
    with pytest.raises(NegotiationError):
        check_ack(open_envelope(d.intent, now=NOW), about=full, signer=BUYER.did)
