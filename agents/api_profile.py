"""The local API's profile routes: the person's attributes, sealed in their own store.

Values never leave the store but through a disclosure the person consents to;
the audit log records that an attribute changed, never its value.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

import re
from typing import Annotated, Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, StringConstraints

from . import audit
from .person import AgentError, PersonAgent

NAME = r"^[a-z][a-z0-9_]{0,31}$"


class PutAttribute(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


def add_routes(app: FastAPI, agent: PersonAgent, guarded: list[Any]) -> None:
    store = agent.store

    def checked(name: str) -> str:
        if not re.fullmatch(NAME, name):
            raise AgentError(422, f"{name!r}: a name like shipping_address (a-z, 0-9, _)")
        return name

    @app.get("/v1/profile", dependencies=guarded)
    async def list_attributes() -> list[str]:
        return store.attribute_names()

    @app.get("/v1/profile/{name}", dependencies=guarded)
    async def get_attribute(name: str) -> dict[str, Any]:
        value = store.get_attribute(checked(name))
        if value is None:
            raise AgentError(404, f"no attribute {name}")
        return {"name": name, "value": value}

    @app.put("/v1/profile/{name}", dependencies=guarded)
    async def put_attribute(name: str, body: PutAttribute) -> dict[str, Any]:
        now = agent.now()
        with store.transaction() as db:
            store.set_attribute(checked(name), body.value, now=now)
            audit.append(db, at=now, kind="attribute_set", data={"name": name})
        return {"name": name, "value": body.value}
