"""The receive/expire/refuse loop of one negotiation over one channel, written once.

The buyer (agents/conversation/buyer.py) and the vendor's responder both drive
their state machine through a `Conversation`: it waits for the counterparty's
next frame until the negotiation's deadline, lets the state machine verify and
apply it, and expires the negotiation when the deadline passes or the peer
goes away. What a refused frame means (ignore it, or answer and stop) is the
shell's call, through `on_refused`; a peer that keeps sending frames that do not
fit (`max_refused` of them) is hung up on, so garbage cannot hold a stream open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from intentcast.agents.conversation.channel import Channel
from intentcast.protocol import IntentcastError, Negotiation, Verified

MIN_WAIT = 1.0
"""Seconds a receive waits at least, even when the deadline is closer."""


async def first_frame(channel: Channel, seconds: float) -> bytes | None:
    """The frame that opens a stream, or None if the peer sends none in time (or closes)."""
    with trio.move_on_after(seconds):
        return await channel.receive()
    return None


def unix_clock(clock: Callable[[], float]) -> Callable[[], int]:
    """Whole Unix seconds from a clock (time.time, or trio's in tests): the protocol's time."""
    return lambda: int(clock())


class Conversation:
    def __init__(self, channel: Channel, negotiation: Negotiation, now: Callable[[], int], *,
                 on_refused: Callable[[IntentcastError], Awaitable[bool]],
                 max_refused: int | None = None) -> None:
        self.channel = channel
        self.negotiation = negotiation
        self.now = now
        self.on_refused = on_refused
        """Told of every frame the state machine refused; True ends the conversation."""
        self.max_refused = max_refused
        self.refused = 0
        self.timed_out = False
        self.peer_closed = False
        self.misbehaved = False
        """Ended because the peer sent `max_refused` frames that did not fit."""

    async def next_move(self) -> tuple[bytes, Verified] | None:
        """The counterparty's next accepted move (its bytes and what they say), or None once
        the negotiation is over: ended by a move, expired, closed by the peer, or refused."""
        n = self.negotiation
        while n.is_open:
            data = None
            with trio.move_on_after(max(MIN_WAIT, n.deadline - self.now())) as waiting:
                data = await self.channel.receive()
            if data is None:
                self.timed_out = waiting.cancelled_caught
                self.peer_closed = not self.timed_out
                n.expire(now=max(self.now(), n.deadline))
                return None
            try:
                return data, n.receive(data, now=self.now())
            except IntentcastError as exc:
                self.refused += 1
                if await self.on_refused(exc):
                    return None
                if self.max_refused is not None and self.refused >= self.max_refused:
                    self.misbehaved = True
                    return None
        return None
