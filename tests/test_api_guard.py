"""The API's guard in process: Host, token and size are decided before a body byte is read.

Two ways in: raw ASGI calls that count what the app receives (to show a refusal reads
nothing), and httpx against create_app, as a client sees it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio
from agent_harness import Market, build
from starlette.datastructures import Headers

from intentcast.agents.person.api.app import create_app
from intentcast.agents.person.api.guard import MAX_BODY, authorised

TOKEN = "secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE = "http://127.0.0.1:8080"


@pytest.fixture
async def app(tmp_path, autojump) -> AsyncIterator:
    async with trio.open_nursery() as nursery:
        market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
        build(market, tmp_path, [])
        status = {"peer_id": market.peer_id, "addrs": market.multiaddrs(), "peers": []}
        yield create_app(market.person, TOKEN, lambda: status)
        nursery.cancel_scope.cancel()


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


class Wire:
    """One request as the server hands it to the app; counts the body chunks read."""

    def __init__(self, chunks: list[bytes], *, last_more: bool = False) -> None:
        self.chunks = chunks
        self.last_more = last_more
        self.reads = 0
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        if self.reads >= len(self.chunks):
            await trio.sleep_forever()  # a client that never finishes its body
        self.reads += 1
        more = self.reads < len(self.chunks) or self.last_more
        return {"type": "http.request", "body": self.chunks[self.reads - 1], "more_body": more}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return self.sent[0]["status"]

    @property
    def error(self) -> dict:
        import json

        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


def scope(method: str = "GET", path: str = "/v1/status", *, host: str = "127.0.0.1:8080",
          headers: dict[str, str] | None = None,
          server: tuple[str, int] | None = ("127.0.0.1", 8080)) -> dict:
    raw = [(b"host", host.encode())] if host else []
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "headers": raw, "server": server,
            "client": ("127.0.0.1", 50000)}


async def call(app, request: dict, wire: Wire) -> Wire:
    await app(request, wire.receive, wire.send)
    return wire


def test_authorised_is_the_bearer_token_and_nothing_else():
    def ask(value: str | None) -> bool:
        return authorised(Headers({"authorization": value} if value is not None else {}), TOKEN)

    assert ask(f"Bearer {TOKEN}")
    assert ask(f"bearer {TOKEN}")  # the scheme is case-insensitive (RFC 9110 §11.1)
    for wrong in (None, "", "Bearer", "Bearer ", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN,
                  f"Bearer {TOKEN.upper()}", "Bearer \u00e9t\u00e9"):
        assert not ask(wrong), wrong


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1:8081",
                                  "127.0.0.1", "localhost", "127.0.0.2:8080", "0.0.0.0:8080", ""])
async def test_a_foreign_host_is_refused_before_the_token_and_the_body(app, host):
    wire = await call(app, scope("POST", "/v1/intents", host=host, headers=AUTH),
                      Wire([b"{}"]))
    assert wire.status == 421
    assert wire.reads == 0
    assert wire.error["status"] == 421
    assert "127.0.0.1:8080" in wire.error["error"]


async def test_two_host_headers_are_refused(app):
    request = scope(headers={**AUTH})
    request["headers"].append((b"host", b"127.0.0.1:8080"))
    assert (await call(app, request, Wire([b""]))).status == 421


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080",
                                  "[::1]:8080"])
async def test_the_daemons_own_names_are_served(app, host):
    wire = await call(app, scope(host=host, headers=AUTH), Wire([b""]))
    assert wire.status == 200


async def test_on_port_80_the_bare_names_are_the_same_host(app):
    request = scope(host="localhost", headers=AUTH, server=("127.0.0.1", 80))
    assert (await call(app, request, Wire([b""]))).status == 200


async def test_no_token_is_a_401_and_no_body_byte_is_read(app):
    big = b"{" * 8192
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": "Basic c2VjcmV0LXRva2Vu"}):
        wire = await call(app, scope("POST", "/v1/intents", headers={
            **headers, "content-type": "application/json", "content-length": "100000000"}),
            Wire([big] * 4, last_more=True))
        assert wire.status == 401
        assert wire.reads == 0
        assert "token" in wire.error["error"]
        assert (b"www-authenticate", b"Bearer") in wire.sent[0]["headers"]


async def test_a_declared_body_over_the_limit_is_a_413_unread(app):
    wire = await call(app, scope("POST", "/v1/cart", headers={
        **AUTH, "content-length": str(MAX_BODY + 1)}), Wire([b"{"] * 3, last_more=True))
    assert wire.status == 413
    assert wire.reads == 0
    assert str(MAX_BODY) in wire.error["error"]


async def test_a_streamed_body_is_cut_off_at_the_limit(app):
    chunk = b" " * 16384
    wire = await call(app, scope("POST", "/v1/cart", headers=AUTH),
                      Wire([chunk] * 100, last_more=True))
    assert wire.status == 413
    assert wire.reads == MAX_BODY // len(chunk) + 1  # not one chunk more
    assert wire.error == {"error": wire.error["error"], "status": 413}


async def test_a_body_at_the_limit_reaches_the_app(app):
    body = b'{"category": "outdoor", "description": "x", "colour": "' + b"r" * (MAX_BODY - 80)
    body += b'"}'.rjust(MAX_BODY - len(body), b" ")
    assert len(body) == MAX_BODY
    async with client(app) as http:
        answer = await http.post("/v1/cart", headers={**AUTH, "content-type": "application/json"},
                                 content=body)
    assert answer.status_code == 422  # parsed: FastAPI names the stray field
    assert "colour" in answer.json()["error"]


@pytest.mark.parametrize("value", ["12a", "-1", "1e3", "\u0661\u0662", " "])
async def test_a_content_length_that_is_not_a_number_is_a_400(app, value):
    wire = await call(app, scope("POST", "/v1/cart", headers={**AUTH, "content-length": value}),
                      Wire([b"{}"]))
    assert wire.status == 400
    assert wire.reads == 0


async def test_a_websocket_is_refused(app):
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app({**scope(headers=AUTH), "type": "websocket", "path": "/"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_docs_are_off_and_the_document_is_behind_the_token(app):
    async with client(app) as http:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect", "/nowhere"):
            refused = await http.get(path)
            assert refused.status_code == 401, path
            assert refused.json()["status"] == 401
        assert (await http.get("/docs", headers=AUTH)).status_code == 404
        assert (await http.get("/redoc", headers=AUTH)).status_code == 404
        document = await http.get("/openapi.json", headers=AUTH)
        assert document.json()["components"]["schemas"]["Error"]["required"] == [
            "error", "status"]


@pytest.mark.parametrize(("method", "path", "field"), [
    ("DELETE", f"/v1/cart/{2**63}", "item_id"),
    ("DELETE", f"/v1/cart/{10**40}", "item_id"),
    ("DELETE", "/v1/cart/0", "item_id"),
    ("GET", "/v1/intents/x/offers?count=1001", "count"),
    ("GET", f"/v1/intents/x/offers?count={10**30}", "count"),
    ("GET", "/v1/intents/x/offers?count=-1", "count"),
    ("GET", "/v1/intents/x/offers?wait=60.5", "wait"),
    ("GET", "/v1/intents/x/offers?wait=1e400", "wait"),
    ("GET", "/v1/intents/x/offers?wait=nan", "wait"),
    ("GET", "/v1/intents/x/offers?wait=-inf", "wait"),
    ("GET", f"/v1/peers?count={2**64}", "count"),
    ("GET", "/v1/peers?wait=61", "wait"),
    ("GET", f"/v1/peers?topic={'t' * 257}", "topic"),
    ("GET", f"/v1/assistants/log?intent_id={'i' * 129}", "intent_id"),
])
async def test_numbers_out_of_range_are_a_422_with_one_line(app, method, path, field):
    async with client(app) as http:
        answer = await http.request(method, path, headers=AUTH)
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["status"] == 422
    assert error["error"].startswith(f"{field}: ")
    assert "\n" not in error["error"]


async def test_the_largest_cart_item_id_is_a_404_not_a_crash(app):
    async with client(app) as http:
        answer = await http.delete(f"/v1/cart/{2**63 - 1}", headers=AUTH)
        assert answer.status_code == 404
        assert answer.json() == {"error": f"no cart item {2**63 - 1}", "status": 404}
        for path in ("/v1/cart/-1", "/v1/cart/nope"):  # not an item's path at all
            answer = await http.delete(path, headers=AUTH)
            assert answer.json() == {"error": f"no such path {path} (see /openapi.json)",
                                     "status": 404}


async def test_a_wrong_method_names_every_method_the_path_takes(app):
    async with client(app) as http:
        cart = await http.request("OPTIONS", "/v1/cart", headers=AUTH)
        intent = await http.delete("/v1/cart/intent", headers=AUTH)
    assert cart.status_code == intent.status_code == 405
    assert cart.headers["allow"] == "GET, POST"
    assert cart.json()["error"] == "OPTIONS is not allowed on /v1/cart: use GET, POST"
    assert intent.headers["allow"] == "POST"
