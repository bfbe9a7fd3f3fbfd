"""`intentcast demo`: a person and vendors (and an assistant), each its own process, on libp2p.

Everything is real: OS processes on 127.0.0.1 with ephemeral ports and
temporary homes, gossipsub for the intent, negotiation streams for the rest,
the person's daemon driven through its local HTTP API exactly as the CLI
drives it, and the agreement read back from both parties' SQLite files.
Nothing is left behind: every process is stopped and the homes are removed,
also when the demo is interrupted or something fails.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from intentcast.agents.demo import assistant as assistant_scenario
from intentcast.agents.demo import data_rights, deal
from intentcast.agents.demo.harness import (
    CATALOGS,
    DATA_RIGHTS_VENDORS,
    VENDORS,
    Demo,
    DemoError,
    init_home,
)
from intentcast.agents.person.client import Client
from intentcast.agents.runtime.home import Config
from intentcast.agents.runtime.render import short_did


def run(*, as_json: bool = False, out: Path | None = None, assistant: str | None = None,
        scenario: str = "deal") -> int:
    started = time.monotonic()
    say = (lambda *_: None) if as_json else print
    root = Path(tempfile.mkdtemp(prefix="intentcast-demo-"))
    demo = Demo(root, say)
    try:
        summary = _play(demo, out, assistant, scenario)
    except DemoError as exc:
        print(f"intentcast demo: {exc}", file=sys.stderr)
        return 1
    finally:
        demo.stop()
        shutil.rmtree(root, ignore_errors=True)
    summary["elapsed_ms"] = round((time.monotonic() - started) * 1000)
    if as_json:
        print(json.dumps(summary))
    else:
        say(f"\ndone in {summary['elapsed_ms']} ms; every process stopped, homes removed")
    return 0


def _play(demo: Demo, out: Path | None, assistant: str | None, scenario: str
          ) -> dict[str, Any]:
    say = demo.say
    if not CATALOGS.is_dir():
        raise DemoError(f"the example catalogs are missing ({CATALOGS})")
    catalogs = DATA_RIGHTS_VENDORS if scenario == "data-rights" else VENDORS
    say(f"intentcast demo: one person and {len(catalogs)} vendors, each its own process on "
        "libp2p\n")
    person_home = demo.root / "person"
    init_home(person_home, Config(role="person"))
    homes = []
    for n, catalog in enumerate(catalogs, 1):
        homes.append(demo.root / f"vendor-{n}")
        init_home(homes[-1], Config(role="vendor", catalog=str(CATALOGS / catalog)))
    person = demo.wait_ready(demo.spawn("person", person_home, ["daemon"]))
    bootstrap = person.ready["addrs"][0]
    say(f"person's daemon   peer {person.ready['peer_id'][:16]}…  API {person.ready['api']}")
    vendors = [demo.spawn(f"vendor-{n}", home, ["vendor", "run", "--bootstrap", bootstrap])
               for n, home in enumerate(homes, 1)]
    for vendor in vendors:
        ready = demo.wait_ready(vendor).ready
        say(f"{vendor.name}  {ready['name']:<24} sells {', '.join(ready['topics'])}; "
            f"signs as {short_did(ready['did'])}")

    api = Client(person_home)
    try:
        if scenario == "data-rights":
            return data_rights.play(demo, api, vendors, out)
        if assistant is not None:
            return assistant_scenario.negotiate(demo, api, vendors, bootstrap, assistant, out)
        return deal.negotiate(demo, api, vendors, out)
    finally:
        api.close()
