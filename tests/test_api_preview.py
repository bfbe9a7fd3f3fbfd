"""What the page shows before and after an accept, from the API: each offer's data terms and
their conflicts, the preview of what accepting would disclose (checked against what the
disclosure then was), the agreement's verified signatures, and the audit log and its check.
"""

from __future__ import annotations

from contextlib import aclosing

import httpx
import trio
import trio.testing
from agent_harness import Market, build

from intentcast.agents.person.api.app import create_app
from intentcast.agents.person.data import PersonData
from intentcast.protocol.consent import DAY

TOKEN = "secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TENT = {"category": "outdoor.camping.tents", "description": "a backpacking tent",
        "max_price": "200.00", "currency": "EUR"}


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://127.0.0.1:8080")


async def _deal_table(nursery, tmp_path):
    """A person with an email but no shipping address, and both outdoor vendors' offers."""
    market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
    build(market, tmp_path, ["trailhead.toml", "bargainblast.toml"])
    person = market.person
    person.data = PersonData(person.store, person.master, market, clock=market.now)
    app = create_app(market.person, TOKEN, lambda: {"peers": [], "topics": {}})
    http = client(app)
    await http.put("/v1/profile/email", headers=AUTH, json={"value": "ada@example.org"})
    intent = (await http.post("/v1/intents", headers=AUTH, json=TENT)).json()
    offers = (await http.get(f"/v1/intents/{intent['id']}/offers", headers=AUTH,
                             params={"wait": 5, "count": 2})).json()
    await trio.testing.wait_all_tasks_blocked()
    offers = (await http.get(f"/v1/intents/{intent['id']}", headers=AUTH)).json()["offers"]
    fair = next(o for o in offers if o["sku"] == "TH-TENT-2")
    greedy = next(o for o in offers if o["sku"] == "BB-TENT-2")
    return market, http, fair, greedy


