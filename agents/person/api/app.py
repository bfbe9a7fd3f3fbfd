"""The daemon's local HTTP JSON API (FastAPI, served by Hypercorn on trio).

Bound to loopback; its guard (api/guard.py) checks the Host, the bearer token kept in a
file only the owner can read and the body's size before FastAPI parses anything. Every
error is JSON `{"error": "...", "status": N}` with one line that says what to fix. The
OpenAPI document is served at /openapi.json (behind the token like the rest) and checked
into specs/openapi.json. There is no /docs page: the person's own page at `/` (api/web.py,
logged in with a cookie session) is where a browser view belongs, and Swagger UI would
need scripts from elsewhere that the page's Content-Security-Policy does not allow.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime,
# including ones that name local objects (the bearer scheme).

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import trio
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.person.api.assistants import add_routes as add_assistant_routes
from intentcast.agents.person.api.data import add_routes as add_data_routes
from intentcast.agents.person.api.events import add_routes as add_event_routes
from intentcast.agents.person.api.fields import (
    Amount,
    Country,
    Currency,
    PostcodePrefix,
    minor_units,
)
from intentcast.agents.person.api.guard import Guard, refusal
from intentcast.agents.person.api.network import Network
from intentcast.agents.person.api.network import add_routes as add_network_routes
from intentcast.agents.person.api.offers import add_routes as add_offer_routes
from intentcast.agents.person.api.offers import offer_terms
from intentcast.agents.person.api.records import add_routes as add_record_routes
from intentcast.agents.person.api.responses import GUARD, errors
from intentcast.agents.person.api.sessions import Sessions
from intentcast.agents.person.api.web import add_routes as add_web_routes
from intentcast.agents.person.requests import DEFAULT_TERMS, IntentRequest
from intentcast.agents.store.db import StoredAgreement, StoredIntent, StoredNegotiation
from intentcast.protocol import CustomerTerms, Intent, parse_amount, read_stored

API_VERSION = "1"
MAX_WAIT = 60.0
MAX_COUNT = 1000
Wait = Annotated[float, Query(ge=0, le=MAX_WAIT, description="seconds to wait, 0 to 60")]
Count = Annotated[int, Query(ge=0, le=MAX_COUNT, description="how many to wait for")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PostIntent(_Body):
    category: Annotated[str, StringConstraints(max_length=128)]
    description: Annotated[str, StringConstraints(max_length=1000)]
    max_price: Amount | None = Field(None, description='a decimal string such as "200.00"')
    currency: Currency = "EUR"
    quantity: int = Field(1, ge=1, le=1_000_000)
    country: Country | None = None
    postcode_prefix: PostcodePrefix | None = None
    disclosed: dict[str, Annotated[str, StringConstraints(max_length=280)]] = Field(
        default_factory=dict, max_length=32
    )
    expires_in: int = Field(3600, ge=60, le=30 * 86_400, description="seconds")
    terms: CustomerTerms | None = None
    assistant: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="the did:key of a granted assistant to negotiate for you")


class PostCounter(_Body):
    price: Amount
    note: Annotated[str, StringConstraints(max_length=280)] | None = None


class PostReason(_Body):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=280)] = "no, thank you"


def _intent_json(intent: StoredIntent, heard_by: int | None = None) -> dict[str, Any]:
    """An intent as the API shows it: `unheard` (with a note) while it is open and the last
    publishing reached no peer; `heard_by` is that count when this run published it."""
    out = {"id": intent.id, "category": intent.category, "description": intent.description,
           "state": intent.state, "created_at": intent.created_at,
           "expires_at": intent.expires_at, "heard_by": heard_by, "note": ""}
    if intent.state == "open" and heard_by == 0:
        top = intent.category.split(".", 1)[0]
        out.update(state="unheard", note=f"no peer subscribes to {top} yet: nobody heard it; "
                   "your daemon sends it again as soon as one does")
    return out


def _asked(intent: StoredIntent) -> dict[str, Any]:
    """What the intent asks for, and on which terms, as it was signed."""
    message = read_stored(intent.raw)
    assert isinstance(message, Intent)
    return {"constraints": message.constraints.model_dump(exclude_none=True),
            "disclosed": message.disclosed, "terms": message.terms.model_dump(),
            "assistant": message.assistant}


def _offer_json(n: StoredNegotiation, terms: dict[str, dict[str, Any]] | None = None
                ) -> dict[str, Any]:
    """An offer; with `terms` (api/offers.py), also the data it asks for and its conflicts."""
    return {"ref": n.ref, "intent_id": n.intent_id, "vendor": n.counterparty, "state": n.state,
            "sku": n.sku, "title": n.title, "price_minor": n.price_minor,
            "currency": n.currency, "note": n.note, "updated_at": n.updated_at,
            **(terms or {}).get(n.ref, {})}


def _agreement_json(a: StoredAgreement, *, raw: bool = False) -> dict[str, Any]:
    out = {"id": a.id, "intent_id": a.intent_id, "buyer": a.buyer, "vendor": a.vendor,
           "price_minor": a.price_minor, "currency": a.currency, "created_at": a.created_at,
           "state": a.state}
    if raw:
        out["envelope_hex"] = a.raw.hex()
    return out


_WHERE = ("body", "query", "path", "header")
"""Where FastAPI found a bad value; the message names the field alone."""

STATUS: dict[Kind, int] = {
    Kind.NOT_FOUND: 404, Kind.CONFLICT: 409, Kind.INVALID: 422, Kind.FORBIDDEN: 403,
    Kind.UNAUTHENTICATED: 401, Kind.UNAVAILABLE: 503, Kind.PEER_FAILED: 502,
}
"""The one place an agent's error becomes an HTTP status."""


