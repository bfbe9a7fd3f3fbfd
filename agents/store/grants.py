"""The person's grants to assistants, and the short links issued under them.

A grant is the person's standing delegation to an assistant: signed with the
person's pairwise key for that assistant, so it names the person to nobody
else, and kept between the two of them. Vendors never see it. For each intent
the assistant handles, the person's agent issues *links* from the intent's key
(the root vendors check), at most `LINK_TTL` seconds long and renewed before
each move, so that a revoked grant stops working within that time even where
the revocation broadcast never arrived (specs/protocol.md §8.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.store import audit
from intentcast.agents.store.db import Store
from intentcast.protocol import (
    Delegation,
    Intent,
    MasterKey,
    Scope,
    cose,
    delegation,
    digest,
    envelope,
    scope_covers,
)

LINK_TTL = 60
"""Seconds a link lives: the longest a vendor that missed a revocation can be fooled."""


class GrantError(AgentError):
    """A grant cannot be made or used as asked; the message says why."""


@dataclass(frozen=True)
class Grant:
    id: str
    assistant: str
    scope: Scope
    created_at: int
    expires_at: int
    revoked_at: int | None
    raw: bytes

    def live(self, now: int) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def state(self, now: int) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if now < self.expires_at else "expired"


def make_grant(store: Store, master: MasterKey, assistant: str, scope: Scope, *, now: int,
               expires_at: int) -> Grant:
    """Sign and keep a grant to `assistant` (a did:key)."""
    if expires_at <= now:
        raise GrantError(Kind.INVALID, "a grant must expire in the future")
    key = master.pairwise_key(assistant)
    raw = delegation.issue(key, assistant, scope, now=now, expires_at=expires_at)
    message = _delegation(raw)
    with store.transaction() as db:
        db.execute("INSERT INTO grants (id, assistant, created_at, expires_at, raw) "
                   "VALUES (?, ?, ?, ?, ?)", (message.id, assistant, now, expires_at, raw))
        audit.append(db, at=now, kind="assistant_granted", data={
            "grant_id": message.id, "assistant": assistant, "expires_at": expires_at,
            "scope": scope.model_dump(mode="json", exclude_none=True),
        })
    return _grant(message.id, assistant, now, expires_at, None, raw)


def grants(store: Store) -> list[Grant]:
    rows = store.db.execute("SELECT id, assistant, created_at, expires_at, revoked_at, raw "
                            "FROM grants ORDER BY created_at, id").fetchall()
    return [_grant(*row) for row in rows]


def grant(store: Store, grant_id: str) -> Grant | None:
    return next((g for g in grants(store) if g.id == grant_id), None)


def live_grant(store: Store, assistant: str, now: int) -> Grant | None:
    """The newest live grant to `assistant`, if any."""
    live = [g for g in grants(store) if g.assistant == assistant and g.live(now)]
    return live[-1] if live else None


def issue_link(store: Store, master: MasterKey, grant_: Grant, intent_raw: bytes,
               intent_nonce: bytes, *, now: int) -> bytes:
    """A fresh short link from the intent's key to the assistant, within the grant."""
    intent = envelope.read_stored(intent_raw)
    assert isinstance(intent, Intent)
    if not grant_.live(now):
        raise GrantError(Kind.CONFLICT, f"grant {grant_.id} is {grant_.state(now)}")
    if now >= intent.expires_at:
        raise GrantError(Kind.CONFLICT, f"intent {intent.id} has expired")
    if not scope_covers(grant_.scope, intent.category):
        raise GrantError(Kind.INVALID, f"the grant does not cover {intent.category}")
    # Only the intent's category travels: vendors learn no more of the grant than they need.
    scope = grant_.scope.model_copy(update={"categories": [intent.category]})
    expires_at = min(now + LINK_TTL, grant_.expires_at, intent.expires_at)
    raw = delegation.issue(master.intent_key(intent_nonce), grant_.assistant, scope, now=now,
                           expires_at=expires_at)
    with store.transaction() as db:
        db.execute("INSERT INTO links (digest, grant_id, intent_id, expires_at, raw) "
                   "VALUES (?, ?, ?, ?, ?)", (digest(raw), grant_.id, intent.id, expires_at, raw))
    return raw


def revoke_grant(store: Store, master: MasterKey, grant_id: str, *, now: int) -> list[bytes]:
    """Mark a grant revoked; return signed revocations of its links still alive, to publish."""
    found = grant(store, grant_id)
    if found is None:
        raise GrantError(Kind.NOT_FOUND, f"no grant {grant_id}")
    if found.revoked_at is not None:
        raise GrantError(Kind.CONFLICT, f"grant {grant_id} was revoked already")
    rows = store.db.execute(
        "SELECT l.raw, l.expires_at, i.nonce FROM links l JOIN intents i ON i.id = l.intent_id "
        "WHERE l.grant_id = ? AND l.expires_at > ?", (grant_id, now)).fetchall()
    revocations = [
        delegation.revoke(master.intent_key(bytes(nonce)), bytes(raw), now=now,
                          expires_at=max(int(expires_at), now + 1), reason="revoked by the person")
        for raw, expires_at, nonce in rows
    ]
    with store.transaction() as db:
        db.execute("UPDATE grants SET revoked_at = ? WHERE id = ?", (now, grant_id))
        audit.append(db, at=now, kind="assistant_revoked", data={
            "grant_id": grant_id, "assistant": found.assistant,
            "links_revoked": len(revocations),
        })
    return revocations


def check_grant_envelope(raw: bytes, assistant: str, master: MasterKey, *, now: int) -> str:
    """The grant id of `raw` if it is a live grant this person made to `assistant`."""
    message = _delegation(raw)
    if message.issuer != master.pairwise_key(assistant).did or message.delegate != assistant:
        raise GrantError(Kind.FORBIDDEN, "that grant was not made by this person to this assistant")
    if not message.not_before <= now < message.expires_at:
        raise GrantError(Kind.CONFLICT, "that grant is not valid now")
    return message.id


def _delegation(raw: bytes) -> Delegation:
    message = envelope.parse_message(cose.verify(raw).payload)
    if not isinstance(message, Delegation):
        raise GrantError(Kind.INVALID, "not a delegation")
    return message


def _grant(id_: str, assistant: str, created_at: int, expires_at: int, revoked_at: int | None,
           raw: bytes) -> Grant:
    message = _delegation(bytes(raw))
    return Grant(id_, assistant, message.scope, created_at, expires_at, revoked_at, bytes(raw))
