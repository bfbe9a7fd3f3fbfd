"""`intentcast demo`: a person and three vendors, each its own process, on libp2p.

Everything is real: four OS processes on 127.0.0.1 with ephemeral ports and
temporary homes, gossipsub for the intent, negotiation streams for the rest,
the person's daemon driven through its local HTTP API exactly as the CLI
drives it, and the agreement read back from both parties' SQLite files.
Nothing is left behind: every process is stopped and the homes are removed,
also when the demo is interrupted or something fails.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from protocol import cose, envelope
from protocol.currencies import format_amount

from .client import Client
from .home import Config, HomeError
from .init_cmd import PASSPHRASE_ENV, init
from .render import short_did

CATALOGS = Path(__file__).resolve().parent.parent / "examples" / "catalogs"
VENDORS = ["trailhead.toml", "bargainblast.toml", "copper-kettle.toml"]
DATA_RIGHTS_VENDORS = ["trailhead.toml", "summit.toml"]
START_TIMEOUT = 15.0
DEMO_PASSPHRASE = "intentcast-demo"  # throwaway homes, deleted at the end


class DemoError(Exception):
    """The demo could not complete; the message says which step failed."""


@dataclass
class Agent:
    name: str
    home: Path
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]
    log: Path


@dataclass
class Demo:
    root: Path
    say: Any
    agents: list[Agent] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {**os.environ, PASSPHRASE_ENV: DEMO_PASSPHRASE, "PYTHONUNBUFFERED": "1"}

    def spawn(self, name: str, home: Path, args: list[str]) -> Agent:
        log = self.root / f"{name}.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "agents.cli", "--home", str(home), *args],
                stdout=subprocess.PIPE, stderr=err, env=self.env(),
            )
        agent = Agent(name, home, proc, {}, log)
        self.agents.append(agent)
        return agent

    def wait_ready(self, agent: Agent) -> Agent:
        assert agent.proc.stdout is not None
        agent.ready = _ready_line(agent.proc, agent.proc.stdout, agent.name, agent.log)
        return agent

    def stop(self) -> None:
        for agent in self.agents:
            if agent.proc.poll() is None:
                agent.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for agent in self.agents:
            try:
                agent.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                agent.proc.kill()
                agent.proc.wait()
            if agent.proc.stdout is not None:
                agent.proc.stdout.close()


def _ready_line(proc: subprocess.Popen[bytes], out: IO[bytes], name: str, log: Path
                ) -> dict[str, Any]:
    with selectors.DefaultSelector() as sel:
        sel.register(out, selectors.EVENT_READ)
        if not sel.select(timeout=START_TIMEOUT):
            raise DemoError(f"{name} did not start within {START_TIMEOUT:.0f} s (see {log})")
    line = out.readline()
    try:
        ready = json.loads(line)
    except ValueError:
        ready = {}
    if ready.get("event") != "ready":
        proc.poll()
        tail = log.read_text("utf-8", "replace").strip().splitlines()[-1:] if log.exists() else []
        raise DemoError(f"{name} failed to start: {tail[0] if tail else 'no output'}")
    return dict(ready)


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
    os.environ.setdefault(PASSPHRASE_ENV, DEMO_PASSPHRASE)
    if not CATALOGS.is_dir():
        raise DemoError(f"the example catalogs are missing ({CATALOGS})")
    catalogs = DATA_RIGHTS_VENDORS if scenario == "data-rights" else VENDORS
    say(f"intentcast demo: one person and {len(catalogs)} vendors, each its own process on "
        "libp2p\n")
    person_home = demo.root / "person"
    _init(person_home, Config(role="person"))
    homes = []
    for n, catalog in enumerate(catalogs, 1):
        homes.append(demo.root / f"vendor-{n}")
        _init(homes[-1], Config(role="vendor", catalog=str(CATALOGS / catalog)))
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
            from .data_demo import play

            return play(demo, api, vendors, out)
        if assistant is not None:
            from .assistant_demo import negotiate

            return negotiate(demo, api, vendors, bootstrap, assistant, out)
        return _negotiate(demo, api, vendors, out)
    finally:
        api.close()


def _init(home: Path, config: Config) -> str:
    try:
        return init(home, config, fast_kdf=True)
    except HomeError as exc:
        raise DemoError(str(exc)) from exc


def _negotiate(demo: Demo, api: Client, vendors: list[Agent], out: Path | None
               ) -> dict[str, Any]:
    say = demo.say
    outdoor = sum("outdoor" in v.ready["topics"] for v in vendors)
    topic = "/intentcast/1/intents/outdoor"
    api.call("GET", "/v1/peers", params={"topic": topic, "count": outdoor, "wait": 10})
    say(f"\n1. The person posts an intent through the daemon's API (signed with a key made\n"
        f"   for this intent alone) and it goes out on {topic}")
    intent = api.call("POST", "/v1/intents", json={
        "category": "outdoor.camping.tents",
        "description": "Two-person backpacking tent, under 2 kg",
        "max_price": "200.00", "currency": "EUR", "country": "DE", "postcode_prefix": "10",
        "disclosed": {"size": "2 persons"}, "expires_in": 3600,
    })
    say(f"   intent {intent['id']}: {intent['description']}, at most 200.00 EUR")
    offers = api.call("GET", f"/v1/intents/{intent['id']}/offers",
                      params={"wait": 15, "count": outdoor})
    say("\n2. Offers arrive over direct streams from the vendors whose catalogs match:")
    for o in offers:
        say(f"   {short_did(o['vendor'])}  {o['title']}  "
            f"{format_amount(o['price_minor'], o['currency'])}")
        if o["state"] == "rejected":
            say(f"      refused at once: its data terms break the person's terms "
                f"({o['note'].split(':')[0]})")
    say("   (the kitchen shop never heard the intent: it subscribes to kitchen only)")
    open_offers = [o for o in offers if o["state"] == "buyer_turn"]
    if not open_offers:
        raise DemoError("no vendor made an acceptable offer")
    best = min(open_offers, key=lambda o: o["price_minor"])
    say("\n3. The person counters the best offer at 180.00 EUR")
    answer = api.call("POST", f"/v1/offers/{best['ref']}/counter",
                      json={"price": "180.00", "note": "would you do 180?"})
    say(f"   the vendor's policy answers {format_amount(answer['price_minor'], 'EUR')}")
    say("\n4. The person accepts; the vendor signs the agreement, the person's agent checks it,")
    say("   stores it, then countersigns")
    agreement = api.call("POST", f"/v1/offers/{best['ref']}/accept")
    raw = bytes.fromhex(agreement["envelope_hex"])
    verified = envelope.open(raw, now=int(time.time()))
    vendor = next(v for v in vendors if v.ready["did"] == agreement["vendor"])
    kept = _wait_for_agreement(vendor.home / "store.sqlite", agreement["id"])
    say(f"\n5. Agreement {agreement['id']}: "
        f"{format_amount(agreement['price_minor'], agreement['currency'])}, "
        f"{len(verified.signers)} valid signatures (COSE_Sign)")
    say(f"   stored by the person and by {vendor.ready['name']} "
        f"({'identical bytes' if kept == raw else 'DIFFERENT bytes'})")
    if kept != raw:
        raise DemoError("the vendor stored a different agreement")
    if out is not None:
        _write_out(out, demo, vendors, raw)
        say(f"   every envelope is under {out}/; try: intentcast inspect "
            f"{out / 'person' / 'agreement.cbor'}")
    return {
        "intent_id": intent["id"],
        "offers": [{"vendor": o["vendor"], "price_minor": o["price_minor"],
                    "currency": o["currency"]} for o in offers],
        "agreement": {"id": agreement["id"], "buyer": agreement["buyer"],
                      "vendor": agreement["vendor"], "price_minor": agreement["price_minor"],
                      "currency": agreement["currency"], "signatures": len(verified.signers)},
    }


def _wait_for_agreement(store: Path, agreement_id: str) -> bytes:
    """The vendor stores the countersigned agreement as soon as it arrives; look for it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT raw FROM agreements WHERE id = ?", (agreement_id,)).fetchone()
        finally:
            db.close()
        if row:
            return bytes(row[0])
        time.sleep(0.05)
    raise DemoError(f"the vendor did not store agreement {agreement_id}")


def _write_out(out: Path, demo: Demo, vendors: list[Agent], agreement: bytes) -> None:
    parties = [("person", demo.root / "person")] + [
        (v.name, v.home) for v in vendors]
    for party, home in parties:
        folder = out / party
        folder.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(f"file:{home / 'store.sqlite'}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT type, raw FROM envelopes WHERE direction = 'in' "
                              "ORDER BY at, rowid").fetchall()
        finally:
            db.close()
        for n, (kind, raw) in enumerate(rows, 1):
            (folder / f"{n:02d}-{kind}.cbor").write_bytes(bytes(raw))
    (out / "person" / "agreement.cbor").write_bytes(agreement)
    assert cose.parse(agreement).multi
