"""The daemon's local API, in process: auth, validation, and a whole deal through HTTP."""

from __future__ import annotations

import httpx
import pytest
import trio
import trio.testing
from agent_harness import Market, build

from intentcast.agents.person.api.app import create_app

TOKEN = "secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8080")


async def _app(nursery, tmp_path, catalogs):
    market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
    build(market, tmp_path, catalogs)
    status = {"peer_id": market.peer_id, "addrs": market.multiaddrs(), "peers": []}
    return market, create_app(market.person, TOKEN, lambda: status)


@pytest.mark.trio
async def test_a_deal_through_the_api(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        _market, app = await _app(nursery, tmp_path, ["trailhead.toml"])
        async with client(app) as http:
            posted = await http.post("/v1/intents", headers=AUTH, json={
                "category": "outdoor.camping.tents", "description": "a backpacking tent",
                "max_price": "200.00", "currency": "EUR", "country": "DE",
                "disclosed": {"size": "2 persons"},
            })
            assert posted.status_code == 201, posted.text
            intent_id = posted.json()["id"]
            offers = await http.get(f"/v1/intents/{intent_id}/offers", headers=AUTH,
                                    params={"wait": 5, "count": 1})
            (offer,) = offers.json()
            assert offer["price_minor"] == 20_000
            countered = await http.post(f"/v1/offers/{offer['ref']}/counter", headers=AUTH,
                                        json={"price": "180"})
            assert countered.json()["price_minor"] == 19_000
            accepted = await http.post(f"/v1/offers/{offer['ref']}/accept", headers=AUTH)
            assert accepted.status_code == 200, accepted.text
            agreement = accepted.json()
            listed = (await http.get("/v1/agreements", headers=AUTH)).json()
            assert [a["id"] for a in listed] == [agreement["id"]]
            one = (await http.get(f"/v1/agreements/{agreement['id']}", headers=AUTH)).json()
            assert bytes.fromhex(one["envelope_hex"])
            status = (await http.get("/v1/status", headers=AUTH)).json()
            assert (status["intents"], status["agreements"]) == (1, 1)
        nursery.cancel_scope.cancel()


@pytest.mark.trio
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic c2VjcmV0LXRva2Vu"}])
async def test_every_route_needs_the_token(tmp_path, headers, autojump):
    async with trio.open_nursery() as nursery:
        _, app = await _app(nursery, tmp_path, [])
        async with client(app) as http:
            for method, path in [("GET", "/v1/status"), ("GET", "/v1/intents"),
                                 ("POST", "/v1/intents"), ("GET", "/v1/agreements")]:
                response = await http.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (method, path)
                assert "token" in response.json()["error"]
        nursery.cancel_scope.cancel()


@pytest.mark.trio
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"description": "x"}, "category"),
        ({"category": "outdoor", "description": "x", "max_price": "12.5.0"}, "max_price"),
        ({"category": "outdoor", "description": "x", "max_price": 12.5}, "max_price"),
        ({"category": "outdoor", "description": "x", "max_price": "1.999"}, "decimal places"),
        ({"category": "outdoor", "description": "x", "currency": "XYZ"}, "ISO 4217"),
        ({"category": "outdoor", "description": "x", "quantity": 0}, "quantity"),
        ({"category": "outdoor", "description": "x", "expires_in": 5}, "expires_in"),
        ({"category": "outdoor", "description": "x", "colour": "red"}, "colour"),
        ({"category": "Outdoor Things", "description": "x"}, "category"),
        ({"category": "outdoor", "description": "x", "disclosed": {"Bad Name": "v"}},
         "disclosed"),
    ],
)
async def test_malformed_requests_get_422_with_a_reason(tmp_path, body, fragment, autojump):
    async with trio.open_nursery() as nursery:
        market, app = await _app(nursery, tmp_path, [])
        async with client(app) as http:
            response = await http.post("/v1/intents", headers=AUTH, json=body)
            assert response.status_code == 422
            assert fragment in response.json()["error"]
            assert "\n" not in response.json()["error"]
            garbage = await http.post("/v1/intents", headers={**AUTH, "content-type":
                                      "application/json"}, content=b"\xff{not json")
            assert garbage.status_code in (400, 422)
            assert garbage.json()["error"]
        assert market.person.store.intents() == []
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_unknown_things_are_404_and_bad_waits_422(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        _, app = await _app(nursery, tmp_path, [])
        async with client(app) as http:
            for path in ["/v1/intents/nope-nope-nope", "/v1/agreements/nope-nope-nope"]:
                assert (await http.get(path, headers=AUTH)).status_code == 404
            missing = await http.post("/v1/offers/abcdef/accept", headers=AUTH)
            assert missing.status_code == 404
            posted = await http.post("/v1/intents", headers=AUTH, json={
                "category": "outdoor", "description": "anything"})
            intent_id = posted.json()["id"]
            bad = await http.get(f"/v1/intents/{intent_id}/offers", headers=AUTH,
                                 params={"wait": 1000})
            assert bad.status_code == 422
        nursery.cancel_scope.cancel()


def test_the_checked_in_openapi_document_matches_the_code():
    import importlib.util

    from vector_files import ROOT

    spec = importlib.util.spec_from_file_location("make_openapi", ROOT / "scripts/make_openapi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    on_disk = (ROOT / "specs" / "openapi.json").read_text("utf-8")
    assert on_disk == module.document(), "specs/openapi.json is stale: run make vectors"


@pytest.mark.trio
async def test_profile_attributes_are_sealed_and_audited_without_their_value(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market, app = await _app(nursery, tmp_path, ["trailhead.toml"])
        async with client(app) as http:
            put = await http.put("/v1/profile/shipping_address", headers=AUTH,
                                 json={"value": "Hauptstr. 1, 10115 Berlin"})
            assert put.status_code == 200, put.text
            got = await http.get("/v1/profile/shipping_address", headers=AUTH)
            assert got.json()["value"] == "Hauptstr. 1, 10115 Berlin"
            assert (await http.get("/v1/profile", headers=AUTH)).json() == ["shipping_address"]
            bad = await http.put("/v1/profile/Bad-Name", headers=AUTH, json={"value": "x"})
            assert bad.status_code == 422
            assert (await http.get("/v1/profile/email", headers=AUTH)).status_code == 404
            empty = await http.put("/v1/profile/email", headers=AUTH, json={"value": ""})
            assert empty.status_code == 422
        store = market.person.store
        sealed = store.db.execute("SELECT sealed FROM attributes").fetchone()[0]
        assert b"Hauptstr" not in sealed
        from intentcast.agents.store import audit

        (entry,) = audit.entries(store.db, kind="attribute_set")
        assert entry.data == {"name": "shipping_address"}
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_the_cart_travels_as_one_intent_to_every_matching_vendor(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market, app = await _app(nursery, tmp_path, ["trailhead.toml"])
        async with client(app) as http:
            async def add(category: str, description: str, cap: str) -> dict:
                added = await http.post("/v1/cart", headers=AUTH, json={
                    "category": category, "description": description, "max_price": cap})
                assert added.status_code == 201, added.text
                return added.json()

            empty = await http.post("/v1/cart/intent", headers=AUTH, json={})
            assert empty.status_code == 409
            tent = await add("outdoor.camping.tents", "two-person tent", "200.00")
            await add("outdoor.camping.sleeping-bags", "down sleeping bag", "150.00")
            kettle = await add("kitchen.kettles", "a kettle", "40")
            spans = await http.post("/v1/cart/intent", headers=AUTH, json={})
            assert spans.status_code == 422
            assert "several top-level categories" in spans.json()["error"]
            removed = await http.delete(f"/v1/cart/{kettle['id']}", headers=AUTH)
            assert removed.status_code == 200
            left = [i["id"] for i in (await http.get("/v1/cart", headers=AUTH)).json()]
            assert left == [tent["id"], left[1]]
            assert kettle["id"] not in left
            posted = await http.post("/v1/cart/intent", headers=AUTH, json={"country": "DE"})
            assert posted.status_code == 201, posted.text
            intent = posted.json()
            assert intent["category"] == "outdoor.camping"
            assert intent["description"] == "1 x two-person tent; 1 x down sleeping bag"
            stored = market.person.store.intent(intent["id"])
            from intentcast.protocol import cose, envelope

            sent = envelope.parse_message(cose.parse(stored.raw).payload)
            assert sent.constraints.max_price.amount == 35_000
            offers = await http.get(f"/v1/intents/{intent['id']}/offers", headers=AUTH,
                                    params={"wait": 5, "count": 1})
            assert len(offers.json()) == 1  # the vendor answered the cart it was shown
            assert (await http.get("/v1/cart", headers=AUTH)).json() == []
        nursery.cancel_scope.cancel()
