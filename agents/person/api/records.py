"""The person's records, as the page reads them: the audit log and each agreement's terms.

`GET /v1/audit` is the hash-chained log (newest last), `GET /v1/audit/verify` checks the
chain and names the first entry that breaks it; the CLI's `intentcast audit` reads the
same log from the store file. `GET /v1/agreements/{id}/terms` verifies both signatures of
a stored agreement and gives its terms as fields the page puts into words.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Annotated, Any

from fastapi import FastAPI, Query

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.person.api.responses import errors
from intentcast.agents.runtime.render import jsonable
from intentcast.agents.store import audit
from intentcast.protocol import Agreement, IntentcastError, open_envelope, read_stored

PARTY_KEYS = ("vendor", "controller", "assistant", "buyer")
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many, the newest")]


def entry_json(entry: audit.Entry) -> dict[str, Any]:
    party = next((str(entry.data[k]) for k in PARTY_KEYS if isinstance(entry.data.get(k), str)),
                 "")
    return {"seq": entry.seq, "at": entry.at, "kind": entry.kind, "party": party,
            "hash": entry.hash.hex(), "data": jsonable(entry.data)}


def agreement_terms(raw: bytes) -> dict[str, Any]:
    """Both signatures checked (as of the agreement's own issue time: a signature does not
    expire), and the terms."""
    agreement = read_stored(raw)
    assert isinstance(agreement, Agreement)
    try:
        verified = open_envelope(raw, now=agreement.issued_at)
    except IntentcastError as exc:
        signatures: dict[str, Any] = {"valid": False, "reason": exc.reason.value,
                                      "error": exc.message, "signers": []}
    else:
        signers = list(verified.signers)
        signatures = {"valid": set(signers) == {agreement.vendor, agreement.buyer_signer},
                      "signers": [{"did": s, "role": "vendor" if s == agreement.vendor
                                   else "you" if s == agreement.buyer else "your assistant"}
                                  for s in signers]}
    return {"id": agreement.id, "intent_id": agreement.intent_id, "issued_at":
            agreement.issued_at, "buyer": agreement.buyer, "vendor": agreement.vendor,
            "agent": agreement.agent, "sku": agreement.sku, "title": agreement.title,
            "quantity": agreement.quantity, "price": agreement.price.model_dump(),
            "customer_terms": agreement.customer_terms.model_dump(),
            "vendor_terms": agreement.vendor_terms.model_dump(),
            "terms_hash": agreement.terms_hash.hex(), "signatures": signatures}


def add_routes(app: FastAPI, agent: PersonAgent, guarded: list[Any]) -> None:
    db = agent.store.db

    @app.get("/v1/audit", dependencies=guarded, responses=errors(422))
    async def audit_log(limit: Limit = 200,
                        party: Annotated[str | None, Query(max_length=128)] = None
                        ) -> dict[str, Any]:
        """The audit log, oldest first: the newest `limit` entries (of one party, if given)."""
        entries = [entry_json(e) for e in audit.entries(db)]
        if party is not None:
            entries = [e for e in entries if e["party"] == party]
        return {"entries": entries[-limit:], "total": len(entries)}

    @app.get("/v1/audit/verify", dependencies=guarded)
    async def audit_verify() -> dict[str, Any]:
        """Check the hash chain: whole, or the first entry that no longer fits it."""
        broken = audit.verify(db)
        count = db.execute("SELECT count(*) FROM audit").fetchone()[0]
        return {"entries": count, "intact": broken is None, "first_broken": broken}

    @app.get("/v1/agreements/{agreement_id}/terms", dependencies=guarded,
             responses=errors(404, 422))
    async def terms(agreement_id: str) -> dict[str, Any]:
        """The agreement's terms, with both signatures verified."""
        found = agent.store.agreement(agreement_id)
        if found is None:
            raise AgentError(Kind.NOT_FOUND, f"no agreement {agreement_id}")
        return {**agreement_terms(found.raw), "state": found.state}
