"""Fourth-party delegations: a person lets an assistant act, within limits they signed.

A chain runs from a root key (the key that signed the intent) to the assistant
that acts. Each link is a signed `Delegation` naming its issuer, its delegate,
a scope and a time window; every link after the first names its parent by the
parent's envelope digest. A chain verifies only when:

- each link's signature holds and its signer is the link's `issuer`;
- the first issuer is the root, and each later issuer is the previous delegate;
- each link narrows its parent (attenuation only: never a wider scope or window);
- every link is inside its window (`not_before` <= now < `expires_at`);
- no link was revoked by its own issuer or by anyone above it in the chain;
- every field and every scope constraint is one this verifier understands.

Time is passed in; revocations are passed in as a `Revocations` the caller fills.
"""

from __future__ import annotations

import collections
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from . import cose
from .encoding import decode
from .envelope import Verified, parse_message, seal
from .errors import DelegationError, EncodingError, EnvelopeError, LocalProtocolError, Reason
from .identity import KeyPair
from .messages import MAX_CHAIN_LINKS, Delegation, Money, Revocation, Scope, digest, new_id

MAX_CHAIN_LENGTH = MAX_CHAIN_LINKS
"""Links a chain may have: person → assistant → sub-assistant → …, bounded."""

Action = Literal["negotiate", "counter", "accept", "disclose"]

_DELEGATION_FIELDS = frozenset(Delegation.model_fields)
_SCOPE_FIELDS = frozenset(Scope.model_fields)


def category_within(category: str, allowed: str) -> bool:
    """True when `category` is `allowed` or below it: outdoor.camping is within outdoor."""
    return category == allowed or category.startswith(allowed + ".")


def scope_covers(scope: Scope, category: str) -> bool:
    """True when `category` is within one of the categories `scope` grants."""
    return any(category_within(category, allowed) for allowed in scope.categories)


def _price_within(child: Money | None, parent: Money | None) -> bool:
    if parent is None:
        return True
    return child is not None and child.currency == parent.currency and child.amount <= parent.amount


def widenings(child: Scope, parent: Scope) -> list[str]:
    """Every way `child` asks for more than `parent` grants; empty when it narrows."""
    found = [
        f"category {c} is outside the parent's"
        for c in child.categories
        if not any(category_within(c, p) for p in parent.categories)
    ]
    if not _price_within(child.max_price, parent.max_price):
        found.append("the price cap is missing, higher or in another currency")
    if child.may_counter and not parent.may_counter:
        found.append("may_counter is not granted by the parent")
    if child.may_accept and not parent.may_accept:
        found.append("may_accept is not granted by the parent")
    found += [
        f"field {f} may not be disclosed under the parent"
        for f in child.may_disclose
        if f not in parent.may_disclose
    ]
    return found


def issue(
    issuer: KeyPair,
    delegate: str,
    scope: Scope,
    *,
    now: int,
    expires_at: int,
    not_before: int | None = None,
    parent: bytes | None = None,
) -> bytes:
    """Sign a delegation; with `parent` (an envelope), refuse to widen it."""
    try:
        message = Delegation(
            id=new_id(), issued_at=now, expires_at=expires_at,
            issuer=issuer.did, delegate=delegate, scope=scope,
            not_before=now if not_before is None else not_before,
            nonce=secrets.token_bytes(16),
            parent=None if parent is None else digest(parent),
        )
    except ValidationError as exc:
        raise LocalProtocolError(Reason.BAD_SCHEMA, str(exc.errors()[0]["msg"])) from exc
    if parent is not None:
        above = _link(parent)
        if above.delegate != issuer.did:
            raise LocalProtocolError(
                Reason.DELEGATION_BROKEN_CHAIN, "only the parent's delegate may narrow it further"
            )
        problems = widenings(scope, above.scope) + _window_widenings(message, above)
        if problems:
            raise LocalProtocolError(Reason.DELEGATION_WIDENED, problems[0])
    return seal(message, issuer)


def revoke(
    issuer: KeyPair, delegation: bytes, *, now: int, expires_at: int, reason: str | None = None
) -> bytes:
    """Sign a revocation of `delegation` (by its issuer or anyone above it in the chain).

    `expires_at` should be no earlier than the delegation's own expiry, so that
    the revocation is kept as long as the delegation could still be shown.
    """
    return seal(
        Revocation(
            id=new_id(), issued_at=now, expires_at=expires_at,
            target=digest(delegation), target_type="delegation", reason=reason,
        ),
        issuer,
    )


