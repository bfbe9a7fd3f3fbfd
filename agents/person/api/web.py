"""The person's own page, served at `/`, and how a browser logs in to it.

The page is plain HTML, CSS and ES modules from agents/person/web/ (package data: an
installed wheel serves them too), read once and served from memory. It holds no data: it
asks the API for everything, with the session `intentcast open` gives it (api/sessions.py).

- `POST /v1/login-links` (token): a one-time login link, `http://127.0.0.1:PORT/#login=CODE`.
- `POST /v1/session` (the code, from the page's own Origin): the session cookie, HttpOnly and
  SameSite=Strict, and the request token the page sends with every request.
- `DELETE /v1/session`: log out.
- `GET /v1/page`: what the page's forms offer (currencies, purposes, default terms).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from importlib import resources
from importlib.resources.abc import Traversable
from typing import Annotated, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.person.api.responses import errors
from intentcast.agents.person.api.sessions import (
    CODE_TTL,
    SESSION_TTL,
    Sessions,
    cookie_name,
)
from intentcast.agents.person.requests import DEFAULT_TERMS
from intentcast.protocol import EXPONENTS, Conflict, CustomerTerms

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
MAX_ASSET = 512 * 1024


class PostSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(min_length=1, max_length=128)]


def assets() -> dict[str, tuple[bytes, str]]:
    """Every file of the page, by the path it is served at, with its content type."""
    found: dict[str, tuple[bytes, str]] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
                continue
            suffix = "." + entry.name.rpartition(".")[2]
            if suffix in TYPES:
                data = entry.read_bytes()
                assert len(data) <= MAX_ASSET, entry.name
                found[f"{prefix}{entry.name}"] = (data, TYPES[suffix])

    walk(resources.files("intentcast.agents.person").joinpath("web"), "/page/")
    found["/"] = found.pop("/page/index.html")
    return found


def add_routes(app: FastAPI, guarded: list[Any], sessions: Sessions) -> None:
    served = assets()

    def page_file(path: str) -> Response:
        found = served.get(path)
        if found is None:
            raise AgentError(Kind.NOT_FOUND, f"no page file {path[:128]}")
        data, content_type = found
        return Response(data, media_type=content_type)

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return page_file("/")

    @app.get("/page/{name:path}", include_in_schema=False)
    async def asset(name: str) -> Response:
        return page_file(f"/page/{name}")

    @app.post("/v1/login-links", dependencies=guarded, status_code=201)
    async def login_link(request: Request) -> dict[str, Any]:
        """A link that logs a browser in to the page once, within a few minutes."""
        code, expires_at = sessions.new_code()
        host = request.headers.get("host", "127.0.0.1")
        return {"url": f"http://{host}/#login={code}", "expires_at": int(expires_at),
                "valid_for": CODE_TTL}

    @app.post("/v1/session", responses=errors(401, 403, 422))
    async def open_session(body: PostSession, request: Request) -> JSONResponse:
        """Exchange a login link's code for the page's session (only from the page)."""
        opened = sessions.redeem(body.code)
        if opened is None:
            raise AgentError(Kind.UNAUTHENTICATED, "this login link is used up or expired: run "
                             "`intentcast open` for a new one")
        answer = JSONResponse({"token": opened.session.token,
                               "expires_at": int(opened.session.expires_at)})
        port = request.scope["server"][1]
        answer.set_cookie(cookie_name(port), opened.cookie, max_age=SESSION_TTL, path="/",
                          httponly=True, samesite="strict")
        return answer

    @app.delete("/v1/session", dependencies=guarded)
    async def close_session(request: Request) -> JSONResponse:
        """Log the page out (with the bearer token there is no session: nothing happens)."""
        port = request.scope["server"][1]
        sessions.end(request.cookies.get(cookie_name(port)))
        answer = JSONResponse({"logged_out": True})
        answer.delete_cookie(cookie_name(port), path="/", httponly=True, samesite="strict")
        return answer

    @app.get("/v1/page", dependencies=guarded)
    async def vocabulary() -> dict[str, Any]:
        """What the page's forms offer: currencies (with their minor-unit exponents),
        purposes, the clauses of the person's terms and the default terms."""
        terms = CustomerTerms.model_json_schema()["properties"]
        return {"currencies": dict(sorted(EXPONENTS.items())),
                "purposes": terms["purposes"]["items"]["enum"],
                "clauses": Conflict.model_json_schema()["properties"]["clause"]["enum"],
                "max_retention_days": terms["retention_days"]["maximum"],
                "default_terms": DEFAULT_TERMS.model_dump()}
