"""The local API's guard: pure ASGI, in front of FastAPI, deciding before any body is read.

In order: the `Host` must be one of the daemon's own loopback names and port (a web page
that rebinds its DNS name to 127.0.0.1 still sends its own name); the request must speak
for the person (`authorised`, the one auth decision: the bearer token, or the page's
session cookie with its request token, and never a change from a foreign `Origin`); a
declared body must fit `MAX_BODY`; then the body is read, counting bytes, and a streamed
body past the limit is cut off. Only then does FastAPI see the request, with the body
already in hand. The page itself (`/` and its files under `/page/`) is public: it holds no
data, and asks for everything through the API like any client.

Every refusal is the API's JSON error, `{"error": "...", "status": N}`. Every answer
carries headers that keep it to this origin: a Content-Security-Policy that allows only
our own scripts and styles and no framing, `nosniff`, no Referer, no caching. There are
no CORS headers at all, so no other origin can read an answer.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import cookie_parser

from intentcast.agents.person.api.sessions import TOKEN_HEADER, Sessions, cookie_name

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 64 * 1024
"""The largest request body the API reads, in bytes; the largest JSON body it takes is a
few KiB (an intent with its terms and 32 disclosed fields). Larger is a 413."""

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
TOKEN_HINT = "missing or wrong bearer token (see the api-token file)"


SAFE_METHODS = frozenset({"GET", "HEAD"})
"""Methods that change nothing; every other one is a change (OPTIONS included: there is no
CORS here, so a preflight from elsewhere is refused like the request it announces)."""
PAGE_PATHS = frozenset({"/"})
PAGE_PREFIX = "/page/"
LOGIN_PATH = "/v1/session"


def authorised(headers: Headers, token: str, *, method: str = "GET", port: int = 0,
               sessions: Sessions | None = None) -> bool:
    """Whether a request speaks for the person: the one place that decides
    (`refusal` says why not)."""
    return refusal(headers, token, method=method, port=port, sessions=sessions) is None


def refusal(headers: Headers, token: str, *, method: str = "GET", port: int = 0,
            sessions: Sessions | None = None) -> Refusal | None:
    """None when the request speaks for the person; else what to answer.

    Two credentials: the bearer token of the api-token file (the CLI, scripts), compared
    in constant time; or the page's session, which takes both its HttpOnly cookie and its
    request token in `X-CSRF-Token` (a cookie alone opens nothing: browsers send it to
    every port of the host). A change (any method but GET and HEAD) from a foreign
    `Origin` is refused whatever it carries; a change made with the session must name
    our own `Origin`, as browsers do.
    """
    changes = method.upper() not in SAFE_METHODS
    origin = headers.get("origin")
    if changes and origin is not None and origin.lower() not in own_origins(port):
        return foreign_origin(origin, port)
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secrets.compare_digest(
            given.strip().encode(), token.encode()):
        return None
    cookies = cookie_parser(headers.get("cookie", ""))
    session = sessions.find(cookies.get(cookie_name(port))) if sessions is not None else None
    if session is None:
        return Refusal(401, TOKEN_HINT, ((b"www-authenticate", b"Bearer"),))
    if not secrets.compare_digest(headers.get(TOKEN_HEADER, "").encode(),
                                  session.token.encode()):
        return Refusal(403, "the page's request token (X-CSRF-Token) is missing or wrong: "
                            "reload the page")
    if changes and origin is None:
        return Refusal(403, "a change made with the page's session must carry the page's "
                            "Origin")
    return None


def foreign_origin(origin: str, port: int) -> Refusal:
    return Refusal(403, f"Origin {origin[:64]!r} is not this daemon's page "
                        f"(http://127.0.0.1:{port}): no change is taken from another site")


def own_origins(port: int) -> frozenset[str]:
    """The `Origin` values of the daemon's own page."""
    return frozenset(f"http://{host}" for host in allowed_hosts(port))


