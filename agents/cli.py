"""The `intentcast` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import inspect_cmd, walkthrough


def _unix_time(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not Unix seconds (a whole number)")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intentcast",
        description="Your own agent tells the market what you want, on your terms.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    insp = sub.add_parser("inspect", help="decode and verify an intentcast envelope")
    insp.add_argument("file", help="envelope file (raw CBOR or hex), or - for stdin")
    insp.add_argument("--at", type=_unix_time, help="verify as of this Unix time (default: now)")
    insp.add_argument("--json", action="store_true", help="one JSON object for scripts")

    demo = sub.add_parser("demo", help="walk through a whole negotiation")
    demo.add_argument("--json", action="store_true", help="print a JSON summary instead")
    demo.add_argument("--out", type=Path, metavar="DIR", help="write every envelope under DIR")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "inspect":
            return inspect_cmd.run(args.file, at=args.at, as_json=args.json)
        if args.command == "demo":
            return walkthrough.run(as_json=args.json, out=args.out)
    except inspect_cmd.InputError as exc:
        print(f"intentcast: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