async def test_every_offer_shows_its_data_terms_and_conflicts(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        _, http, fair, greedy = await _deal_table(nursery, tmp_path)
        async with aclosing(http):
            assert [r["field"] for r in fair["data"]["requests"]] == ["email", "shipping_address"]
            assert fair["conflicts"] == []
            assert greedy["state"] == "rejected"  # refused at once, and still listed
            assert {c["clause"] for c in greedy["conflicts"]} == {
                "purposes", "retention_days", "no_profiling", "delete_on_revocation"}
            listed = (await http.get(f"/v1/intents/{fair['intent_id']}/offers",
                                     headers=AUTH)).json()
            assert {o["ref"]: o["conflicts"] for o in listed} == {
                fair["ref"]: [], greedy["ref"]: greedy["conflicts"]}
        nursery.cancel_scope.cancel()


async def test_the_preview_says_what_accepting_discloses_and_it_does(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market, http, fair, greedy = await _deal_table(nursery, tmp_path)
        async with aclosing(http):
            preview = (await http.get(f"/v1/offers/{fair['ref']}/preview", headers=AUTH)).json()
            now = market.person.now()
            assert preview["can_accept"] is True
            assert preview["disclosure"] == {"fields": ["email"], "purposes": ["receipt"],
                                             "retention_days": 30, "retain_until": now + 30 * DAY}
            assert preview["missing"] == ["shipping_address"]
            assert [r["held"] for r in preview["requests"]] == [True, False]
            (warning,) = preview["warnings"]
            assert warning.startswith("The vendor asks for your shipping address, which your "
                                      "profile does not hold: nothing will be sent for it.")
            accepted = await http.post(f"/v1/offers/{fair['ref']}/accept", headers=AUTH)
            assert accepted.status_code == 200
            await trio.testing.wait_all_tasks_blocked()
            (consent,) = (await http.get("/v1/consents", headers=AUTH)).json()
            assert consent["fields"] == preview["disclosure"]["fields"]
            assert consent["purposes"] == preview["disclosure"]["purposes"]
            assert consent["retain_until"] - preview["disclosure"]["retain_until"] < 60
            after = (await http.get(f"/v1/offers/{fair['ref']}/preview", headers=AUTH)).json()
            assert after["can_accept"] is False
            assert "cannot be accepted now: it is agreed" in after["warnings"][-1]
            refused = (await http.get(f"/v1/offers/{greedy['ref']}/preview",
                                      headers=AUTH)).json()
            assert refused["can_accept"] is False
            assert {c["clause"] for c in refused["conflicts"]} >= {"no_profiling"}
            assert (await http.get("/v1/offers/abcdef123456/preview",
                                   headers=AUTH)).status_code == 404
        nursery.cancel_scope.cancel()


async def test_an_empty_profile_is_told_it_discloses_nothing(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market, http, fair, _ = await _deal_table(nursery, tmp_path)
        async with aclosing(http):
            market.person.store.db.execute("DELETE FROM attributes")
            preview = (await http.get(f"/v1/offers/{fair['ref']}/preview", headers=AUTH)).json()
            assert preview["disclosure"] is None
            assert preview["missing"] == ["email", "shipping_address"]
            assert preview["warnings"][-1] == ("Your profile holds none of the data this vendor "
                                               "asks for: accepting discloses nothing.")
        nursery.cancel_scope.cancel()


async def test_an_agreement_shows_both_signatures_checked(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market, http, fair, _ = await _deal_table(nursery, tmp_path)
        async with aclosing(http):
            agreement = (await http.post(f"/v1/offers/{fair['ref']}/accept",
                                         headers=AUTH)).json()
            terms = (await http.get(f"/v1/agreements/{agreement['id']}/terms",
                                    headers=AUTH)).json()
            assert terms["signatures"]["valid"] is True
            assert {s["role"] for s in terms["signatures"]["signers"]} == {"vendor", "you"}
            assert terms["price"] == {"amount": 20_000, "currency": "EUR"}
            assert terms["customer_terms"]["purposes"] == ["delivery", "receipt"]
            assert terms["state"] == "agreed"
            raw = bytearray(market.person.store.agreement(agreement["id"]).raw)
            raw[-1] ^= 1  # the last signature byte
            market.person.store.db.execute("UPDATE agreements SET raw = ? WHERE id = ?",
                                           (bytes(raw), agreement["id"]))
            broken = (await http.get(f"/v1/agreements/{agreement['id']}/terms",
                                     headers=AUTH)).json()
            assert broken["signatures"]["valid"] is False
            assert broken["signatures"]["reason"] == "bad_signature"
        nursery.cancel_scope.cancel()


async def test_the_audit_log_and_its_check(tmp_path, autojump):
    async with trio.open_nursery() as nursery:
        market, http, fair, _ = await _deal_table(nursery, tmp_path)
        async with aclosing(http):
            await http.post(f"/v1/offers/{fair['ref']}/accept", headers=AUTH)
            log = (await http.get("/v1/audit", headers=AUTH)).json()
            kinds = [e["kind"] for e in log["entries"]]
            assert kinds[:2] == ["attribute_set", "intent_sent"]
            assert "agreement_signed" in kinds
            assert log["total"] == len(kinds)
            assert "ada@example.org" not in str(log)  # a value never enters the log
            last = (await http.get("/v1/audit", headers=AUTH, params={"limit": 1})).json()
            assert last["entries"] == log["entries"][-1:]
            vendor = next(e["party"] for e in log["entries"] if e["party"])
            mine = (await http.get("/v1/audit", headers=AUTH, params={"party": vendor})).json()
            assert mine["entries"]
            assert {e["party"] for e in mine["entries"]} == {vendor}
            assert (await http.get("/v1/audit/verify", headers=AUTH)).json() == {
                "entries": len(kinds), "intact": True, "first_broken": None}
            market.person.store.db.execute("UPDATE audit SET at = at + 1 WHERE seq = 2")
            assert (await http.get("/v1/audit/verify", headers=AUTH)).json() == {
                "entries": len(kinds), "intact": False, "first_broken": 2}
        nursery.cancel_scope.cancel()
