"""Keeping the peers a node wants connected: dial them, and dial again when a connection drops.

One task per wanted peer. While connected it waits for the connection to drop;
while not, it dials and, on failure, waits with capped exponential backoff
(0.25 s doubling to 30 s, each pause stretched by up to a tenth at random so
that peers restarted together do not dial in lockstep). A dial is tried at once
when the peer's addresses change or it connects to us by itself. The peers a
node was told about (bootstrap, `intentcast connect`) are kept for good; the
ones it remembers from its peer book are given up after a day of failing.

No libp2p here: the node is a `Dialer`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import trio

log = logging.getLogger("intentcast.node")

MAX_KEPT = 64
GIVE_UP = 24 * 3600.0


class Dialer(Protocol):
    def is_connected(self, peer_id: str) -> bool: ...

    async def dial(self, peer_id: str, addrs: list[str]) -> bool:
        """Connect to the peer through any of `addrs` (or what else is known); True if up."""
        ...

    async def wait_disconnected(self, peer_id: str) -> None:
        """Return once no connection to the peer remains (at once if there is none)."""
        ...


@dataclass(frozen=True)
class Backoff:
    first: float = 0.25
    cap: float = 30.0
    factor: float = 2.0
    jitter: float = 0.1

    def delays(self, rng: random.Random) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay * (1 + rng.uniform(0, self.jitter))
            delay = min(delay * self.factor, self.cap)


@dataclass
class _Wanted:
    addrs: list[str]
    forever: bool
    wake: trio.Event = field(default_factory=trio.Event)


class Keeper:
    def __init__(self, dialer: Dialer, *, backoff: Backoff | None = None,
                 give_up: float = GIVE_UP, rng: random.Random | None = None,
                 clock: Callable[[], float] = trio.current_time) -> None:
        self.dialer = dialer
        self.backoff = backoff or Backoff()
        self.give_up = give_up
        self.rng = rng or random.Random()
        self.clock = clock
        self._wanted: dict[str, _Wanted] = {}
        self._nursery: trio.Nursery | None = None

    def start(self, nursery: trio.Nursery) -> None:
        """Keep peers from now on, with one task each in `nursery`."""
        self._nursery = nursery

    def wanted(self) -> list[str]:
        return list(self._wanted)

    def want(self, peer_id: str, addrs: list[str], *, forever: bool = False) -> bool:
        """Keep `peer_id` connected from now on; False if the node keeps too many already."""
        found = self._wanted.get(peer_id)
        if found is not None:
            new = [a for a in addrs if a not in found.addrs]
            found.addrs = (new + found.addrs)[:8]
            found.forever = found.forever or forever
            if new:
                self.poke(peer_id)
            return True
        if len(self._wanted) >= MAX_KEPT and not forever:
            return False
        if self._nursery is None:
            raise RuntimeError("the keeper is not running")
        self._wanted[peer_id] = _Wanted(list(addrs)[:8], forever)
        self._nursery.start_soon(self._keep, peer_id)
        return True

    def poke(self, peer_id: str) -> None:
        """Something changed for this peer (it connected, or has new addresses): look now."""
        found = self._wanted.get(peer_id)
        if found is not None:
            found.wake.set()

    async def _keep(self, peer_id: str) -> None:
        wanted = self._wanted[peer_id]
        delays = self.backoff.delays(self.rng)
        failing_since: float | None = None
        while True:
            wanted.wake = trio.Event()
            if self.dialer.is_connected(peer_id):
                failing_since = None
                delays = self.backoff.delays(self.rng)
                await self.dialer.wait_disconnected(peer_id)
                # A dropped connection is dialled again after the first pause, not at
                # once: the peer may just be restarting.
                with trio.move_on_after(next(delays)):
                    await wanted.wake.wait()
                continue
            if await self.dialer.dial(peer_id, list(wanted.addrs)):
                continue
            now = self.clock()
            failing_since = now if failing_since is None else failing_since
            if not wanted.forever and now - failing_since > self.give_up:
                log.info("giving up on %s after %.0f s of failed dials", peer_id,
                         now - failing_since)
                del self._wanted[peer_id]
                return
            with trio.move_on_after(next(delays)):
                await wanted.wake.wait()
