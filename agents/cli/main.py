"""The `intentcast` command: one entry point for people, vendors and developers."""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from intentcast.agents.cli import assistant as assistant_cmds
from intentcast.agents.cli import audit as audit_cmds
from intentcast.agents.cli import inspect as inspect_cmd
from intentcast.agents.cli import network as network_cmds
from intentcast.agents.cli import person as person_cmds
from intentcast.agents.cli import vendor
from intentcast.agents.cli import web as web_cmds
from intentcast.agents.cli.init import init_home
from intentcast.agents.cli.passphrase import read_passphrase
from intentcast.agents.demo import walkthrough
from intentcast.agents.person.client import ApiError
from intentcast.agents.runtime import home as homes
from intentcast.agents.runtime import process
from intentcast.agents.store.db import StoreError
from intentcast.agents.store.db import explain as explain_sqlite
from intentcast.agents.store.vault import VaultError
from intentcast.agents.vendor.catalog import CatalogError
from intentcast.protocol import IntentcastError


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


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", type=Path, default=argparse.SUPPRESS,
                        help="agent home (default $INTENTCAST_HOME or ~/.intentcast)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="JSON output for scripts")
    network = network_cmds.parent()
    network.add_argument("--log-level", choices=homes.LOG_LEVELS,
                         help="what to log on stderr (default: log.level in config.toml, info: "
                         "a line per event that matters)")

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
    network_cmds.add_commands(sub, common)
    assistant_cmds.add_commands(sub, common, network)
    audit_cmds.add_commands(sub, common)
    web_cmds.add_commands(sub, common)

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
    """Run one command; its exit status. Errors are one line on stderr, never a traceback,
    except for a bug of ours (the traceback is what to report then).

    Exit status: 0 done; 1 refused or failed, the line says why (a home in use, a port
    taken, a full disk, a damaged store, the daemon's answer, ...); 2 a bad argument or
    input file; 130 interrupted before the agent was up; 141 stdout closed under us."""
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    process.log_level = getattr(args, "log_level", None)
    home = homes.resolve(getattr(args, "home", None))
    try:
        code = _run(args, home)
    except BaseException as exc:  # trio's groups may carry a KeyboardInterrupt
        if isinstance(exc, SystemExit | GeneratorExit):
            raise
        code = _fail(exc, home)
    if argv is None:
        # The process ends next. Freezing the heap spares the interpreter's final collections
        # over every object libp2p, FastAPI and pydantic made: 0.6 s of a daemon's stop.
        gc.freeze()
    return code


def _fail(exc: BaseException, home: Path) -> int:
    leaves = _leaves(exc)
    if all(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
        return 130
    if any(isinstance(leaf, BrokenPipeError) for leaf in leaves):
        # Whoever read our stdout is gone (`| head`): nothing to tell them; Python would
        # complain again when it flushes stdout at exit, so point stdout at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    explained = [_explain(leaf, home) for leaf in leaves]
    first = explained[0]
    if first is None or None in explained:
        raise exc
    message, code = first
    print(f"intentcast: {' '.join(message.splitlines())}", file=sys.stderr)
    return code


def _leaves(exc: BaseException) -> list[BaseException]:
    """What the tasks raised, out of trio's exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _explain(exc: BaseException, home: Path) -> tuple[str, int] | None:
    """One line and an exit status for what a person can fix; None for a bug of ours."""
    if isinstance(exc, inspect_cmd.InputError):
        return str(exc), 2
    if isinstance(exc, homes.HomeError | ApiError | CatalogError | StoreError | VaultError):
        return str(exc), 1
    if isinstance(exc, IntentcastError):
        return f"{exc.reason.value}: {exc.message}", 1
    if isinstance(exc, OSError):  # the machine: permissions, a full disk, a missing file
        return homes.describe(exc), 1
    if isinstance(exc, sqlite3.Error):  # only the store is an SQLite file
        return f"{home / 'store.sqlite'}: {explain_sqlite(exc)}", 1
    return None


def _run(args: argparse.Namespace, home: Path) -> int:
    command = args.command
    if command not in ("inspect", "demo"):
        homes.check_home(home)  # a file, or a directory we may not enter: say so first
    if command == "inspect":
        return inspect_cmd.run(args.file, at=args.at, as_json=args.json)
    if command == "demo":
        if args.local:
            return walkthrough.run(as_json=args.json, out=args.out)
        from intentcast.agents.demo.run import run as run_demo

        return run_demo(as_json=args.json, out=args.out, assistant=args.assistant,
                           scenario=args.scenario)
    if command == "init":
        return init_home(args, home, role="person")
    if command == "daemon":
        from intentcast.agents.person.daemon import run_person

        return run_person(home, lambda: read_passphrase(confirm=False),
                          net=network_cmds.options(args), api_port=args.api_port,
                          step_timeout=args.step_timeout)
    if command == "assistant":
        return assistant_cmds.run(args, home)
    if command == "audit":
        return audit_cmds.run(args, home)
    if command in ("watch", "open"):
        return web_cmds.run(args, home)
    if command in ("peers", "connect"):
        return network_cmds.run(args, home)
    if command == "vendor":
        if args.action == "init":
            return init_home(args, home, role="vendor")
        if args.action == "data":
            return vendor.data(args, home)
        from intentcast.agents.vendor.run import run_vendor

        return run_vendor(home, lambda: read_passphrase(confirm=False),
                          net=network_cmds.options(args), catalog=args.catalog,
                          as_json=args.json)
    return person_cmds.run(args, home)
