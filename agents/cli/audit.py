"""`intentcast audit` and `intentcast audit verify`, straight from the store file.

Both read the home's SQLite file read-only, so they work with the daemon
stopped and need no passphrase: the audit log holds what happened (who, what
kind, when, under which agreement), never a secret or an attribute's value.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

from intentcast.agents.runtime.home import HomeError
from intentcast.agents.runtime.render import short_did
from intentcast.agents.store import audit
from intentcast.protocol import EncodingError, decode

PARTY_KEYS = ("vendor", "controller", "assistant", "buyer")


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("audit", help="what bound you or disclosed your data, per party",
                         parents=[common])
    cmd.add_argument("--party", metavar="DID", help="only entries about this vendor or assistant")
    asub = cmd.add_subparsers(dest="action", metavar="ACTION")
    asub.add_parser("verify", help="check the hash chain; name the first broken entry",
                    parents=[common])


def _open(home: Path) -> sqlite3.Connection:
    path = home / "store.sqlite"
    if not path.exists():
        raise HomeError(f"{home} is not initialised: run `intentcast init` first")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def run(args: argparse.Namespace, home: Path) -> int:
    db = _open(home)
    try:
        if args.action == "verify":
            return _verify(db, as_json=args.json)
        rows = db.execute("SELECT seq, at, kind, data FROM audit ORDER BY seq").fetchall()
    finally:
        db.close()
    entries = [_entry(*row) for row in rows]
    if args.party:
        entries = [e for e in entries if e["party"] == args.party]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    by_party: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_party[entry["party"]].append(entry)
    for party, found in sorted(by_party.items(), key=lambda kv: (kv[0] != "", kv[0])):
        print(f"{short_did(party) if party else 'your own actions'}:")
        for e in found:
            print(f"  #{e['seq']:<4} {e['at']}  {e['kind']:<20} {_summary(e['data'])}")
    if not entries:
        print("the audit log is empty")
    return 0


def _verify(db: sqlite3.Connection, *, as_json: bool) -> int:
    broken = audit.verify(db)
    count = db.execute("SELECT count(*) FROM audit").fetchone()[0]
    result = {"entries": count, "intact": broken is None, "first_broken": broken}
    if as_json:
        print(json.dumps(result))
    elif broken is None:
        print(f"audit log intact: {count} entries, each linked to the one before")
    else:
        print(f"audit log TAMPERED: entry {broken} is the first that does not match its chain")
    return 0 if broken is None else 1


def _entry(seq: int, at: int, kind: str, blob: bytes) -> dict[str, Any]:
    try:
        data = decode(bytes(blob))
    except EncodingError:
        data = {"unreadable": True}
    if not isinstance(data, dict):
        data = {"unreadable": True}
    party = next((str(data[k]) for k in PARTY_KEYS if isinstance(data.get(k), str)), "")
    return {"seq": seq, "at": at, "kind": kind, "party": party, "data": _plain(data)}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _summary(data: dict[str, Any]) -> str:
    parts = []
    for key in ("type", "agreement_id", "intent_id", "sku", "fields", "purposes", "name",
                "text", "reason"):
        if key in data:
            parts.append(f"{key}={data[key]}")
    price = data.get("price")
    if isinstance(price, dict) and "amount" in price:
        parts.append(f"price={price['amount']} {price.get('currency', '')}")
    return " ".join(parts)
