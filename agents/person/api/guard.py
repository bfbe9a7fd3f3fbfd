"""The local API's guard: pure ASGI, in front of FastAPI, deciding before any body is read.

In order: the `Host` must be one of the daemon's own loopback names and port (a web page
that rebinds its DNS name to 127.0.0.1 still sends its own name); the request must speak
for the person (`authorised`, the one auth decision); a declared body must fit `MAX_BODY`;
then the body is read, counting bytes, and a streamed body past the limit is cut off.
Only then does FastAPI see the request, with the body already in hand.

Every refusal is the API's JSON error, `{"error": "...", "status": N}`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers

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


def authorised(headers: Headers, token: str) -> bool:
    """Whether a request speaks for the person: the one place that decides.

    Today the one credential is the bearer token of the api-token file, compared in
    constant time. The person's page (a later change) adds a second here: a session
    cookie, accepted only with an `Origin` of our own for requests that change state.
    """
    scheme, _, given = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), token.encode())


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

    def __init__(self, app: ASGIApp, *, token: str, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # the API has no websockets: refuse the handshake
            await send({"type": "websocket.close", "code": 1008})
            return
        try:
            self.check(scope, Headers(scope=scope))
            body = await self.read_body(receive)
        except Refusal as refusal:
            await refuse(send, refusal)
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
        if not authorised(headers, self.token):
            raise Refusal(401, TOKEN_HINT, ((b"www-authenticate", b"Bearer"),))
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


def error_body(status: int, message: str) -> bytes:
    """The API's one error shape, as FastAPI's JSONResponse renders it."""
    return json.dumps({"error": message, "status": status}, separators=(",", ":")).encode()


async def refuse(send: Send, refusal: Refusal) -> None:
    body = error_body(refusal.status, refusal.message)
    await send({"type": "http.response.start", "status": refusal.status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        *refusal.headers]})
    await send({"type": "http.response.body", "body": body})
