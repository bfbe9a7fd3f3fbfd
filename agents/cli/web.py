"""`intentcast watch`, `intentcast open`, and the event stream `offers --wait` follows.

`watch` prints what the person's agent sees as it happens (`GET /v1/events`, the stream the
page follows too): one line per event, or one JSON object per line with `--json`. `open`
asks the daemon for a one-time login link to the person's page, prints it and, where a
desktop is present, opens it in the browser.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import trio

from intentcast.agents.person.client import ApiError, Client, connect
from intentcast.agents.runtime.render import short_did
from intentcast.protocol import format_amount

READ_TIMEOUT = 45.0
"""Seconds of silence after which the stream is taken for dead (the daemon pings every 15)."""


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    watch = sub.add_parser("watch", help="print what your agent sees, as it happens",
                           parents=[common])
    start = watch.add_mutually_exclusive_group()
    start.add_argument("--since", metavar="EVENT_ID",
                       help="first, the events after this id (each event line shows its id)")
    start.add_argument("--all", action="store_true",
                       help="first, every event the daemon still holds")
    opener = sub.add_parser("open", help="log a browser in to your own page (a one-time link)",
                            parents=[common])
    opener.add_argument("--no-browser", action="store_true",
                        help="only print the link, do not open a browser")


def run(args: argparse.Namespace, home: Path) -> int:
    client = connect(home)
    try:
        if args.command == "open":
            return _open(client, as_json=args.json, browser=not args.no_browser)
        after = args.since if args.since else None if args.all else "now"
        return _watch(client, after, as_json=args.json)
    finally:
        client.close()


# -- the stream ----------------------------------------------------------------------------

Handler = Callable[[str, dict[str, Any]], bool]
"""Told each event (kind, data); returns True to stop following."""


async def follow(client: Client, after: str | None, handle: Handler) -> None:
    """Follow `GET /v1/events` until `handle` says stop or the stream ends (the daemon
    stopping ends it with a `closing` event)."""
    params = {"after": after} if after else {}
    async with httpx.AsyncClient(base_url=client.base, headers=dict(client.http.headers),
                                 timeout=httpx.Timeout(10.0, read=READ_TIMEOUT)) as http:
        try:
            async with http.stream("GET", "/v1/events", params=params,
                                   headers={"Accept": "text/event-stream"}) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise ApiError(_error(response))
                kind, data = "message", ""
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif not line and data:
                        if handle(kind, json.loads(data)):
                            return
                        kind, data = "message", ""
        except httpx.ConnectError as exc:
            raise ApiError(f"the daemon at {client.base} is not answering; "
                           "is `intentcast daemon` running?") from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"the event stream from the daemon broke: {exc}") from exc


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


def _watch(client: Client, after: str | None, *, as_json: bool) -> int:
    def show(kind: str, event: dict[str, Any]) -> bool:
        if kind == "hello" and not as_json:  # the stream is open
            print("watching your agent's events (Ctrl-C to stop)", file=sys.stderr, flush=True)
            if event.get("missed"):
                print("(some events were missed since the id given: the daemon restarted or "
                      "dropped them)", file=sys.stderr, flush=True)
            return False
        if as_json:  # hello included: a script knows the stream is open
            print(json.dumps(event, separators=(",", ":")), flush=True)
        else:
            at = time.strftime("%H:%M:%S", time.localtime(event.get("at", time.time())))
            ident = f"  [{event['id']}]" if "id" in event else ""
            print(f"{at}  {describe(kind, event)}{ident}", flush=True)
        return False

    trio.run(follow, client, after, show)
    if not as_json:
        print("the daemon stopped; the stream ended", file=sys.stderr)
    return 0


# -- offers --wait -------------------------------------------------------------------------

MAX_WAIT = 3600.0


def wait_seconds(text: str) -> float:
    """`offers --wait`: seconds, more than 0 and at most an hour."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_WAIT:  # nan fails too
        raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds, more than 0 and at "
                                         f"most {MAX_WAIT:g}")
    return value


