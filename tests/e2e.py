"""Real processes for the end-to-end tests: agents started with the real CLI on
127.0.0.1, watched through the JSON lines they print and their HTTP API.

Waiting is always for an event (a line, an HTTP answer) with a deadline, never
a fixed sleep. Every process is stopped when the test ends, whatever happened.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from intentcast.agents.person.client import Client
from intentcast.agents.runtime.home import PASSPHRASE_ENV, Config
from intentcast.agents.runtime.setup import init

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ROOT / "examples" / "catalogs"
PASSPHRASE = "e2e-passphrase"
EPHEMERAL = "/ip4/127.0.0.1/tcp/0"
"""Where test agents listen unless a test names a port: any free one, on loopback."""


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    _buffer: bytes = b""
    _arrived: dict[int, float] = field(default_factory=dict)

    def _lines(self, timeout: float) -> list[dict[str, Any]]:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return []
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            raise AssertionError(f"{self.name} exited: {self.tail()}")
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        events = [json.loads(line) for line in lines if line.strip()]
        now = time.monotonic()
        self._arrived.update((id(e), now) for e in events)
        return events

    def net_events(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The network events the agent logged (intentcast.net lines: JSON, stamped `at` on
        the machine's monotonic clock), from `since` on."""
        found = []
        text = self.log.read_text("utf-8", "replace") if self.log.exists() else ""
        for line in text.splitlines():
            _, sep, body = line.partition("intentcast.net: ")
            if sep and body.startswith("{"):
                try:
                    event = json.loads(body)
                except ValueError:
                    continue
                if event.get("at", 0.0) >= since:
                    found.append(event)
        return found

    def connected_peers(self) -> set[str]:
        """The peers this agent is connected to, from the network events it logged."""
        peers: set[str] = set()
        for e in self.net_events():
            if e.get("event") == "peer_connected":
                peers.add(e["peer_id"])
            elif e.get("event") == "peer_disconnected":
                peers.discard(e["peer_id"])
        return peers

    def arrival(self, event: dict[str, Any]) -> float:
        """When the test read this event (time.monotonic())."""
        return self._arrived[id(event)]

    def expect(self, event: str, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        """The first event of this kind (matching `match`), seen before or arriving now."""
        deadline = time.monotonic() + timeout
        while True:
            for seen in self.events:
                if seen.get("event") == event and all(seen.get(k) == v for k, v in match.items()):
                    return seen
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no {event} {match} in {timeout} s; "
                                     f"saw {self.events[-5:]}; log: {self.tail()}")
            self.events += self._lines(left)

    def drain(self, timeout: float = 0.2) -> list[dict[str, Any]]:
        self.events += self._lines(timeout)
        return self.events

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        self.proc.stdin.flush()

    def tail(self) -> str:
        text = self.log.read_text("utf-8", "replace") if self.log.exists() else ""
        return "\n".join(text.strip().splitlines()[-8:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} ignored signal {sig}") from None
        finally:
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()


@dataclass
class Cluster:
    root: Path
    procs: list[Proc] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)

    def api(self, home: Path) -> Client:
        """The person's API client, closed with the cluster."""
        self.clients.append(api(home))
        return self.clients[-1]

    def env(self) -> dict[str, str]:
        return {**os.environ, PASSPHRASE_ENV: PASSPHRASE, "PYTHONUNBUFFERED": "1"}

    @staticmethod
    def python() -> list[str]:
        """The real `intentcast` command, run from this checkout's interpreter."""
        return [sys.executable, "-m", "intentcast.agents.cli"]

    def forget(self, handle: Proc) -> None:
        """Stop tracking a process that has exited (killed by the test), closing its pipes."""
        self.procs.remove(handle)
        for pipe in (handle.proc.stdin, handle.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def spawn(self, name: str, args: list[str], *, stdin: bool = False) -> Proc:
        log = self.root / f"{name}.log"
        with log.open("ab") as err:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=self.env(),
                                    stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                    cwd=ROOT)
        handle = Proc(name, proc, log)
        self.procs.append(handle)
        return handle

    def home(self, name: str, config: Config) -> Path:
        home = self.root / name
        init(home, replace(config, listen=config.listen or EPHEMERAL), PASSPHRASE,
             fast_kdf=True)
        return home

    def person(self, name: str = "person", *extra: str) -> tuple[Proc, Path]:
        home = self.root / name
        if not (home / "store.sqlite").exists():
            self.home(name, Config(role="person"))
        proc = self.spawn(name, [sys.executable, "-m", "intentcast.agents.cli", "--home", str(home),
                                 "daemon", *extra])
        proc.expect("ready")
        return proc, home

    def vendor(self, name: str, catalog: str, *bootstrap: str, mdns: bool = False
               ) -> tuple[Proc, Path]:
        home = self.home(name, Config(role="vendor", catalog=str(CATALOGS / catalog)))
        args = [sys.executable, "-m", "intentcast.agents.cli", "--home", str(home), "vendor", "run"]
        if mdns:
            args.append("--mdns")
        for addr in bootstrap:
            args += ["--bootstrap", addr]
        proc = self.spawn(name, args)
        proc.expect("ready")
        return proc, home

    def assistant_home(self, name: str = "assistant") -> tuple[Path, str]:
        """A new assistant home and the assistant's DID."""
        home = self.root / name
        return home, init(home, Config(role="assistant", listen=EPHEMERAL), PASSPHRASE,
                          fast_kdf=True)

    def assistant(self, home: Path, spec: str, grant: dict[str, Any], *bootstrap: str,
                  name: str = "assistant") -> Proc:
        """Run `intentcast assistant run` with the grant file the person's API made."""
        grant_file = self.root / f"{name}-grant.json"
        grant_file.write_text(json.dumps(grant["file"]))
        args = [sys.executable, "-m", "intentcast.agents.cli",
                "--home", str(home), "assistant", "run",
                spec, "--delegation", str(grant_file)]
        for addr in bootstrap:
            args += ["--bootstrap", addr]
        proc = self.spawn(name, args)
        proc.expect("ready", timeout=40)
        return proc

    def rogue(self, *connect: str, name: str = "rogue") -> Proc:
        args = [sys.executable, str(ROOT / "tests" / "peers" / "rogue.py")]
        for addr in connect:
            args += ["--connect", addr]
        proc = self.spawn(name, args, stdin=True)
        proc.expect("ready")
        return proc

    def listener(self, name: str, *connect: str, options: tuple[str, ...] = (),
                 ready: bool = True) -> Proc:
        """A lean gossip subscriber (tests/peers/listener.py): the real node, no store."""
        args = [sys.executable, str(ROOT / "tests" / "peers" / "listener.py"), *options]
        for addr in connect:
            args += ["--connect", addr]
        proc = self.spawn(name, args, stdin=True)
        if ready:
            proc.expect("ready", timeout=60)
        return proc

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for proc in self.procs:
            if proc.proc.poll() is None:
                proc.proc.kill()
                proc.proc.wait()
            for pipe in (proc.proc.stdin, proc.proc.stdout):
                if pipe is not None and not pipe.closed:
                    pipe.close()


def api(home: Path) -> Client:
    return Client(home)


TENT = {"category": "outdoor.camping.tents", "description": "Two-person backpacking tent",
        "max_price": "200.00", "currency": "EUR", "expires_in": 600}