class Revocations:
    """Revocations a verifier knows: target digest -> the DIDs that signed one, each kept
    until its revocation expires.

    Whether a revocation counts depends on who signed it relative to the chain,
    so that check happens in `verify_chain`, not here. Bounded, since anyone can
    sign a revocation: at most `per_issuer` targets per signer and `capacity` in
    all; past either, `add` keeps nothing and says so. Which revocations are worth
    keeping at all (those whose signer the verifier deals with) is the caller's
    choice; `prune` forgets the expired ones.
    """

    def __init__(self, *, per_issuer: int = 64, capacity: int = 10_000) -> None:
        self.per_issuer = per_issuer
        self.capacity = capacity
        self._by_target: dict[bytes, dict[str, int]] = {}
        self._per_issuer: collections.Counter[str] = collections.Counter()
        self._count = 0

    def add(self, verified: Verified) -> bool:
        """Keep a verified revocation of a delegation; False when a bound refused it."""
        message = verified.message
        if not isinstance(message, Revocation) or message.target_type != "delegation":
            raise LocalProtocolError(Reason.BAD_SCHEMA, "not a revocation of a delegation")
        signers = self._by_target.setdefault(message.target, {})
        if verified.signer in signers:
            signers[verified.signer] = max(signers[verified.signer], message.expires_at)
            return True
        if self._count >= self.capacity or self._per_issuer[verified.signer] >= self.per_issuer:
            if not signers:
                del self._by_target[message.target]
            return False
        signers[verified.signer] = message.expires_at
        self._per_issuer[verified.signer] += 1
        self._count += 1
        return True

    def revoked(self, target: bytes, authorised: Iterable[str]) -> bool:
        return not self._by_target.get(target, {}).keys().isdisjoint(authorised)

    def prune(self, now: int) -> None:
        for target in list(self._by_target):
            signers = self._by_target[target]
            for signer in [s for s, until in signers.items() if until <= now]:
                del signers[signer]
                self._per_issuer[signer] -= 1
                if not self._per_issuer[signer]:
                    del self._per_issuer[signer]
                self._count -= 1
            if not signers:
                del self._by_target[target]

    def __len__(self) -> int:
        return self._count


@dataclass(frozen=True)
class Authority:
    """What a verified chain lets its last delegate do, and on whose behalf."""

    root: str
    delegate: str
    scope: Scope
    not_before: int
    expires_at: int
    chain: tuple[str, ...]
    """DIDs from the root to the delegate."""
    digests: tuple[bytes, ...]
    """Envelope digests of the links, root first."""


def verify_chain(
    links: Sequence[bytes],
    *,
    root: str,
    now: int,
    revocations: Revocations | None = None,
) -> Authority:
    """Verify a delegation chain (root first) and return the authority it grants."""
    if not 1 <= len(links) <= MAX_CHAIN_LENGTH:
        raise DelegationError(
            Reason.DELEGATION_BROKEN_CHAIN, f"a chain has 1 to {MAX_CHAIN_LENGTH} links"
        )
    issuers: list[str] = []
    chain = [root]
    digests: list[bytes] = []
    above: Delegation | None = None
    for index, raw in enumerate(links):
        link = _link(raw)
        expected_issuer = root if above is None else above.delegate
        if link.issuer != expected_issuer:
            raise DelegationError(
                Reason.DELEGATION_BROKEN_CHAIN,
                f"link {index} is issued by {link.issuer}, expected {expected_issuer}",
            )
        expected_parent = digests[-1] if digests else None
        if link.parent != expected_parent:
            raise DelegationError(
                Reason.DELEGATION_BROKEN_CHAIN, f"link {index} does not name its parent's digest"
            )
        if above is not None:
            problems = widenings(link.scope, above.scope) + _window_widenings(link, above)
            if problems:
                raise DelegationError(Reason.DELEGATION_WIDENED, f"link {index}: {problems[0]}")
        if now < link.not_before:
            raise DelegationError(
                Reason.DELEGATION_NOT_YET_VALID, f"link {index} is valid from {link.not_before}"
            )
        if now >= link.expires_at:
            raise DelegationError(
                Reason.DELEGATION_EXPIRED, f"link {index} expired at {link.expires_at}"
            )
        issuers.append(link.issuer)
        chain.append(link.delegate)
        digests.append(digest(raw))
        if revocations is not None and revocations.revoked(digests[-1], issuers):
            raise DelegationError(Reason.DELEGATION_REVOKED, f"link {index} was revoked")
        above = link
    assert above is not None  # at least one link
    return Authority(
        root=root, delegate=above.delegate, scope=above.scope,
        not_before=above.not_before, expires_at=above.expires_at,
        chain=tuple(chain), digests=tuple(digests),
    )


