"""Intents waiting for the vendor's answer: bounded, and fair across the buyers they name.

Anyone can publish intents whose `reply_to` is themselves (to hold the vendor's
streams idle) or a tarpit (an address that accepts TCP and never speaks).
Every intent the vendor means to answer becomes a ticket, queued per
destination (the reply address's host and port, or its peer id), and tickets
start round-robin across destinations, each within limits:

- `slots` negotiations at once in all, `per_destination` and `per_peer` of them
  for one destination or one reply peer id, `per_ip` for one IP however many
  ports it uses;
- `dials` dials at once, `dials_per_destination` towards one destination, each
  given up after `dial_timeout` seconds; a destination whose dials are all in
  flight gets no new ticket started;
- `queued` tickets waiting in all and `queued_per_destination` for one: past
  that a ticket is dropped and counted (`intake_full`).

So an attacker holds at most its destination's share, and an honest intent to
another destination starts within one round of the queue.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import trio

from intentcast.protocol import Intent, Verified


@dataclass(frozen=True)
class Limits:
    slots: int = 64
    per_destination: int = 8
    per_peer: int = 8
    per_ip: int = 32
    dials: int = 16
    dials_per_destination: int = 2
    dial_timeout: float = 5.0
    queued: int = 1024
    queued_per_destination: int = 64


_HOST = re.compile(r"^/(?:ip4|ip6|dns|dns4|dns6)/([^/]+)/(?:tcp|udp)/(\d+)")


def destination(intent: Intent) -> tuple[str, str]:
    """(destination, ip) of an intent's reply address: its first host and port, or the
    peer id when it names no address (or only relayed ones, where the relay's IP is
    shared by everyone it serves)."""
    for addr in intent.reply_to.addrs[:1]:
        match = _HOST.match(addr)
        if match and "/p2p-circuit" not in addr:
            return f"{match.group(1)}:{match.group(2)}", match.group(1)
    return f"peer:{intent.reply_to.peer_id}", ""


@dataclass(eq=False)
class Ticket:
    verified: Verified
    destination: str
    ip: str
    peer: str
    _dialled: Callable[[], None] = field(default=lambda: None, repr=False)

    @property
    def intent(self) -> Intent:
        intent = self.verified.message
        assert isinstance(intent, Intent)
        return intent

    def dialled(self) -> None:
        """The dial is over (connected or not): the destination may be dialled again."""
        self._dialled()
        self._dialled = lambda: None


Negotiate = Callable[[Ticket], Awaitable[None]]


class Intake:
    def __init__(self, limits: Limits | None = None, *,
                 on_drop: Callable[[str], None] = lambda _: None) -> None:
        self.limits = limits or Limits()
        self.on_drop = on_drop
        self._queues: dict[str, collections.deque[Ticket]] = {}
        self._order: collections.deque[str] = collections.deque()
        self._queued = 0
        self._active = 0
        self._dialing = 0
        self._by_destination: collections.Counter[str] = collections.Counter()
        self._by_peer: collections.Counter[str] = collections.Counter()
        self._by_ip: collections.Counter[str] = collections.Counter()
        self._dialing_to: collections.Counter[str] = collections.Counter()
        self._running: set[Ticket] = set()
        self._changed = trio.Event()
        self.dropped = 0

    def ticket(self, verified: Verified) -> Ticket:
        intent = verified.message
        assert isinstance(intent, Intent)
        where, ip = destination(intent)
        return Ticket(verified, where, ip, intent.reply_to.peer_id)

    def submit(self, ticket: Ticket) -> bool:
        """Queue a ticket; False (and counted) when its destination or the queue is full."""
        queue = self._queues.get(ticket.destination)
        if self._queued >= self.limits.queued or (
                queue is not None and len(queue) >= self.limits.queued_per_destination):
            self.dropped += 1
            self.on_drop("intake_full")
            return False
        if queue is None:
            queue = self._queues[ticket.destination] = collections.deque()
            self._order.append(ticket.destination)
        queue.append(ticket)
        self._queued += 1
        self._wake()
        return True

    def tickets(self) -> Iterator[Ticket]:
        """Every ticket queued or running: the intents this vendor is answering."""
        yield from self._running
        for queue in self._queues.values():
            yield from queue

    def __len__(self) -> int:
        return self._queued + self._active

    async def serve(self, negotiate: Negotiate) -> None:
        """Start tickets as the limits allow, for ever."""
        async with trio.open_nursery() as nursery:
            while True:
                ticket = self._next()
                if ticket is None:
                    await self._changed.wait()
                    self._changed = trio.Event()
                    continue
                nursery.start_soon(self._run, negotiate, ticket)

    def _wake(self) -> None:
        self._changed.set()

    def _next(self) -> Ticket | None:
        limits = self.limits
        if self._active >= limits.slots or self._dialing >= limits.dials:
            return None
        for _ in range(len(self._order)):
            where = self._order[0]
            self._order.rotate(-1)
            queue = self._queues[where]
            if (self._by_destination[where] >= limits.per_destination
                    or self._dialing_to[where] >= limits.dials_per_destination):
                continue
            for index, ticket in enumerate(queue):
                if self._by_peer[ticket.peer] < limits.per_peer and (
                        not ticket.ip or self._by_ip[ticket.ip] < limits.per_ip):
                    del queue[index]
                    if not queue:
                        del self._queues[where]
                        self._order.remove(where)
                    self._queued -= 1
                    self._start(ticket)
                    return ticket
        return None

    def _start(self, ticket: Ticket) -> None:
        self._active += 1
        self._dialing += 1
        self._by_destination[ticket.destination] += 1
        self._by_peer[ticket.peer] += 1
        self._by_ip[ticket.ip] += 1
        self._dialing_to[ticket.destination] += 1
        self._running.add(ticket)

        def dialled() -> None:
            self._dialing -= 1
            _less(self._dialing_to, ticket.destination)
            self._wake()

        ticket._dialled = dialled

    async def _run(self, negotiate: Negotiate, ticket: Ticket) -> None:
        try:
            await negotiate(ticket)
        finally:
            ticket.dialled()
            self._running.discard(ticket)
            self._active -= 1
            _less(self._by_destination, ticket.destination)
            _less(self._by_peer, ticket.peer)
            _less(self._by_ip, ticket.ip)
            self._wake()


def _less(counter: collections.Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
