"""The demo's harness: agents as real OS processes, their homes, and what they stored.

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
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from intentcast.agents.runtime.home import PASSPHRASE_ENV, Config, HomeError
from intentcast.agents.runtime.setup import init
from intentcast.protocol import cose

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CATALOGS = EXAMPLES / "catalogs"
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
                [sys.executable, "-m", "intentcast.agents.cli", "--home", str(home), *args],
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


def init_home(home: Path, config: Config) -> str:
    """A throwaway home for the demo (cheap key derivation, the demo's passphrase), on any
    free port of 127.0.0.1 unless the config names one."""
    try:
        return init(home, replace(config, listen=config.listen or "/ip4/127.0.0.1/tcp/0"),
                    DEMO_PASSPHRASE, fast_kdf=True)
    except HomeError as exc:
        raise DemoError(str(exc)) from exc


def wait_for_agreement(store: Path, agreement_id: str) -> bytes:
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


def write_out(out: Path, demo: Demo, vendors: list[Agent], agreement: bytes) -> None:
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
