"""The page's login and the guard around it: a one-time link, an HttpOnly SameSite=Strict
cookie that opens nothing without its request token, no change from a foreign Origin, no
CORS, the Host check before everything, /docs off and /openapi.json guarded, and the page's
own files public but locked to our scripts by their Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import pytest
import trio
from agent_harness import Market, build

from intentcast.agents.person.api import sessions as sessions_module
from intentcast.agents.person.api.app import create_app
from intentcast.agents.person.api.sessions import CODE_TTL, SESSION_TTL, Sessions, cookie_name

TOKEN = "secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PORT = 8080
BASE = f"http://127.0.0.1:{PORT}"
OURS = {"Origin": BASE}
COOKIE = cookie_name(PORT)
INTENT = {"category": "outdoor.camping.tents", "description": "a tent"}


@pytest.fixture
async def app(tmp_path, autojump) -> AsyncIterator:
    async with trio.open_nursery() as nursery:
        market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
        build(market, tmp_path, [])
        yield create_app(market.person, TOKEN, lambda: {"peers": [], "topics": {}})
        nursery.cancel_scope.cancel()


def client(app, base: str = BASE) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def code(http: httpx.AsyncClient) -> str:
    link = await http.post("/v1/login-links", headers=AUTH)
    assert link.status_code == 201, link.text
    url = link.json()["url"]
    assert url.startswith(f"{BASE}/#login=")  # in the fragment: never sent in a request line
    return url.rpartition("#login=")[2]


async def log_in(http: httpx.AsyncClient) -> str:
    """Log `http` in as the page does; the request token."""
    answer = await http.post("/v1/session", headers=OURS, json={"code": await code(http)})
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


async def test_a_login_link_needs_the_token_and_works_once(app):
    async with client(app) as http:
        assert (await http.post("/v1/login-links")).status_code == 401
        one = await code(http)
        opened = await http.post("/v1/session", headers=OURS, json={"code": one})
        assert opened.status_code == 200
        cookie = SimpleCookie(opened.headers["set-cookie"])[COOKIE]
        assert cookie["httponly"] is True
        assert cookie["samesite"].lower() == "strict"
        assert cookie["path"] == "/"
        assert int(cookie["max-age"]) == SESSION_TTL
        again = await http.post("/v1/session", headers=OURS, json={"code": one})
        assert again.status_code == 401
        assert "intentcast open" in again.json()["error"]
        for wrong in ("", "x" * 129, "not-a-code"):
            refused = await http.post("/v1/session", headers=OURS, json={"code": wrong})
            assert refused.status_code in (401, 422)


async def test_a_login_is_taken_only_from_the_page_itself(app):
    async with client(app) as http:
        one = await code(http)
        for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Origin": f"http://127.0.0.1:{PORT + 1}"}):
            refused = await http.post("/v1/session", headers=headers, json={"code": one})
            assert refused.status_code == 403, headers
            assert "set-cookie" not in refused.headers
        assert (await http.post("/v1/session", headers=OURS, json={"code": one})).status_code == 200


async def test_the_cookie_alone_opens_nothing(app):
    async with client(app) as http:
        token = await log_in(http)
        assert http.cookies.get(COOKIE)
        alone = await http.get("/v1/intents")
        assert alone.status_code == 403
        assert "X-CSRF-Token" in alone.json()["error"]
        wrong = await http.get("/v1/intents", headers={"X-CSRF-Token": token + "x"})
        assert wrong.status_code == 403
        assert (await http.get("/v1/intents", headers={"X-CSRF-Token": token})).status_code == 200
    async with client(app) as stranger:  # the request token without the cookie
        refused = await stranger.get("/v1/intents", headers={"X-CSRF-Token": token})
        assert refused.status_code == 401


async def test_a_change_with_the_session_needs_our_origin_and_the_token(app):
    async with client(app) as http:
        token = await log_in(http)
        with_token = {"X-CSRF-Token": token}
        for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"}):
            refused = await http.post("/v1/intents", headers={**with_token, **headers},
                                      json=INTENT)
            assert refused.status_code == 403, headers
        assert (await http.post("/v1/intents", headers=OURS, json=INTENT)).status_code == 403
        made = await http.post("/v1/intents", headers={**with_token, **OURS}, json=INTENT)
        assert made.status_code == 201
        for origin in ("http://localhost:8080", "http://[::1]:8080"):  # our other names
            again = await http.post("/v1/intents", headers={**with_token, "Origin": origin},
                                    json=INTENT)
            assert again.status_code == 201


async def test_a_foreign_origin_changes_nothing_even_with_the_token(app):
    async with client(app) as http:
        refused = await http.post("/v1/intents", headers={**AUTH, "Origin": "http://evil.example"},
                                  json=INTENT)
        assert refused.status_code == 403
        assert "evil.example" in refused.json()["error"]
        assert (await http.get("/v1/intents", headers=AUTH)).json() == []
        # Scripts send no Origin: the token alone still works for them.
        assert (await http.post("/v1/intents", headers=AUTH, json=INTENT)).status_code == 201


async def test_there_is_no_cors(app):
    async with client(app) as http:
        preflight = await http.request("OPTIONS", "/v1/intents", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-csrf-token"})
        assert preflight.status_code == 403
        read = await http.get("/v1/intents", headers={**AUTH, "Origin": "http://evil.example"})
        assert read.status_code == 200  # answered, but no browser page of evil.example may read it
        for answer in (preflight, read):
            assert not [h for h in answer.headers if h.lower().startswith("access-control-")]


async def test_a_foreign_host_is_refused_before_any_session(app):
    async with client(app) as http:
        token = await log_in(http)
    async with client(app, "http://rebound.example:8080") as rebound:
        rebound.cookies.set(COOKIE, http.cookies[COOKIE])
        for path in ("/", "/page/app.js", "/v1/intents"):
            answer = await rebound.get(path, headers={"X-CSRF-Token": token})
            assert answer.status_code == 421, path


async def test_a_session_cookie_is_ours_only_on_our_port(app):
    async with client(app) as http:
        token = await log_in(http)
        value = http.cookies[COOKIE]
    async with client(app) as other:
        other.cookies.set(cookie_name(PORT + 1), value)  # another daemon's cookie name
        assert (await other.get("/v1/intents", headers={"X-CSRF-Token": token})).status_code == 401


async def test_docs_are_off_and_the_document_is_behind_the_guard(app):
    async with client(app) as http:
        token = await log_in(http)
        page = {"X-CSRF-Token": token}
        for path in ("/docs", "/redoc"):
            assert (await http.get(path, headers=page)).status_code == 404
        assert (await http.get("/openapi.json")).status_code == 403  # the cookie alone
        document = await http.get("/openapi.json", headers=page)
        assert document.status_code == 200
        paths = document.json()["paths"]
        assert {"/v1/events", "/v1/session", "/v1/login-links", "/v1/offers/{ref}/preview",
                "/v1/audit", "/v1/audit/verify", "/v1/agreements/{agreement_id}/terms",
                "/v1/page"} <= set(paths)
        assert "/" not in paths  # the page's files are not API


async def test_the_page_is_public_and_its_headers_keep_it_to_itself(app):
    async with client(app) as http:
        index = await http.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"] == "text/html; charset=utf-8"
        assert '<script type="module" src="/page/app.js">' in index.text
        csp = index.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp
        script = await http.get("/page/app.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        style = await http.get("/page/style.css")
        assert style.headers["content-type"] == "text/css; charset=utf-8"
        for answer in (index, script, await http.get("/v1/status", headers=AUTH)):
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["referrer-policy"] == "no-referrer"
            assert answer.headers["cache-control"] == "no-store"
        for path in ("/page/../api-token", "/page/nothing.js", "/page/"):
            assert (await http.get(path)).status_code in (401, 404), path
        assert (await http.post("/page/app.js")).status_code == 401  # only reads are public


async def test_logging_out_ends_the_session(app):
    async with client(app) as http:
        token = await log_in(http)
        page = {"X-CSRF-Token": token}
        value = http.cookies[COOKIE]
        out = await http.delete("/v1/session", headers={**page, **OURS})
        assert out.status_code == 200
        http.cookies.set(COOKIE, value)  # a copy kept by someone: worth nothing now
        assert (await http.get("/v1/intents", headers=page)).status_code == 401


def test_codes_and_sessions_expire_and_are_bounded(monkeypatch):
    now = [1_000.0]
    sessions = Sessions(clock=lambda: now[0])
    late, _ = sessions.new_code()
    now[0] += CODE_TTL
    assert sessions.redeem(late) is None
    codes = [sessions.new_code()[0] for _ in range(sessions_module.MAX_CODES + 1)]
    assert sessions.redeem(codes[0]) is None  # the oldest gave way
    opened = sessions.redeem(codes[-1])
    assert opened is not None
    assert sessions.find(opened.cookie) == opened.session
    now[0] += SESSION_TTL
    assert sessions.find(opened.cookie) is None
    cookies = []
    for _ in range(sessions_module.MAX_SESSIONS + 1):
        found = sessions.redeem(sessions.new_code()[0])
        assert found is not None
        cookies.append(found.cookie)
    assert len(sessions) == sessions_module.MAX_SESSIONS
    assert sessions.find(cookies[0]) is None
    assert sessions.find(cookies[-1]) is not None
