"""`intentcast assistant …`: make an assistant, grant it limits, revoke them, run it."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from intentcast.agents.cli.passphrase import read_passphrase
from intentcast.agents.cli.person import duration
from intentcast.agents.person.client import connect
from intentcast.agents.runtime import home as homes
from intentcast.agents.runtime.home import write_private
from intentcast.agents.runtime.render import short_did
from intentcast.protocol import format_amount

_NAMES = re.compile(r"^[a-z0-9._-]+(,[a-z0-9._-]+)*$")


def _names(text: str) -> list[str]:
    if not _NAMES.match(text):
        raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated list like outdoor,food")
    return text.split(",")


def add_commands(sub: Any, common: argparse.ArgumentParser, network: argparse.ArgumentParser
                 ) -> None:
    assistant = sub.add_parser("assistant", help="fourth parties: assistants that act for you",
                               parents=[common])
    asub = assistant.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = asub.add_parser("init", help="create an assistant's identity (its own home)",
                           parents=[common, network])
    init.add_argument("--insecure-fast-kdf", action="store_true", help=argparse.SUPPRESS)
    grant = asub.add_parser("grant", help="let an assistant act for you, within limits",
                            parents=[common])
    grant.add_argument("did", help="the assistant's did:key")
    grant.add_argument("--categories", type=_names, required=True,
                       help="where it may act, e.g. outdoor,food")
    grant.add_argument("--max-price", help="the most it may agree to, e.g. 250")
    grant.add_argument("--currency", default="EUR")
    grant.add_argument("--may-counter", action="store_true", help="it may propose prices")
    grant.add_argument("--may-accept", action="store_true", help="it may accept offers")
    grant.add_argument("--disclose", type=_names, default=[],
                       help="fields it may disclose, e.g. postcode,size")
    grant.add_argument("--expires", type=duration, default=7 * 86_400, help="e.g. 2h, 7d")
    grant.add_argument("--out", type=Path, help="where to write the grant file "
                       "(default: <home>/grants/<id>.json)")
    asub.add_parser("list", help="your grants and their state", parents=[common])
    revoke = asub.add_parser("revoke", help="revoke a grant at once", parents=[common])
    revoke.add_argument("id")
    log = asub.add_parser("log", help="everything your assistants did for you",
                          parents=[common])
    log.add_argument("--intent", help="only about this intent")
    run = asub.add_parser("run", help="run an assistant (MODULE:NAME) as its own peer",
                          parents=[common, network])
    run.add_argument("spec", metavar="MODULE:NAME",
                     help="e.g. examples.assistants.best_price:BestPrice")
    run.add_argument("--delegation", type=Path, required=True,
                     help="the grant file the person gave you")


def run(args: argparse.Namespace, home: Path) -> int:
    action = args.action
    if action == "init":
        from intentcast.agents.runtime.setup import ensure_new, init

        ensure_new(home)
        config = homes.Config(role="assistant", listen=args.listen or "",
                              bootstrap=tuple(args.bootstrap), mdns=args.mdns,
                              relay_service=args.relay_service, relays=tuple(args.relay),
                              reachability=args.reachability or "auto")
        did = init(home, config, read_passphrase(confirm=True), fast_kdf=args.insecure_fast_kdf)
        _print(args, {"home": str(home), "did": did, "role": "assistant"},
               lambda r: f"created assistant home {home}\n  identity {did}\n"
                         f"  next: the person runs `intentcast assistant grant {did} …`")
        return 0
    if action == "run":
        from intentcast.agents.assistant.run import run_assistant
        from intentcast.agents.cli.network import options

        return run_assistant(home, lambda: read_passphrase(confirm=False), args.spec,
                             args.delegation, net=options(args))
    client = connect(home)
    try:
        result, show = _call(args, home, client.call)
    finally:
        client.close()
    _print(args, result, show)
    return 0


def _call(args: argparse.Namespace, home: Path, call: Any) -> tuple[Any, Any]:
    if args.action == "grant":
        body: dict[str, Any] = {
            "assistant": args.did, "categories": args.categories, "currency": args.currency,
            "may_counter": args.may_counter, "may_accept": args.may_accept,
            "disclose": args.disclose, "expires_in": args.expires,
        }
        if args.max_price is not None:
            body["max_price"] = args.max_price
        made = call("POST", "/v1/assistants/grants", json=body)
        out = args.out or home / "grants" / f"{made['id']}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        write_private(out, json.dumps(made.pop("file"), indent=2).encode("utf-8"))
        made["file"] = str(out)
        return made, lambda g: (_grant_line(g) + f"\n  grant file {g['file']} (give it to the "
                                "assistant: intentcast assistant run … --delegation FILE)")
    if args.action == "list":
        return call("GET", "/v1/assistants/grants"), lambda rows: "\n".join(
            _grant_line(g) for g in rows) or "no grants yet"
    if args.action == "revoke":
        return call("POST", f"/v1/assistants/grants/{args.id}/revoke"), lambda g: (
            _grant_line(g) + f"\n  {g['links_revoked']} live link(s) revoked on the network")
    params = {"intent_id": args.intent} if args.intent else None
    return call("GET", "/v1/assistants/log", params=params), _log


def _print(args: argparse.Namespace, result: Any, show: Any) -> None:
    print(json.dumps(result, indent=2) if args.json else show(result))


def _grant_line(g: dict[str, Any]) -> str:
    scope = g["scope"]
    cap = scope.get("max_price")
    limits = [",".join(scope["categories"])]
    limits.append(f"up to {format_amount(cap['amount'], cap['currency'])}" if cap else "no cap")
    limits += [w for w, on in (("counter", scope.get("may_counter")),
                               ("accept", scope.get("may_accept"))) if on]
    if scope.get("may_disclose"):
        limits.append("disclose " + ",".join(scope["may_disclose"]))
    return f"{g['id']}  {g['state']:<8} {short_did(g['assistant'])}  {'; '.join(limits)}"


def _log(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        what = r.get("text") or r.get("reason") or r.get("note") or ""
        price = r.get("price")
        money = f" {format_amount(price['amount'], price['currency'])}" if price else ""
        lines.append(f"#{r['seq']:<4} {r['kind']:<20} {r.get('type', '')}{money}  "
                     f"{short_did(r.get('assistant', ''))}  {what}".rstrip())
    return "\n".join(lines) or "no assistant activity yet"
