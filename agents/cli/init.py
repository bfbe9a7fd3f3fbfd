"""`intentcast init` and `intentcast vendor init`: a new home for a person or a vendor."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from intentcast.agents.cli.passphrase import read_passphrase
from intentcast.agents.runtime import home as homes
from intentcast.agents.runtime.setup import ensure_new, init
from intentcast.agents.vendor.catalog import load as load_catalog


def init_home(args: argparse.Namespace, home: Path, *, role: str) -> int:
    ensure_new(home)
    config = homes.Config(
        role=role, listen=args.listen or "", bootstrap=tuple(args.bootstrap), mdns=args.mdns,
        relay_service=args.relay_service, relays=tuple(args.relay),
        reachability=args.reachability or "auto",
        api_port=getattr(args, "api_port", 0),
        catalog=str(args.catalog.resolve()) if role == "vendor" else None,
        log_level=getattr(args, "log_level", None) or "info",
    )
    if config.catalog is not None:
        load_catalog(Path(config.catalog))  # refuse a broken catalog now, not at `run`
    did = init(home, config, read_passphrase(confirm=True), fast_kdf=args.insecure_fast_kdf)
    if args.json:
        print(json.dumps({"home": str(home), "did": did, "role": role}))
    else:
        print(f"created {role} home {home}")
        print(f"  identity {did}")
        print("  next: intentcast daemon" if role == "person" else "  next: intentcast vendor run")
    return 0
