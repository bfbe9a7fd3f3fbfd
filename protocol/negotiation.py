"""One negotiation between a buyer and one seller, as a sans-I/O state machine.

Modelled on the FIPA Contract Net protocol: the intent is the call for
proposals; a seller offers; either side counters in bounded rounds; the buyer
accepts; the seller signs the agreement; the buyer countersigns it. Reject,
withdraw and expiry end it from any open state.

Bytes in (`receive`), bytes out (every action returns the sealed envelope to
send). `_TRANSITIONS` is the only place state changes: a (state, kind, role)
triple missing from it is an illegal move, a `LocalProtocolError` when we try
it and a `NegotiationError` when the peer does. Every message names the
intent and carries the digest of the envelope it answers (`in_reply_to`), so
the rounds form a hash-linked transcript whose head the agreement binds.
Nothing is changed until a message has passed every check.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from . import cose
from .delegation import Action, Authority, Revocations, authorise, verify_chain
from .envelope import ReplayGuard, Verified, countersign, open, parse_message, seal
from .errors import (
    DelegatedMoveError,
    DelegationError,
    EnvelopeError,
    LocalProtocolError,
    NegotiationError,
    Reason,
)
from .identity import KeyPair
from .messages import (
    MAX_NEGOTIATION_ROUNDS,
    Accept,
    Agreement,
    Counter,
    Intent,
    Message,
    Money,
    Offer,
    Reject,
    Withdraw,
    digest,
    new_id,
    terms_hash,
)
from .terms import Conflict, VendorTerms, check

DEFAULT_MAX_ROUNDS = 8
DEFAULT_TTL = 600
AGREEMENT_TTL = 365 * 24 * 3600
DEFAULT_HOLD = 120
"""Seconds a seller holds its signed agreement (and the stock) for the buyer's
countersignature, unless the negotiation's deadline comes first: the seller's choice,
never the buyer's."""


class Role(StrEnum):
    BUYER = "buyer"
    SELLER = "seller"


class State(StrEnum):
    AWAITING_OFFER = "awaiting_offer"
    BUYER_TURN = "buyer_turn"
    """A seller's offer or counter is on the table."""
    SELLER_TURN = "seller_turn"
    """The buyer's counter is on the table."""
    ACCEPTED = "accepted"
    """The buyer accepted; the seller owes a signed agreement."""
    SELLER_SIGNED = "seller_signed"
    """The seller signed the agreement; the buyer owes its countersignature."""
    AGREED = "agreed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Kind(StrEnum):
    OFFER = "offer"
    COUNTER = "counter"
    ACCEPT = "accept"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    SIGN = "sign"
    """The seller signs the agreement the accept asked for."""
    COUNTERSIGN = "countersign"
    """The buyer adds its signature to the seller-signed agreement."""
    EXPIRE = "expire"


OPEN_STATES = frozenset(
    {State.AWAITING_OFFER, State.BUYER_TURN, State.SELLER_TURN, State.ACCEPTED,
     State.SELLER_SIGNED}
)
B, S = Role.BUYER, Role.SELLER

_TRANSITIONS: dict[tuple[State, Kind, Role], State] = {
    (State.AWAITING_OFFER, Kind.OFFER, S): State.BUYER_TURN,
    (State.BUYER_TURN, Kind.COUNTER, B): State.SELLER_TURN,
    (State.SELLER_TURN, Kind.COUNTER, S): State.BUYER_TURN,
    (State.BUYER_TURN, Kind.ACCEPT, B): State.ACCEPTED,
    (State.BUYER_TURN, Kind.REJECT, B): State.REJECTED,
    (State.SELLER_TURN, Kind.REJECT, S): State.REJECTED,
    (State.ACCEPTED, Kind.REJECT, S): State.REJECTED,  # e.g. the stock ran out meanwhile
    (State.ACCEPTED, Kind.SIGN, S): State.SELLER_SIGNED,
    (State.SELLER_SIGNED, Kind.COUNTERSIGN, B): State.AGREED,
    **{(st, Kind.WITHDRAW, role): State.WITHDRAWN for st in OPEN_STATES for role in Role
       if (st, role) != (State.SELLER_SIGNED, S)},
    **{(st, Kind.EXPIRE, role): State.EXPIRED for st in OPEN_STATES for role in Role},
}