def authorise(
    authority: Authority,
    action: Action,
    *,
    category: str,
    price: Money | None = None,
    fields: Collection[str] = (),
) -> None:
    """Raise `DelegationError` unless the authority covers this action."""
    scope = authority.scope
    if not scope_covers(scope, category):
        raise DelegationError(
            Reason.OUT_OF_SCOPE_CATEGORY, f"{category} is not among {', '.join(scope.categories)}"
        )
    if action == "counter" and not scope.may_counter:
        raise DelegationError(Reason.ACTION_NOT_DELEGATED, "the delegation does not allow counter")
    if action == "accept" and not scope.may_accept:
        raise DelegationError(Reason.ACTION_NOT_DELEGATED, "the delegation does not allow accept")
    cap = scope.max_price
    if price is not None and cap is not None:
        if price.currency != cap.currency:
            raise DelegationError(
                Reason.OVER_PRICE_CAP, f"the cap is in {cap.currency}, not {price.currency}"
            )
        if price.amount > cap.amount:
            raise DelegationError(
                Reason.OVER_PRICE_CAP, f"{price.amount} is over the cap of {cap.amount}"
            )
    for name in fields:
        if name not in scope.may_disclose:
            raise DelegationError(
                Reason.FIELD_NOT_DELEGATED, f"the delegation does not allow disclosing {name}"
            )


def _window_widenings(child: Delegation, parent: Delegation) -> list[str]:
    found = []
    if child.not_before < parent.not_before:
        found.append("it starts before its parent")
    if child.expires_at > parent.expires_at:
        found.append("it outlives its parent")
    return found


def _link(raw: bytes) -> Delegation:
    """Signature, unknown-constraint and schema checks of one link (no time checks)."""
    try:
        signed = cose.verify(raw)
    except EnvelopeError as exc:
        raise DelegationError(exc.reason, f"delegation: {exc.message}") from exc
    if signed.multi:
        raise DelegationError(Reason.BAD_STRUCTURE, "a delegation travels as COSE_Sign1")
    _refuse_unknown_constraints(signed.payload)
    try:
        message = parse_message(signed.payload)
    except EnvelopeError as exc:
        raise DelegationError(exc.reason, f"delegation: {exc.message}") from exc
    if not isinstance(message, Delegation):
        raise DelegationError(Reason.BAD_SCHEMA, f"expected a delegation, got a {message.type}")
    if message.issuer != signed.signatures[0].signer:
        raise DelegationError(
            Reason.DELEGATION_BROKEN_CHAIN, "a delegation must be signed by its issuer"
        )
    return message


def _refuse_unknown_constraints(payload: bytes) -> None:
    # A constraint we do not understand must fail the chain, never be ignored:
    # ignoring it would grant more than the issuer signed.
    try:
        obj = decode(payload, max_size=cose.MAX_ENVELOPE_SIZE)
    except EncodingError as exc:
        raise DelegationError(exc.reason, f"delegation: {exc.message}") from exc
    if not isinstance(obj, dict) or obj.get("type") != "delegation":
        return  # parse_message reports it precisely
    unknown = set(obj) - _DELEGATION_FIELDS
    scope = obj.get("scope")
    if isinstance(scope, dict):
        unknown |= {f"scope.{k}" for k in set(scope) - _SCOPE_FIELDS}
    if unknown:
        raise DelegationError(
            Reason.DELEGATION_UNKNOWN_CONSTRAINT,
            f"unknown constraint {sorted(map(str, unknown))[0]}; refusing rather than ignoring it",
        )


__all__ = [
    "MAX_CHAIN_LENGTH", "Action", "Authority", "Revocations", "authorise", "category_within",
    "issue", "revoke", "scope_covers", "verify_chain", "widenings",
]
