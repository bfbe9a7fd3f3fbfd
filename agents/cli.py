"""The `intentcast` command: one entry point for people, vendors and developers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocol.errors import IntentcastError

from . import assistant_cmds, audit_cmds, inspect_cmd, person_cmds, walkthrough
from . import home as homes
from .catalog import CatalogError
from .client import ApiError
from .store import StoreError
from .vault import VaultError


def _unix_time(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not Unix seconds (a whole number)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds from 0.1 to 3600")
    return value


def _multiaddr(text: str) -> str:
    if not text.startswith("/") or " " in text or len(text) > 255:
        raise argparse.ArgumentTypeError(f"{text!r} is not a multiaddr like /ip4/1.2.3.4/tcp/4001")
    return text


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=argparse.SUPPRESS,
                        help="agent home (default $INTENTCAST_HOME or ~/.intentcast)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="JSON output for scripts")
    network = argparse.ArgumentParser(add_help=False)
    network.add_argument("--listen", type=_multiaddr, help="listen multiaddr")
    network.add_argument("--bootstrap", type=_multiaddr, action="append", default=[],
                         metavar="MULTIADDR", help="a peer to connect to (repeatable)")
    network.add_argument("--mdns", action="store_true", help="find peers on the LAN with mDNS")

    parser = argparse.ArgumentParser(
        prog="intentcast", parents=[common],
        description="Your own agent tells the market what you want, on your terms.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = sub.add_parser("init", help="create your identity, keys and config",
                          parents=[common, network])
    init.add_argument("--api-port", type=int, default=0, help="local API port (0: any free)")
    init.add_argument("--insecure-fast-kdf", action="store_true", help=argparse.SUPPRESS)
    daemon = sub.add_parser("daemon", help="run your personal agent and its local API",
                            parents=[common, network])
    daemon.add_argument("--api-port", type=int, help="override the configured API port")
    daemon.add_argument("--step-timeout", type=_seconds, default=30.0, metavar="SECONDS",
                        help="how long to wait for a vendor's answer, and for its proof of "
                        "deletion after a revocation (default 30)")
    person_cmds.add_commands(sub, common)
    assistant_cmds.add_commands(sub, common, network)
    audit_cmds.add_commands(sub, common)

    vendor = sub.add_parser("vendor", help="run a vendor's responder agent", parents=[common])
    vsub = vendor.add_subparsers(dest="action", required=True, metavar="ACTION")
    vinit = vsub.add_parser("init", help="create a vendor identity for a catalog",
                            parents=[common, network])
    vinit.add_argument("--catalog", type=Path, required=True, help="the catalog TOML file")
    vinit.add_argument("--insecure-fast-kdf", action="store_true", help=argparse.SUPPRESS)
    vrun = vsub.add_parser("run", help="answer intents from your catalog",
                           parents=[common, network])
    vrun.add_argument("--catalog", type=Path, help="override the configured catalog")
    vdata = vsub.add_parser("data", help="personal data you hold: list, or use it for a purpose",
                            parents=[common])
    vdata.add_argument("consent", nargs="?", help="a consent id (omit to list them)")
    vdata.add_argument("--purpose", help="what you will use it for; it must be consented to")

    insp = sub.add_parser("inspect", help="decode and verify an intentcast envelope",
                          parents=[common])
    insp.add_argument("file", help="envelope file (raw CBOR or hex), or - for stdin")
    insp.add_argument("--at", type=_unix_time, help="verify as of this Unix time (default: now)")

    demo = sub.add_parser("demo", help="walk through a whole negotiation", parents=[common])
    demo.add_argument("--out", type=Path, metavar="DIR", help="write every envelope under DIR")
    demo.add_argument("--assistant", choices=["best-price", "privacy-guard", "price-watch"],
                      help="let an example assistant negotiate for the person")
    demo.add_argument("--scenario", choices=["deal", "data-rights"], default="deal",
                      help="data-rights: consent, disclosure, revocation, unlinkability")
    demo.add_argument("--local", action="store_true",
                      help="the protocol alone, in one process (no network)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    home = homes.resolve(getattr(args, "home", None))
    try:
        return _run(args, home)
    except (homes.HomeError, ApiError, CatalogError, StoreError, VaultError,
            inspect_cmd.InputError) as exc:
        print(f"intentcast: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, inspect_cmd.InputError) else 1
    except IntentcastError as exc:
        print(f"intentcast: {exc.reason.value}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, home: Path) -> int:
    command = args.command
    if command == "inspect":
        return inspect_cmd.run(args.file, at=args.at, as_json=args.json)
    if command == "demo":
        if args.local:
            return walkthrough.run(as_json=args.json, out=args.out)
        from . import netdemo

        return netdemo.run(as_json=args.json, out=args.out, assistant=args.assistant,
                           scenario=args.scenario)
    if command == "init":
        return _init(args, home, role="person")
    if command == "daemon":
        from . import daemon

        return daemon.run_person(home, listen=args.listen, bootstrap=args.bootstrap,
                                 mdns=args.mdns, api_port=args.api_port,
                                 step_timeout=args.step_timeout)
    if command == "assistant":
        return assistant_cmds.run(args, home)
    if command == "audit":
        return audit_cmds.run(args, home)
    if command == "vendor":
        if args.action == "init":
            return _init(args, home, role="vendor")
        if args.action == "data":
            return _vendor_data(args, home)
        from . import daemon

        return daemon.run_vendor(home, listen=args.listen, bootstrap=args.bootstrap,
                                 mdns=args.mdns, catalog=args.catalog, as_json=args.json)
    return person_cmds.run(args, home)


def _vendor_data(args: argparse.Namespace, home: Path) -> int:
    """A vendor's personal data, only as consented: listed, or handed out for one purpose."""
    import json

    from . import consents
    from .init_cmd import VENDOR_SEED, open_store
    from .vendor_data import DataRefused, VendorData

    role = homes.load_config(home).role
    if role != "vendor":
        hint = "; `intentcast consent list` shows what you disclosed" if role == "person" else ""
        raise homes.HomeError(f"{home} is a {role} home, not a vendor's{hint}")
    store = open_store(home)
    try:
        if args.consent is None:
            rows: list[dict[str, Any]] = [
                {"id": c.id, "agreement_id": c.agreement_id, "subject": c.party,
                 "fields": c.fields, "purposes": c.purposes, "state": c.state,
                 "retain_until": c.retain_until} for c in consents.all_(store)]
            print(json.dumps(rows, indent=2) if args.json else "\n".join(
                f"{r['id']}  {r['state']:<8} {','.join(r['fields'])} for "
                f"{','.join(r['purposes'])} until {r['retain_until']}" for r in rows)
                or "no personal data held")
            return 0
        if not args.purpose:
            raise homes.HomeError("say what the data is for: --purpose delivery (for example)")
        seed = store.get_secret(VENDOR_SEED)
        if seed is None:
            raise homes.HomeError(f"{home} is not a vendor home")
        from protocol.identity import KeyPair

        try:
            fields = VendorData(store, KeyPair(seed)).use(args.consent, args.purpose)
        except DataRefused as exc:
            raise homes.HomeError(str(exc)) from exc
        print(json.dumps(fields, indent=2) if args.json else "\n".join(
            f"{k}: {v}" for k, v in sorted(fields.items())))
        return 0
    finally:
        store.close()


def _init(args: argparse.Namespace, home: Path, *, role: str) -> int:
    from .init_cmd import init

    config = homes.Config(
        role=role, listen=args.listen or "/ip4/127.0.0.1/tcp/0",
        bootstrap=tuple(args.bootstrap), mdns=args.mdns,
        api_port=getattr(args, "api_port", 0),
        catalog=str(args.catalog.resolve()) if role == "vendor" else None,
    )
    did = init(home, config, fast_kdf=args.insecure_fast_kdf)
    if args.json:
        import json

        print(json.dumps({"home": str(home), "did": did, "role": role}))
    else:
        print(f"created {role} home {home}")
        print(f"  identity {did}")
        if role == "person":
            print("  next: intentcast daemon")
        else:
            print("  next: intentcast vendor run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