def is_page(method: str, path: str) -> bool:
    """The page and its files: public, since they hold no data."""
    return method in SAFE_METHODS and (
        path in PAGE_PATHS or (path.startswith(PAGE_PREFIX) and ".." not in path))


def allowed_hosts(port: int) -> frozenset[str]:
    """The `Host` values that name this daemon's API (bare names only on the default port)."""
    names = {f"{name}:{port}" for name in LOOPBACK_NAMES}
    return frozenset(names | set(LOOPBACK_NAMES) if port == 80 else names)


class Refusal(Exception):
    """A request the guard answers itself; the message says what to fix."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()
                 ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class Guard:
    """Host, token and size checks around an ASGI app (FastAPI's `add_middleware` puts it
    in front of routing, so nothing of a request is parsed before it passes)."""

    def __init__(self, app: ASGIApp, *, token: str, sessions: Sessions | None = None,
                 max_body: int = MAX_BODY) -> None:
        self.app = app
        self.token = token
        self.sessions = sessions
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # the API has no websockets: refuse the handshake
            await send({"type": "websocket.close", "code": 1008})
            return
        send = secured(send)
        try:
            self.check(scope, Headers(scope=scope))
            body = await self.read_body(receive)
        except Refusal as refused:
            await refuse(send, refused)
            return
        if body is None:  # the client left mid-body; there is no one to answer
            return
        await self.app(scope, replay(body, receive), send)

    def check(self, scope: Scope, headers: Headers) -> None:
        """Everything decided from the request line and headers alone."""
        server = scope.get("server")
        port = server[1] if server else None
        hosts = headers.getlist("host")
        if port is None or len(hosts) != 1 or hosts[0].lower() not in allowed_hosts(port):
            shown = repr(hosts[0][:64]) if len(hosts) == 1 else f"{len(hosts)} Host headers"
            raise Refusal(421, f"Host {shown} is not this API: it answers to 127.0.0.1:{port}, "
                               f"localhost:{port} or [::1]:{port} only")
        method, path = scope["method"], scope["path"]
        if method == "POST" and path == LOGIN_PATH:
            # The login: the one-time code is the credential; only our page may send it.
            origin = headers.get("origin")
            if origin is None or origin.lower() not in own_origins(port):
                raise foreign_origin(origin or "none", port)
        elif not is_page(method, path):
            refused = refusal(headers, self.token, method=method, port=port,
                              sessions=self.sessions)
            if refused is not None:
                raise refused
        declared = headers.getlist("content-length")
        if declared:
            if len(set(declared)) != 1 or not (declared[0].isascii() and declared[0].isdigit()):
                raise Refusal(400, "Content-Length: one whole number of bytes")
            if int(declared[0]) > self.max_body:
                raise Refusal(413, self.too_large())

    async def read_body(self, receive: Receive) -> bytes | None:
        """The whole body, counting as it streams in; a Refusal past the limit."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            part = bytes(message.get("body", b""))
            size += len(part)
            if size > self.max_body:
                raise Refusal(413, self.too_large())
            parts.append(part)
            if not message.get("more_body", False):
                return b"".join(parts)

    def too_large(self) -> str:
        return f"request body over {self.max_body} bytes: send a smaller JSON body"


def replay(body: bytes, receive: Receive) -> Receive:
    """The body read by the guard, as one message; then the client's own (a disconnect)."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)


def secured(send: Send) -> Send:
    """`send`, with the security headers added to every answer's start."""

    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {bytes(k).lower() for k, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []),
                                  *(h for h in SECURITY_HEADERS if h[0] not in present)]
        await send(message)

    return with_headers


def error_body(status: int, message: str) -> bytes:
    """The API's one error shape, as FastAPI's JSONResponse renders it."""
    return json.dumps({"error": message, "status": status}, separators=(",", ":")).encode()


async def refuse(send: Send, refusal: Refusal) -> None:
    body = error_body(refusal.status, refusal.message)
    await send({"type": "http.response.start", "status": refusal.status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *refusal.headers]})
    await send({"type": "http.response.body", "body": body})