def _allowed(app: FastAPI, request: Request) -> str:
    """Every method the request's path takes (Starlette's Allow names the first route only)."""
    return ", ".join(sorted({
        method for route in app.router.routes if isinstance(route, APIRoute)
        and route.matches(request.scope)[0] is not Match.NONE for method in route.methods or ()
    }))


def create_app(
    agent: PersonAgent, token: str, status: Callable[[], dict[str, Any]],
    wait_for_topic: Callable[[str, int], Awaitable[None]] | None = None,
    network: Network | None = None,
) -> FastAPI:
    app = FastAPI(title="intentcast personal agent", version=API_VERSION,
                  description="The local API of a person's intentcast daemon.",
                  docs_url=None, redoc_url=None, responses=GUARD)
    sessions = Sessions()
    app.add_middleware(Guard, token=token, sessions=sessions)
    bearer = HTTPBearer(auto_error=False)

    async def person(  # async: FastAPI would run a plain def in a worker thread
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],  # for the document
    ) -> None:
        """The guard decided already; asked again here so no route is open without it."""
        server = request.scope.get("server")
        refused = refusal(request.headers, token, method=request.method,
                          port=server[1] if server else 0, sessions=sessions)
        if refused is not None:
            kind = Kind.UNAUTHENTICATED if refused.status == 401 else Kind.FORBIDDEN
            raise AgentError(kind, refused.message)

    @app.exception_handler(AgentError)
    async def agent_error(_: Request, exc: AgentError) -> JSONResponse:
        status = STATUS[exc.kind]
        return JSONResponse({"error": exc.message, "status": status}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message, headers = str(exc.detail), exc.headers
        if exc.status_code == 405:
            allowed = _allowed(app, request)
            headers = {"Allow": allowed}
            message = f"{request.method} is not allowed on {request.url.path[:128]}: use {allowed}"
        elif exc.status_code == 404 and message == "Not Found":
            message = f"no such path {request.url.path[:128]} (see /openapi.json)"
        return JSONResponse({"error": message, "status": exc.status_code},
                            status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        loc = err["loc"][1:] if err["loc"] and err["loc"][0] in _WHERE else err["loc"]
        where = ".".join(str(p) for p in loc) or "body"
        message = f"{where}: {err['msg']}".splitlines()[0]
        return JSONResponse({"error": message, "status": 422}, status_code=422)

    @app.exception_handler(Exception)
    async def failed(_: Request, exc: Exception) -> JSONResponse:
        # A bug of ours: Starlette re-raises it for Hypercorn to log; the client gets JSON.
        return JSONResponse({"error": "the daemon failed on this request; see its log",
                             "status": 500}, status_code=500)

    guarded = [Depends(person)]

    @app.get("/v1/status", dependencies=guarded)
    async def get_status() -> dict[str, Any]:
        return {**status(), "intents": len(agent.store.intents()),
                "agreements": len(agent.store.agreements())}

    @app.post("/v1/intents", dependencies=guarded, status_code=201,
              responses=errors(409, 422))
    async def post_intent(body: PostIntent) -> dict[str, Any]:
        max_price = minor_units(body.max_price, body.currency)
        intent = await agent.post_intent(IntentRequest(
            category=body.category, description=body.description, max_price=max_price,
            currency=body.currency, quantity=body.quantity, country=body.country,
            postcode_prefix=body.postcode_prefix, disclosed=dict(body.disclosed),
            expires_in=body.expires_in, terms=body.terms or DEFAULT_TERMS,
            assistant=body.assistant,
        ))
        return _intent_json(intent, agent.heard_by(intent.id))

    @app.get("/v1/intents", dependencies=guarded)
    async def list_intents() -> list[dict[str, Any]]:
        return [_intent_json(agent.intent(i.id), agent.heard_by(i.id))
                for i in agent.store.intents()]

    @app.get("/v1/intents/{intent_id}", dependencies=guarded, responses=errors(404, 422))
    async def get_intent(intent_id: str) -> dict[str, Any]:
        intent = agent.intent(intent_id)
        terms = offer_terms(agent, intent_id)
        offers = [_offer_json(o, terms) for o in agent.offers(intent_id)]
        return {**_intent_json(intent, agent.heard_by(intent.id)), **_asked(intent),
                "offers": offers, "envelope_hex": intent.raw.hex()}

    @app.post("/v1/intents/{intent_id}/withdraw", dependencies=guarded,
              responses=errors(404, 409, 422))
    async def withdraw(intent_id: str, body: PostReason | None = None) -> dict[str, Any]:
        await agent.withdraw(intent_id, (body or PostReason()).reason)
        return _intent_json(agent.intent(intent_id), agent.heard_by(intent_id))

    @app.get("/v1/intents/{intent_id}/offers", dependencies=guarded,
             responses=errors(404, 422))
    async def offers(intent_id: str, wait: Wait = 0.0, count: Count = 1
                     ) -> list[dict[str, Any]]:
        """With `wait` (seconds, up to 60), hold the answer until `count` offers are in."""
        found = agent.offers(intent_id)
        if wait:
            with trio.move_on_after(wait):
                found = await agent.wait_for_offers(intent_id, count)
        terms = offer_terms(agent, intent_id)
        return [_offer_json(o, terms) for o in found]

    @app.post("/v1/offers/{ref}/counter", dependencies=guarded,
              responses=errors(404, 409, 422))
    async def counter(ref: str, body: PostCounter) -> dict[str, Any]:
        current = agent.store.negotiation(ref)
        if current is None:
            raise AgentError(Kind.NOT_FOUND, f"no offer {ref}")
        try:
            price = parse_amount(body.price, current.currency)
        except ValueError as exc:
            raise AgentError(Kind.INVALID, f"price: {exc}") from exc
        return _offer_json(await agent.counter(ref, price, body.note))

    @app.post("/v1/offers/{ref}/accept", dependencies=guarded,
              responses={**errors(404, 409, 422, 502), 202: {
                  "description": "signed by both, but the vendor has not yet acknowledged "
                                 "storing it: `state` is `pending` and the daemon keeps "
                                 "delivering it"}})
    async def accept(ref: str) -> JSONResponse:
        """Returns once the vendor acknowledged storing the agreement (200, `agreed`), or
        after the step timeout with the acknowledgement still owed (202, `pending`)."""
        agreement = await agent.accept(ref)
        return JSONResponse(_agreement_json(agreement, raw=True),
                            status_code=200 if agreement.state == "agreed" else 202)

    @app.post("/v1/offers/{ref}/reject", dependencies=guarded,
              responses=errors(404, 409, 422))
    async def reject(ref: str, body: PostReason | None = None) -> dict[str, Any]:
        return _offer_json(await agent.reject(ref, (body or PostReason()).reason))

    @app.get("/v1/agreements", dependencies=guarded)
    async def agreements() -> list[dict[str, Any]]:
        return [_agreement_json(a) for a in agent.store.agreements()]

    @app.get("/v1/agreements/{agreement_id}", dependencies=guarded,
             responses=errors(404, 422))
    async def agreement(agreement_id: str) -> dict[str, Any]:
        found = agent.store.agreement(agreement_id)
        if found is None:
            raise AgentError(Kind.NOT_FOUND, f"no agreement {agreement_id}")
        return _agreement_json(found, raw=True)

    @app.get("/v1/peers", dependencies=guarded, responses=errors(422))
    async def peers(topic: Annotated[str | None, Query(max_length=256)] = None,
                    count: Count = 1, wait: Wait = 0.0) -> dict[str, Any]:
        """With `topic` and `wait`, hold the answer until `count` peers subscribe to it."""
        if topic is not None and wait and wait_for_topic is not None:
            with trio.move_on_after(wait):
                await wait_for_topic(topic, count)
        current = status()
        return {"peers": current.get("peers", []), "topics": current.get("topics", {})}

    add_assistant_routes(app, agent, guarded, status)
    add_data_routes(app, agent, guarded)
    add_event_routes(app, agent, guarded)
    add_offer_routes(app, agent, guarded)
    add_record_routes(app, agent, guarded)
    add_web_routes(app, guarded, sessions)
    add_network_routes(app, network, guarded)
    return app
