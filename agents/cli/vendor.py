"""`intentcast vendor data`: the personal data a vendor holds, only as its consents allow."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from intentcast.agents.cli.passphrase import read_passphrase
from intentcast.agents.runtime import home as homes
from intentcast.agents.runtime.setup import VENDOR_SEED, open_store
from intentcast.agents.store import consents
from intentcast.agents.vendor.data import DataRefused, VendorData
from intentcast.protocol import KeyPair


def data(args: argparse.Namespace, home: Path) -> int:
    """A vendor's personal data, only as consented: listed, or handed out for one purpose."""
    role = homes.load_config(home).role
    if role != "vendor":
        hint = "; `intentcast consent list` shows what you disclosed" if role == "person" else ""
        raise homes.HomeError(f"{home} is a {role} home, not a vendor's{hint}")
    store = open_store(home, lambda: read_passphrase(confirm=False))
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
        try:
            fields = VendorData(store, KeyPair(seed)).use(args.consent, args.purpose)
        except DataRefused as exc:
            raise homes.HomeError(str(exc)) from exc
        print(json.dumps(fields, indent=2) if args.json else "\n".join(
            f"{k}: {v}" for k, v in sorted(fields.items())))
        return 0
    finally:
        store.close()
