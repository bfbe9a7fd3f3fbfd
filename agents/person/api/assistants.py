"""The local API's routes for fourth parties: grants, revocation, what assistants did."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.person.api.fields import Amount, Category, Currency, FieldName, minor_units
from intentcast.agents.person.api.responses import errors
from intentcast.agents.store import audit, grants
from intentcast.protocol import Money, Scope, is_did

AUDIT_KINDS = ("assistant_granted", "assistant_revoked", "assistant_connected",
               "assistant_action", "assistant_report", "agreement_signed")


class PostGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assistant: Annotated[str, StringConstraints(max_length=64)] = Field(
        description="the assistant's did:key (it prints it at `intentcast assistant init`)")
    categories: list[Category] = Field(min_length=1, max_length=16)
    max_price: Amount | None = None
    currency: Currency = "EUR"
    may_counter: bool = False
    may_accept: bool = False
    disclose: list[FieldName] = Field(default_factory=list, max_length=32)
    expires_in: int = Field(7 * 86_400, ge=60, le=365 * 86_400, description="seconds")


def grant_json(g: grants.Grant, now: int, daemon: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": g.id, "assistant": g.assistant, "state": g.state(now),
        "created_at": g.created_at, "expires_at": g.expires_at,
        "scope": g.scope.model_dump(mode="json", exclude_none=True),
    }
    if daemon is not None:
        # What `intentcast assistant run --delegation FILE` reads.
        out["file"] = {"grant": g.raw.hex(), "assistant": g.assistant,
                       "daemon": {"peer_id": daemon["peer_id"], "addrs": daemon["addrs"]}}
    return out


def add_routes(app: FastAPI, agent: PersonAgent, guarded: list[Any],
               status: Callable[[], dict[str, Any]]) -> None:
    def desk() -> Any:
        if agent.desk is None:
            raise AgentError(Kind.CONFLICT, "this agent has no assistant desk")
        return agent.desk

    @app.post("/v1/assistants/grants", dependencies=guarded, status_code=201,
              responses=errors(409, 422))
    async def post_grant(body: PostGrant) -> dict[str, Any]:
        if not is_did(body.assistant):
            raise AgentError(Kind.INVALID, "assistant: not a did:key")
        amount = minor_units(body.max_price, body.currency)
        cap = None if amount is None else Money(amount=amount, currency=body.currency)
        scope = Scope(categories=body.categories, max_price=cap, may_counter=body.may_counter,
                      may_accept=body.may_accept, may_disclose=body.disclose)
        now = agent.now()
        made = grants.make_grant(agent.store, desk().master, body.assistant, scope, now=now,
                                 expires_at=now + body.expires_in)
        return grant_json(made, now, status())

    @app.get("/v1/assistants/grants", dependencies=guarded)
    async def list_grants() -> list[dict[str, Any]]:
        now = agent.now()
        return [grant_json(g, now) for g in grants.grants(agent.store)]

    @app.get("/v1/assistants/grants/{grant_id}", dependencies=guarded,
             responses=errors(404, 422))
    async def get_grant(grant_id: str) -> dict[str, Any]:
        found = grants.grant(agent.store, grant_id)
        if found is None:
            raise AgentError(Kind.NOT_FOUND, f"no grant {grant_id}")
        return grant_json(found, agent.now(), status())

    @app.post("/v1/assistants/grants/{grant_id}/revoke", dependencies=guarded,
              responses=errors(404, 409, 422))
    async def revoke(grant_id: str) -> dict[str, Any]:
        links = await desk().revoke(grant_id)
        found = grants.grant(agent.store, grant_id)
        assert found is not None
        return {**grant_json(found, agent.now()), "links_revoked": links}

    @app.get("/v1/assistants/log", dependencies=guarded, responses=errors(422))
    async def log(intent_id: Annotated[str | None, Query(max_length=128)] = None
                  ) -> list[dict[str, Any]]:
        """Everything assistants did for the person, from the audit log, oldest first."""
        found = [e for e in audit.entries(agent.store.db) if e.kind in AUDIT_KINDS]
        rows = [{"seq": e.seq, "at": e.at, "kind": e.kind, **e.data} for e in found
                if e.kind != "agreement_signed" or e.data.get("accepted_by")]
        return [r for r in rows if intent_id is None or r.get("intent_id") == intent_id]
