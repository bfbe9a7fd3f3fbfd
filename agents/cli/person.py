"""The person's CLI commands: each one is a call to the daemon's local API."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from intentcast.agents.cli.web import wait_for_offers, wait_seconds
from intentcast.agents.person.client import connect
from intentcast.agents.runtime.render import short_did
from intentcast.protocol import format_amount

_DURATION = re.compile(r"^(\d{1,7})([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def duration(text: str) -> int:
    """`90`, `90s`, `30m`, `2h`, `7d` -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 30m, 2h or 7d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def attribute(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=VALUE, e.g. size=M")
    return name, value


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    intent = sub.add_parser("intent", help="post, list, show or withdraw intents",
                            parents=[common])
    isub = intent.add_subparsers(dest="action", required=True, metavar="ACTION")
    post = isub.add_parser("post", help="broadcast a new intent", parents=[common])
    post.add_argument("category", help="dotted category, e.g. outdoor.camping.tents")
    post.add_argument("description", help="what you want, in your words")
    post.add_argument("--max-price", help="the most you will pay, e.g. 200.00")
    post.add_argument("--currency", default="EUR", help="ISO 4217 code (default EUR)")
    post.add_argument("--quantity", type=int, default=1)
    post.add_argument("--country", help="two-letter country code, e.g. DE")
    post.add_argument("--postcode", help="a postcode prefix, e.g. 10")
    post.add_argument("--disclose", type=attribute, action="append", default=[],
                      metavar="NAME=VALUE", help="an attribute to share with vendors")
    post.add_argument("--expires", type=duration, default=3600, help="e.g. 30m, 2h, 7d")
    post.add_argument("--assistant", metavar="DID",
                      help="let this granted assistant negotiate for you")
    new = isub.add_parser("new", help="broadcast your whole cart as one intent",
                          parents=[common])
    new.add_argument("--from-cart", action="store_true", required=True,
                     help="take your cart with you: one intent for everything in it")
    new.add_argument("--country")
    new.add_argument("--postcode")
    new.add_argument("--expires", type=duration, default=3600)
    isub.add_parser("list", help="your intents and their state", parents=[common])
    show = isub.add_parser("show", help="one intent and its offers", parents=[common])
    show.add_argument("id")
    withdraw = isub.add_parser("withdraw", help="withdraw an intent", parents=[common])
    withdraw.add_argument("id")
    withdraw.add_argument("--reason", default="withdrawn by the person")

    offers = sub.add_parser("offers", help="offers for an intent", parents=[common])
    offers.add_argument("intent_id")
    offers.add_argument("--wait", type=wait_seconds, default=0.0,
                        help="wait up to SECONDS for offers, following the event stream")
    offers.add_argument("--count", type=int, default=1, help="how many offers to wait for")
    counter = sub.add_parser("counter", help="propose a price for an offer", parents=[common])
    counter.add_argument("ref", help="the offer's ref (see `intentcast offers`)")
    counter.add_argument("price", help="e.g. 180.00")
    counter.add_argument("--note")
    accept = sub.add_parser("accept", help="accept an offer and sign the agreement",
                            parents=[common])
    accept.add_argument("ref")
    reject = sub.add_parser("reject", help="turn an offer down", parents=[common])
    reject.add_argument("ref")
    reject.add_argument("--reason", default="no, thank you")
    agreements = sub.add_parser("agreements", help="your agreements, or one of them",
                                parents=[common])
    agreements.add_argument("id", nargs="?")
    profile = sub.add_parser("profile", help="your attributes, sealed in your own store",
                             parents=[common])
    psub = profile.add_subparsers(dest="action", required=True, metavar="ACTION")
    pset = psub.add_parser("set", help="set an attribute", parents=[common])
    pset.add_argument("name", help="e.g. shipping_address, email, size")
    pset.add_argument("value")
    pget = psub.add_parser("get", help="show one attribute", parents=[common])
    pget.add_argument("name")
    psub.add_parser("list", help="the names of your attributes", parents=[common])
    sub.add_parser("credits", help="your loyalty credits (each good with its issuer only)",
                   parents=[common])
    redeem = sub.add_parser("redeem", help="present a loyalty credit against an offer",
                            parents=[common])
    redeem.add_argument("ref")
    cart = sub.add_parser("cart", help="your portable cart, kept in your own store",
                          parents=[common])
    cartsub = cart.add_subparsers(dest="action", required=True, metavar="ACTION")
    cadd = cartsub.add_parser("add", help="add something you want", parents=[common])
    cadd.add_argument("category", help="e.g. outdoor.camping.tents")
    cadd.add_argument("description")
    cadd.add_argument("--max-price")
    cadd.add_argument("--currency", default="EUR")
    cadd.add_argument("--quantity", type=int, default=1)
    cartsub.add_parser("list", help="what is in your cart", parents=[common])
    cremove = cartsub.add_parser("remove", help="take an item out", parents=[common])
    cremove.add_argument("id", type=int)
    consent = sub.add_parser("consent", help="what you disclosed to vendors; withdraw it",
                             parents=[common])
    csub = consent.add_subparsers(dest="action", required=True, metavar="ACTION")
    csub.add_parser("list", help="your consents and their state", parents=[common])
    crevoke = csub.add_parser("revoke", help="withdraw a consent: the vendor must delete",
                              parents=[common])
    crevoke.add_argument("id")
    sub.add_parser("status", help="the daemon's identity, addresses and counters",
                   parents=[common])


def run(args: argparse.Namespace, home: Path) -> int:
    client = connect(home)
    show: Callable[[Any], str]
    try:
        if args.command == "offers" and args.wait:  # follows the event stream, no polling
            result, show = wait_for_offers(client, args.intent_id, args.count, args.wait,
                                           quiet=args.json), _offers
        else:
            result, show = _dispatch(args, client.call)
    finally:
        client.close()
    print(json.dumps(result, indent=2) if args.json else show(result))
    return 0


Call = Callable[..., Any]


def _dispatch(args: argparse.Namespace, call: Call) -> tuple[Any, Callable[[Any], str]]:
    command = args.command
    if command == "intent":
        return _intent(args, call)
    if command == "offers":
        return call("GET", f"/v1/intents/{args.intent_id}/offers"), _offers
    if command == "counter":
        body = {"price": args.price, **({"note": args.note} if args.note else {})}
        return call("POST", f"/v1/offers/{args.ref}/counter", json=body), _offer_line
    if command == "accept":
        return call("POST", f"/v1/offers/{args.ref}/accept"), _agreement
    if command == "reject":
        return (call("POST", f"/v1/offers/{args.ref}/reject", json={"reason": args.reason}),
                _offer_line)
    if command == "agreements":
        if args.id:
            return call("GET", f"/v1/agreements/{args.id}"), _agreement
        return call("GET", "/v1/agreements"), lambda rows: "\n".join(
            _agreement_line(a) for a in rows) or "no agreements yet"
    if command == "profile":
        if args.action == "set":
            return (call("PUT", f"/v1/profile/{args.name}", json={"value": args.value}),
                    lambda a: f"{a['name']} set (sealed in your store)")
        if args.action == "get":
            return call("GET", f"/v1/profile/{args.name}"), lambda a: a["value"]
        return call("GET", "/v1/profile"), lambda names: "\n".join(names) or "no attributes"
    if command == "credits":
        return call("GET", "/v1/credits"), lambda rows: "\n".join(
            f"{c['credit'][:12]}  {c['state']:<9} {_money(c['value_minor'], c['currency']):>12}"
            f"  from {short_did(c['vendor'])}" for c in rows) or "no credits yet"
    if command == "redeem":
        return call("POST", f"/v1/offers/{args.ref}/redeem"), lambda r: (
            f"credit of {r['value_minor'] / 100:.2f} accepted on {r['ref']}: counter at the "
            "lower price to use it")
    if command == "cart":
        if args.action == "add":
            body = {"category": args.category, "description": args.description,
                    "currency": args.currency, "quantity": args.quantity,
                    **({"max_price": args.max_price} if args.max_price else {})}
            return call("POST", "/v1/cart", json=body), _cart_line
        if args.action == "remove":
            return (call("DELETE", f"/v1/cart/{args.id}"),
                    lambda r: f"removed item {r['removed']}")
        return call("GET", "/v1/cart"), lambda rows: "\n".join(
            _cart_line(i) for i in rows) or "the cart is empty"
    if command == "consent":
        if args.action == "revoke":
            return call("POST", f"/v1/consents/{args.id}/revoke"), _consent_line
        return call("GET", "/v1/consents"), lambda rows: "\n".join(
            _consent_line(c) for c in rows) or "no consents yet"
    return call("GET", "/v1/status"), _status


def _intent(args: argparse.Namespace, call: Call) -> tuple[Any, Callable[[Any], str]]:
    if args.action == "post":
        body: dict[str, Any] = {
            "category": args.category, "description": args.description,
            "currency": args.currency, "quantity": args.quantity,
            "disclosed": dict(args.disclose), "expires_in": args.expires,
        }
        for key, value in (("max_price", args.max_price), ("country", args.country),
                           ("postcode_prefix", args.postcode), ("assistant", args.assistant)):
            if value is not None:
                body[key] = value
        return call("POST", "/v1/intents", json=body), _intent_line
    if args.action == "new":
        body = {"expires_in": args.expires, **({"country": args.country} if args.country else {}),
                **({"postcode_prefix": args.postcode} if args.postcode else {})}
        return call("POST", "/v1/cart/intent", json=body), _intent_line
    if args.action == "list":
        return call("GET", "/v1/intents"), lambda rows: "\n".join(
            _intent_line(i) for i in rows) or "no intents yet"
    if args.action == "show":
        return call("GET", f"/v1/intents/{args.id}"), lambda i: (
            _intent_line(i) + "\n" + _offers(i["offers"]))
    return (call("POST", f"/v1/intents/{args.id}/withdraw", json={"reason": args.reason}),
            _intent_line)


def _money(minor: int, currency: str) -> str:
    return format_amount(minor, currency)


def _intent_line(i: dict[str, Any]) -> str:
    note = f"\n  {i['note']}" if i.get("note") else ""
    return f"{i['id']}  {i['state']:<9}  {i['category']}: {i['description']}{note}"


def _offer_line(o: dict[str, Any]) -> str:
    note = f"  ({o['note']})" if o.get("note") else ""
    return (f"{o['ref']}  {o['state']:<13} {_money(o['price_minor'], o['currency']):>14}  "
            f"{o['title']}  from {short_did(o['vendor'])}{note}")


def _offers(rows: list[dict[str, Any]]) -> str:
    return "\n".join(_offer_line(o) for o in rows) or "no offers yet"


_AGREEMENT_STATE = {
    "agreed": "signed by both and stored by both (the vendor acknowledged it)",
    "pending": "signed by both; waiting for the vendor to acknowledge storing it (your daemon "
               "keeps delivering it)",
    "void": "void: the vendor refused the countersignature (it came too late)",
}


def _agreement_line(a: dict[str, Any]) -> str:
    state = a.get("state", "agreed")
    return (f"{a['id']}  {state:<7} {_money(a['price_minor'], a['currency'])}  "
            f"vendor {short_did(a['vendor'])}  intent {a['intent_id']}")


def _agreement(a: dict[str, Any]) -> str:
    state = _AGREEMENT_STATE.get(a.get("state", "agreed"), a.get("state", "?"))
    return (f"agreement {a['id']}: {_money(a['price_minor'], a['currency'])}\n"
            f"  buyer  {a['buyer']}\n  vendor {a['vendor']}\n"
            f"  {state}; the envelope is {len(a.get('envelope_hex', '')) // 2} bytes")


def _cart_line(i: dict[str, Any]) -> str:
    cap = f" up to {_money(i['max_price'], i['currency'])}" if i.get("max_price") else ""
    return f"{i['id']:>3}  {i['quantity']} x {i['description']}  ({i['category']}){cap}"


def _consent_line(c: dict[str, Any]) -> str:
    state = c["state"].upper() if c["state"] == "breach" else c["state"]
    extra = " (the vendor did not prove deletion in time)" if c["state"] == "breach" else ""
    return (f"{c['id']}  {state:<8} {short_did(c['vendor'])}  {','.join(c['fields'])} for "
            f"{','.join(c['purposes'])}, agreement {c['agreement_id']}{extra}")


def _status(s: dict[str, Any]) -> str:
    lines = [f"peer id   {s.get('peer_id', '?')}"]
    lines += [f"listening {a}" for a in s.get("addrs", [])]
    lines.append(f"peers     {len(s.get('peers', []))}")
    net = s.get("network") or {}
    if net:
        relays = ", ".join(net.get("relays", []))
        lines.append(f"network   {net.get('reachability', '?')}"
                     + (f", through relay {relays}" if relays else "")
                     + (", relaying for others" if net.get("relay_service") else ""))
    lines.append(f"intents   {s.get('intents', 0)}, agreements {s.get('agreements', 0)}")
    dropped = s.get("dropped") or {}
    if dropped:
        lines.append("dropped   " + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    return "\n".join(lines)