def wait_for_offers(client: Client, intent_id: str, count: int, wait: float, *,
                    quiet: bool) -> Any:
    """The intent's offers once `count` are in or `wait` seconds passed, following the
    event stream (no polling); unless `quiet`, saying on stderr that it waits and what comes."""
    plural = "s" if count != 1 else ""
    offers: Any = client.call("GET", f"/v1/intents/{intent_id}/offers")
    if len(offers) >= count:
        return offers

    def arrived(kind: str, event: dict[str, Any]) -> bool:
        nonlocal offers
        if kind == "hello":  # the stream is open: nothing from here on is missed
            offers = client.call("GET", f"/v1/intents/{intent_id}/offers")
            if not quiet and len(offers) < count:
                print(f"waiting up to {wait:g} s for {count} offer{plural} on {intent_id} "
                      f"({len(offers)} so far)…", file=sys.stderr, flush=True)
        elif event.get("intent_id") == intent_id and kind in ("offer_received",
                                                               "offer_refused"):
            if not quiet:
                print(f"  {describe(kind, event)}", file=sys.stderr, flush=True)
            offers = client.call("GET", f"/v1/intents/{intent_id}/offers")
        return len(offers) >= count

    async def bounded() -> None:
        with trio.move_on_after(wait):
            await follow(client, "now", arrived)

    trio.run(bounded)
    if not quiet and len(offers) < count:
        print(f"gave up after {wait:g} s with {len(offers)} offer{'s' if len(offers) != 1 else ''}",
              file=sys.stderr, flush=True)
    return offers


# -- open ----------------------------------------------------------------------------------

def _desktop() -> bool:
    """Whether a browser can be shown here (a terminal over ssh has no display)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _open(client: Client, *, as_json: bool, browser: bool) -> int:
    link = client.call("POST", "/v1/login-links")
    if as_json:
        print(json.dumps(link))
        return 0
    minutes = max(1, int(link["valid_for"]) // 60)
    print(f"Your page: this link logs one browser in, once, within {minutes} minutes:\n\n"
          f"  {link['url']}\n")
    if browser and _desktop():
        opened = webbrowser.open(link["url"])
        print("opened it in your browser" if opened else "could not start a browser: open the "
              "link yourself")
    return 0


# -- events in words -----------------------------------------------------------------------

def _price(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("amount"), int):
        return format_amount(value["amount"], str(value.get("currency", "")))
    return "?"


def _vendor(event: dict[str, Any]) -> str:
    return f"vendor {short_did(str(event['vendor']))}" if event.get("vendor") else "the vendor"


def _names(values: Any) -> str:
    return ", ".join(str(v) for v in values) if isinstance(values, list) else ""


def _clauses(event: dict[str, Any]) -> str:
    return _names([c.get("clause") for c in event.get("conflicts") or []
                   if isinstance(c, dict)])


WORDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "intent_posted": lambda e: f"intent {e.get('intent_id')} posted: {e.get('category')}",
    "intent_heard": lambda e: f"intent {e.get('intent_id')} heard by "
                              f"{e.get('peers', e.get('count', '?'))} peers",
    "offer_received": lambda e: f"offer {e.get('ref')} from {_vendor(e)}: {e.get('title')}, "
                                f"{_price(e.get('price'))}"
                                + (f" (breaks your terms: {_clauses(e)})"
                                   if e.get("conflicts") else ""),
    "offer_refused": lambda e: f"offer {e.get('ref')} refused: {e.get('title')} breaks your "
                               f"terms ({_clauses(e)})",
    "counter_answered": lambda e: f"offer {e.get('ref')}: {_vendor(e)} answered "
                                  f"{_price(e.get('price'))}",
    "offer_ended": lambda e: f"offer {e.get('ref')} ended by {_vendor(e)}: {e.get('reason')}",
    "offer_accepted": lambda e: f"offer {e.get('ref')} accepted at {_price(e.get('price'))}",
    "agreement_signed": lambda e: f"agreement {e.get('agreement_id')} signed by both: "
                                  f"{e.get('sku')} for {_price(e.get('price'))}",
    "agreement_acknowledged": lambda e: f"agreement {e.get('agreement_id')}: the vendor "
                                        "confirmed it stored it",
    "agreement_void": lambda e: f"agreement {e.get('agreement_id')} is void: {e.get('reason')}",
    "disclosure_sent": lambda e: f"disclosed {_names(e.get('fields'))} to {_vendor(e)} for "
                                 f"{_names(e.get('purposes'))}, {e.get('retention_days')} days "
                                 f"(consent {e.get('consent_id')})",
    "deletion_receipt": lambda e: f"consent {e.get('consent_id')}: {_vendor(e)} deleted "
                                  f"{_names(e.get('fields'))} and sent a signed receipt",
    "vendor_in_breach": lambda e: f"consent {e.get('consent_id')}: {_vendor(e)} did not prove "
                                  f"it deleted {_names(e.get('fields'))}: IN BREACH",
    "profile_changed": lambda e: f"profile: {e.get('name')} changed",
    "closing": lambda e: "the daemon is stopping",
}


def describe(kind: str, event: dict[str, Any]) -> str:
    """One event as a line a person reads."""
    words = WORDS.get(kind)
    if words is not None:
        return words(event)
    detail = " ".join(f"{k}={v}" for k, v in event.items()
                      if k not in ("id", "kind", "at") and isinstance(v, str | int))
    return f"{kind.replace('_', ' ')}: {detail}" if detail else kind.replace("_", " ")
