"""The local API's data-rights routes: the person's profile and their consents.

Attribute values never leave the store but through a disclosure the person
consents to; the audit log records that an attribute changed, never its value.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Annotated, Any

from fastapi import FastAPI, Path
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.person.api.fields import (
    Amount,
    Category,
    Country,
    Currency,
    FieldName,
    PostcodePrefix,
    minor_units,
)
from intentcast.agents.person.api.responses import errors
from intentcast.agents.person.requests import request_from_cart
from intentcast.agents.store import audit, cart, consents, credits

_NAME: TypeAdapter[str] = TypeAdapter(FieldName)
ItemId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a cart item's id")]
"""SQLite's integers end at 2**63 - 1; past that is a 422, not an OverflowError."""


class PostCartItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Category
    description: Annotated[str, StringConstraints(min_length=1, max_length=280)]
    max_price: Amount | None = None
    currency: Currency = "EUR"
    quantity: Annotated[int, Field(ge=1, le=10_000)] = 1


class PostCartIntent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in: Annotated[int, Field(ge=60, le=30 * 86_400)] = 3600
    country: Country | None = None
    postcode_prefix: PostcodePrefix | None = None


class PutAttribute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


def add_routes(app: FastAPI, agent: PersonAgent, guarded: list[Any]) -> None:
    store = agent.store

    def checked(name: str) -> str:
        try:
            _NAME.validate_python(name)
        except ValidationError as exc:
            raise AgentError(Kind.INVALID, f"{name!r}: a name like shipping_address (a-z, 0-9, _)"
                             ) from exc
        return name

    @app.get("/v1/profile", dependencies=guarded)
    async def list_attributes() -> list[str]:
        return store.attribute_names()

    @app.get("/v1/profile/{name}", dependencies=guarded, responses=errors(404, 422))
    async def get_attribute(name: str) -> dict[str, Any]:
        value = store.get_attribute(checked(name))
        if value is None:
            raise AgentError(Kind.NOT_FOUND, f"no attribute {name}")
        return {"name": name, "value": value}

    @app.put("/v1/profile/{name}", dependencies=guarded, responses=errors(422))
    async def put_attribute(name: str, body: PutAttribute) -> dict[str, Any]:
        now = agent.now()
        with store.transaction() as db:
            store.set_attribute(checked(name), body.value, now=now)
            audit.append(db, at=now, kind="attribute_set", data={"name": name})
        return {"name": name, "value": body.value}

    @app.post("/v1/cart", dependencies=guarded, status_code=201, responses=errors(409, 422))
    async def add_to_cart(body: PostCartItem) -> dict[str, Any]:
        cap = minor_units(body.max_price, body.currency)
        item = cart.add(store, body.category, body.description, cap, body.currency,
                        body.quantity, now=agent.now())
        return item.__dict__

    @app.get("/v1/cart", dependencies=guarded)
    async def list_cart() -> list[dict[str, Any]]:
        return [i.__dict__ for i in cart.items(store)]

    # `:int`: digits only, so /v1/cart/intent is no DELETE path (its 405 says POST alone)
    @app.delete("/v1/cart/{item_id:int}", dependencies=guarded, responses=errors(404, 422))
    async def remove_from_cart(item_id: ItemId) -> dict[str, Any]:
        cart.remove(store, item_id)
        return {"removed": item_id}

    @app.post("/v1/cart/intent", dependencies=guarded, status_code=201,
              responses=errors(409, 422))
    async def intent_from_cart(body: PostCartIntent) -> dict[str, Any]:
        """Turn the whole cart into one intent; the cart is emptied once it is posted."""
        request = request_from_cart(store, expires_in=body.expires_in, country=body.country,
                                    postcode_prefix=body.postcode_prefix)
        posted = await agent.post_intent(request)
        cart.clear(store)
        return {"id": posted.id, "state": posted.state, "category": posted.category,
                "description": posted.description, "expires_at": posted.expires_at}

    @app.get("/v1/credits", dependencies=guarded)
    async def list_credits() -> list[dict[str, Any]]:
        """Loyalty credits held, each usable with its issuer only."""
        return [{"credit": c.digest.hex(), "vendor": c.vendor, "value_minor": c.value,
                 "currency": c.currency, "state": c.state, "ref": c.ref}
                for c in credits.all_(store)]

    @app.post("/v1/offers/{ref}/redeem", dependencies=guarded,
              responses=errors(404, 409, 422))
    async def redeem(ref: str) -> dict[str, Any]:
        """Present a credit from this offer's vendor; then counter at the lower price."""
        value = await agent.redeem(ref)
        return {"ref": ref, "value_minor": value}

    @app.get("/v1/consents", dependencies=guarded)
    async def list_consents() -> list[dict[str, Any]]:
        return [consent_json(c) for c in consents.all_(store)]

    @app.post("/v1/consents/{consent_id}/revoke", dependencies=guarded,
              responses=errors(404, 409, 422))
    async def revoke_consent(consent_id: str) -> dict[str, Any]:
        if agent.data is None:
            raise AgentError(Kind.CONFLICT, "this agent cannot reach vendors")
        return consent_json(await agent.data.revoke(consent_id))


def consent_json(c: consents.StoredConsent) -> dict[str, Any]:
    return {"id": c.id, "agreement_id": c.agreement_id, "vendor": c.party, "fields": c.fields,
            "purposes": c.purposes, "disclosed_at": c.received_at,
            "retain_until": c.retain_until, "state": c.state, "revoked_at": c.revoked_at,
            "deletion_receipt_hex": c.deletion.hex() if c.deletion else None}