_KINDS: dict[type, Kind] = {
    Offer: Kind.OFFER, Counter: Kind.COUNTER, Accept: Kind.ACCEPT, Reject: Kind.REJECT,
    Withdraw: Kind.WITHDRAW,
}
_AGREEMENT_KIND = {Role.SELLER: Kind.SIGN, Role.BUYER: Kind.COUNTERSIGN}
"""An agreement envelope is the seller's signing, or the buyer's countersignature."""


class Negotiation:
    """Our side of one negotiation about one intent with one counterparty."""

    def __init__(
        self,
        role: Role,
        key: KeyPair,
        intent_envelope: bytes,
        *,
        now: int,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
        revocations: Revocations | None = None,
    ) -> None:
        if not 0 <= max_rounds <= MAX_NEGOTIATION_ROUNDS:
            raise LocalProtocolError(
                Reason.TOO_MANY_ROUNDS, f"max_rounds must be 0..{MAX_NEGOTIATION_ROUNDS}"
            )
        verified = open(intent_envelope, now=now)
        if not isinstance(verified.message, Intent):
            raise NegotiationError(Reason.WRONG_INTENT, "a negotiation starts from an intent")
        intent = verified.message
        if role is Role.BUYER and verified.signer != key.did and intent.assistant is None:
            raise LocalProtocolError(
                Reason.BAD_KEY, "the buyer negotiates with its intent's key or, when the "
                "intent names an assistant, with a delegate's key and chain")
        self.role = role
        self.revocations = revocations
        self.key = key
        self.intent: Intent = verified.message
        self.intent_digest = verified.digest
        self.max_rounds = max_rounds
        self.state = State.AWAITING_OFFER
        self.counterparty: str | None = verified.signer if role is Role.SELLER else None
        self.transcript: list[bytes] = [verified.raw]
        self.round = 0
        self.deadline = self.intent.expires_at
        self.on_table: Offer | Counter | None = None
        self.first_offer: Offer | None = None
        self.offer_digest: bytes | None = None
        self.accepted: Accept | None = None
        self.accepted_by: str | None = None
        """The DID that signed the Accept (the intent's key or an assistant)."""
        self.agreement: bytes | None = None
        """The agreement envelope: seller-signed, then with both signatures once AGREED."""
        self._seen = ReplayGuard(capacity=1024)

    @property
    def head(self) -> bytes:
        """Digest of the last envelope of the transcript: what the next message answers."""
        return digest(self.transcript[-1])

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def buyer(self) -> str:
        """The person, as the intent's key: the agreement's buyer even when an assistant acts."""
        return self.intent_signer

    @property
    def delegated(self) -> bool:
        """True when we are an assistant negotiating for the intent's key."""
        return self.role is Role.BUYER and self.key.did != self.intent_signer

    @property
    def intent_signer(self) -> str:
        return cose.parse(self.transcript[0]).signatures[0].signer

    @property
    def current_price(self) -> Money | None:
        """The price on the table (the accepted one once accepted), or None before an offer."""
        if self.accepted is not None:
            return self.accepted.price
        return self.on_table.price if self.on_table is not None else None

    @property
    def our_last_price(self) -> Money | None:
        """The price of the last offer or counter we signed, or None if we made none."""
        for raw in reversed(self.transcript[1:]):
            if any(s.signer == self.key.did for s in cose.parse(raw).signatures):
                msg = parse_message(cose.parse(raw).payload)
                if isinstance(msg, Offer | Counter):
                    return msg.price
        return None

    @property
    def conflicts(self) -> list[Conflict]:
        """Where the vendor's data requests break the person's terms (empty before an offer)."""
        if self.first_offer is None:
            return []
        return check(self.intent.terms, self.first_offer.terms)

    # -- the one place state changes -------------------------------------------------

    def _next(self, kind: Kind, by: Role) -> State:
        new = _TRANSITIONS.get((self.state, kind, by))
        if new is None:
            text = f"{by.value} cannot {kind.value} in state {self.state.value}"
            if by is self.role:
                raise LocalProtocolError(Reason.ILLEGAL_TRANSITION, text)
            raise NegotiationError(Reason.ILLEGAL_TRANSITION, text)
        return new

    def _commit(self, new: State, raw: bytes | None, deadline: int | None) -> None:
        self.state = new
        if raw is not None:
            self.transcript.append(raw)
        if deadline is not None:
            self.deadline = deadline

    # -- outgoing ---------------------------------------------------------------------

    def _check_live(self, now: int) -> None:
        if self.is_open and now >= self.deadline:
            raise LocalProtocolError(Reason.EXPIRED, "the negotiation's deadline has passed")

    def _expiry(self, now: int, ttl: int) -> int:
        if ttl <= 0:
            raise LocalProtocolError(Reason.BAD_SCHEMA, "a message's ttl must be positive")
        return now + ttl

    def offer(
        self, *, sku: str, title: str, quantity: int, price: Money,
        terms: VendorTerms | None = None, now: int, ttl: int = DEFAULT_TTL,
        id: str | None = None,
    ) -> bytes:
        """Seller: answer the intent with an offer (checked as the buyer will check it)."""
        new = self._next(Kind.OFFER, self.role)
        self._check_live(now)
        self._check_offer(price, quantity, local=True)
        msg = Offer(
            id=id or new_id(), issued_at=now, expires_at=self._expiry(now, ttl),
            intent_id=self.intent.id, in_reply_to=self.head, sku=sku, title=title,
            quantity=quantity, price=price, terms=terms or VendorTerms(),
        )
        raw = seal(msg, self.key)
        self.first_offer, self.offer_digest, self.on_table = msg, digest(raw), msg
        self.counterparty = self.intent_signer
        self._commit(new, raw, msg.expires_at)
        return raw

    def counter(
        self, *, price: Money, now: int, ttl: int = DEFAULT_TTL, note: str | None = None,
        id: str | None = None, delegation: Sequence[bytes] | None = None,
    ) -> bytes:
        """Either side: propose a new price (an assistant passes its current chain)."""
        new = self._next(Kind.COUNTER, self.role)
        self._check_live(now)
        self._check_round(self.round + 1, local=True)
        self._check_currency(price, local=True)
        chain = self._own_chain(delegation, "counter", price, now)
        msg = Counter(
            id=id or new_id(), issued_at=now, expires_at=self._expiry(now, ttl),
            intent_id=self.intent.id, in_reply_to=self.head, round=self.round + 1,
            price=price, note=note, delegation=chain,
        )
        raw = seal(msg, self.key)
        self.round, self.on_table = msg.round, msg
        self._commit(new, raw, msg.expires_at)
        return raw

    def accept(
        self, *, now: int, ttl: int = DEFAULT_TTL, id: str | None = None,
        delegation: Sequence[bytes] | None = None,
    ) -> bytes:
        """Buyer: accept the seller's proposal on the table, at its price."""
        new = self._next(Kind.ACCEPT, self.role)
        self._check_live(now)
        assert self.on_table is not None
        assert self.first_offer is not None
        if self.conflicts:
            raise LocalProtocolError(Reason.TERMS_CONFLICT, "; ".join(
                f"{c.clause}: {c.detail}" for c in self.conflicts))
        chain = self._own_chain(delegation, "accept", self.on_table.price, now)
        msg = Accept(
            id=id or new_id(), issued_at=now, expires_at=self._expiry(now, ttl),
            intent_id=self.intent.id, in_reply_to=self.head, price=self.on_table.price,
            delegation=chain,
        )
        raw = seal(msg, self.key)
        self.accepted, self.accepted_by = msg, self.key.did
        self._commit(new, raw, msg.expires_at)
        return raw

    def reject(
        self, *, reason: str, now: int, ttl: int = DEFAULT_TTL, id: str | None = None,
        delegation: Sequence[bytes] | None = None,
    ) -> bytes:
        """End the negotiation: the buyer declines a proposal, the seller a counter or accept."""
        new = self._next(Kind.REJECT, self.role)
        chain = self._own_chain(delegation, "negotiate", None, now)
        msg = Reject(
            id=id or new_id(), issued_at=now, expires_at=self._expiry(now, ttl),
            intent_id=self.intent.id, in_reply_to=self.head, reason=reason, delegation=chain,
        )
        raw = seal(msg, self.key)
        self._commit(new, raw, None)
        return raw

    def withdraw(
        self, *, reason: str, now: int, ttl: int = DEFAULT_TTL, id: str | None = None
    ) -> bytes:
        """Either side leaves an open negotiation (an assistant rejects instead: a Withdraw
        takes back the person's intent, which only the intent's key may do)."""
        if self.delegated:
            raise LocalProtocolError(
                Reason.ACTION_NOT_DELEGATED, "an assistant rejects; only the person withdraws")
        new = self._next(Kind.WITHDRAW, self.role)
        msg = Withdraw(
            id=id or new_id(), issued_at=now, expires_at=self._expiry(now, ttl),
            intent_id=self.intent.id, in_reply_to=self.head, reason=reason,
        )
        raw = seal(msg, self.key)
        self._commit(new, raw, None)
        return raw

    def sign_agreement(
        self, *, now: int, ttl: int = AGREEMENT_TTL, hold: int = DEFAULT_HOLD,
        id: str | None = None,
    ) -> bytes:
        """Seller: turn the buyer's accept into an agreement carrying our signature, held
        open for the countersignature for `hold` seconds (or until the deadline)."""
        new = self._next(Kind.SIGN, self.role)
        self._check_live(now)
        self._expiry(now, ttl)
        if hold <= 0:
            raise LocalProtocolError(Reason.BAD_SCHEMA, "a hold is a positive number of seconds")
        countersign_by = min(now + hold, self.deadline)
        agreement = self._expected_agreement(now=now, ttl=ttl, id=id or new_id(),
                                             countersign_by=countersign_by)
        raw = seal(agreement, self.key)
        self.agreement = raw
        self._commit(new, None, countersign_by)
        return raw

    @property
    def countersign_by(self) -> int | None:
        """The seller's deadline for the countersignature, once the seller has signed."""
        if self.agreement is None:
            return None
        agreement = parse_message(cose.parse(self.agreement).payload)
        assert isinstance(agreement, Agreement)
        return agreement.countersign_by

    def countersign(self, *, now: int) -> bytes:
        """Buyer: add our signature to the seller-signed agreement; the deal is made."""
        new = self._next(Kind.COUNTERSIGN, self.role)
        self._check_live(now)
        assert self.agreement is not None
        raw = countersign(self.agreement, self.key, now=now)
        self.agreement = raw
        self._commit(new, None, None)
        return raw

    def expire(self, *, now: int) -> bool:
        """Mark the negotiation expired if its deadline has passed; True if it did."""
        if not self.is_open or now < self.deadline:
            return False
        self._commit(self._next(Kind.EXPIRE, self.role), None, None)
        return True

    def _own_chain(self, delegation: Sequence[bytes] | None, action: Action,
                   price: Money | None, now: int) -> list[bytes] | None:
        """An assistant's chain for its next move, checked here exactly as the vendor
        will check it, so that a move outside the delegation is never sent."""
        if not self.delegated:
            if delegation is not None and self.role is Role.SELLER:
                raise LocalProtocolError(Reason.BAD_SCHEMA, "a seller carries no delegation")
            return None if delegation is None else list(delegation)
        if not delegation:
            raise LocalProtocolError(
                Reason.DELEGATION_BROKEN_CHAIN, "an assistant's move carries its chain")
        try:
            authority = self._authority(list(delegation), now)
            if authority.delegate != self.key.did:
                raise DelegationError(
                    Reason.DELEGATION_BROKEN_CHAIN, "the chain ends at another delegate")
            authorise(authority, action, category=self.intent.category, price=price)
        except DelegationError as exc:
            raise LocalProtocolError(exc.reason, exc.message) from exc
        return list(delegation)

    def _authority(self, links: list[bytes], now: int) -> Authority:
        """Verify a chain from the intent's key; its first delegate is the named assistant."""
        authority = verify_chain(links, root=self.intent_signer, now=now,
                                 revocations=self.revocations)
        if authority.chain[1] != self.intent.assistant:
            raise DelegationError(
                Reason.DELEGATION_BROKEN_CHAIN, "the chain does not start at the assistant "
                "the intent names")
        return authority

    # -- incoming ---------------------------------------------------------------------

    def receive(self, data: bytes, *, now: int) -> Verified:
        """Verify a counterparty's envelope and apply it; raise without changing anything
        if it does not fit."""
        agreement_step = self.role is Role.BUYER and self.state is State.ACCEPTED
        try:
            verified = open(data, now=now, require_complete=not agreement_step)
        except EnvelopeError as exc:
            raise NegotiationError(exc.reason, exc.message) from exc
        msg = verified.message
        seen_key = ReplayGuard.key(verified.signers, msg.id)
        if self._seen.seen(seen_key):
            raise NegotiationError(Reason.REPLAY, f"message {msg.id} was seen already")
        peer = Role.SELLER if self.role is Role.BUYER else Role.BUYER
        kind = _AGREEMENT_KIND[peer] if isinstance(msg, Agreement) else _KINDS.get(type(msg))
        if kind is None:
            raise NegotiationError(Reason.ILLEGAL_TRANSITION, f"{msg.type} is not a move")
        new = self._next(kind, peer)
        if self.is_open and now >= self.deadline:
            raise NegotiationError(Reason.EXPIRED, "the negotiation's deadline has passed")
        self._check_sender(verified, kind, now)
        if getattr(msg, "intent_id", None) != self.intent.id:
            raise NegotiationError(Reason.WRONG_INTENT, "the message is about another intent")
        agreement = kind in (Kind.SIGN, Kind.COUNTERSIGN)
        if agreement:
            self._receive_agreement(verified, now)
        else:
            if getattr(msg, "in_reply_to", None) != self.head:
                raise NegotiationError(
                    Reason.BROKEN_TRANSCRIPT, "in_reply_to is not the last message of this round"
                )
            self._apply(msg, verified)
        deadline = msg.expires_at if kind in (Kind.OFFER, Kind.COUNTER, Kind.ACCEPT) else None
        if kind is Kind.SIGN:
            assert isinstance(msg, Agreement)
            deadline = msg.countersign_by  # the seller's hold is the deadline from now on
        raw = None if agreement else verified.raw
        self._seen.remember(seen_key, msg.expires_at, now=now)
        self._commit(new, raw, deadline)
        return verified

    def _check_sender(self, verified: Verified, kind: Kind, now: int) -> None:
        if kind in (Kind.SIGN, Kind.COUNTERSIGN):
            return  # signer sets are checked against the agreement's parties
        if self.counterparty is None and kind is not Kind.OFFER:
            raise NegotiationError(Reason.WRONG_COUNTERPARTY, "no offer yet: no counterparty")
        if verified.signer == self.key.did:
            raise NegotiationError(Reason.WRONG_COUNTERPARTY, "that message is our own")
        chain = getattr(verified.message, "delegation", None)
        if self.role is Role.BUYER:
            if chain is not None:
                raise NegotiationError(Reason.BAD_SCHEMA, "a seller's move carries no delegation")
        elif chain is not None:
            self._check_delegate(verified, kind, chain, now)
            return
        if self.counterparty is not None and verified.signer != self.counterparty:
            raise NegotiationError(Reason.WRONG_COUNTERPARTY, "signed by another party")

    def _check_delegate(self, verified: Verified, kind: Kind, chain: list[bytes], now: int
                        ) -> None:
        """Seller: a buyer move by an assistant holds only under a chain that covers it."""
        msg = verified.message
        actions: dict[Kind, Action] = {Kind.COUNTER: "counter", Kind.ACCEPT: "accept"}
        action = actions.get(kind, "negotiate")
        try:
            authority = self._authority(chain, now)
            if authority.delegate != verified.signer:
                raise DelegationError(
                    Reason.DELEGATION_BROKEN_CHAIN, "the chain ends at another delegate")
            authorise(authority, action, category=self.intent.category,
                      price=getattr(msg, "price", None))
        except DelegationError as exc:
            raise DelegatedMoveError(exc.reason, exc.message) from exc

    def _apply(self, msg: Message, verified: Verified) -> None:
        if isinstance(msg, Offer):
            self._check_offer(msg.price, msg.quantity, local=False)
            self.first_offer, self.offer_digest, self.on_table = msg, verified.digest, msg
            self.counterparty = verified.signer
        elif isinstance(msg, Counter):
            self._check_round(msg.round, local=False)
            self._check_currency(msg.price, local=False)
            self.round, self.on_table = msg.round, msg
        elif isinstance(msg, Accept):
            assert self.on_table is not None
            if msg.price != self.on_table.price:
                raise NegotiationError(Reason.TERMS_MISMATCH, "accepted price was not offered")
            self.accepted, self.accepted_by = msg, verified.signer

    def _receive_agreement(self, verified: Verified, now: int) -> None:
        msg = verified.message
        assert isinstance(msg, Agreement)
        if self.role is Role.BUYER:
            if verified.signers != (self.counterparty,):
                raise NegotiationError(Reason.MISSING_SIGNATURE, "expected the seller's signature")
            if msg.countersign_by > self.deadline:
                raise NegotiationError(
                    Reason.TERMS_MISMATCH, "countersign_by is past the accept's deadline")
            expected = self._expected_agreement(now=now, ttl=1, id=msg.id,
                                                countersign_by=now + 1)
            fields = {"issued_at", "expires_at", "countersign_by"}
            if msg.model_dump(exclude=fields) != expected.model_dump(exclude=fields):
                raise NegotiationError(
                    Reason.TERMS_MISMATCH, "the agreement does not state what was accepted"
                )
        else:
            assert self.agreement is not None
            ours = cose.parse(self.agreement).payload
            if cose.parse(verified.raw).payload != ours:
                raise NegotiationError(
                    Reason.TERMS_MISMATCH, "the countersigned agreement is not the one we signed"
                )
        self.agreement = verified.raw

    # -- shared checks ----------------------------------------------------------------

    def _expected_agreement(self, *, now: int, ttl: int, id: str, countersign_by: int
                            ) -> Agreement:
        assert self.first_offer is not None
        assert self.accepted is not None
        assert self.offer_digest is not None
        assert self.counterparty is not None
        if self.conflicts:
            error = LocalProtocolError if self.role is Role.SELLER else NegotiationError
            raise error(Reason.TERMS_CONFLICT, self.conflicts[0].detail)
        vendor = self.key.did if self.role is Role.SELLER else self.counterparty
        price = self.accepted.price
        agent = self.accepted_by if self.accepted_by != self.buyer else None
        return Agreement(
            id=id, issued_at=now, expires_at=now + ttl, intent_id=self.intent.id,
            intent_hash=self.intent_digest, offer_hash=self.offer_digest,
            accept_hash=self.head, buyer=self.buyer, vendor=vendor, sku=self.first_offer.sku,
            title=self.first_offer.title, quantity=self.first_offer.quantity, price=price,
            customer_terms=self.intent.terms, vendor_terms=self.first_offer.terms,
            terms_hash=terms_hash(
                sku=self.first_offer.sku, quantity=self.first_offer.quantity, price=price,
                customer=self.intent.terms, vendor=self.first_offer.terms,
            ),
            agent=agent, delegation=self.accepted.delegation if agent else None,
            countersign_by=countersign_by,
        )

    def _check_round(self, round_: int, *, local: bool) -> None:
        error = LocalProtocolError if local else NegotiationError
        if round_ > self.max_rounds:
            raise error(Reason.TOO_MANY_ROUNDS, f"round {round_} is past {self.max_rounds}")
        if round_ != self.round + 1:
            raise error(Reason.BROKEN_TRANSCRIPT, f"expected round {self.round + 1}, got {round_}")

    def _check_offer(self, price: Money, quantity: int, *, local: bool) -> None:
        """One check for an offer, ours or the peer's: the intent's currency and quantity."""
        self._check_currency(price, local=local)
        if quantity != self.intent.constraints.quantity:
            error = LocalProtocolError if local else NegotiationError
            raise error(Reason.TERMS_MISMATCH, "quantity differs from the intent's")

    def _check_currency(self, price: Money, *, local: bool) -> None:
        cap = self.intent.constraints.max_price
        if cap is not None and price.currency != cap.currency:
            error = LocalProtocolError if local else NegotiationError
            raise error(Reason.TERMS_MISMATCH, f"{price.currency}, not {cap.currency}")
