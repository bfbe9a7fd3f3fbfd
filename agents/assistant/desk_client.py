"""The assistant's line to the person's daemon: renew links, file copies, hear events.

Every request is its own `/intentcast/assistant/1` stream with one answer; the
event stream is the `hello` stream, kept open and reopened whenever it breaks:
at once when the node reconnects to the daemon (a restarted daemon dials its
assistants itself, from its peer book, wherever it moved to), else after a
growing pause (at most 10 s).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

from intentcast.agents.conversation.channel import Channel
from intentcast.agents.conversation.control import (
    ControlError,
    Error,
    Hello,
    Link,
    Ok,
    Record,
    Renew,
    Welcome,
    exchange,
    pack,
    read_answer,
)
from intentcast.agents.net.node import ASSISTANT_PROTOCOL

log = logging.getLogger("intentcast.desk_client")

REQUEST_TIMEOUT = 10.0


class StreamOpener(Protocol):
    def multiaddrs(self) -> list[str]: ...
    async def open_stream(self, peer_id: str, addrs: list[str], protocol: str
                          ) -> Channel: ...
    async def wait_connected(self, peer_id: str) -> None:
        """Return once a new connection to the peer is up."""
        ...


class DeskClient:
    def __init__(self, node: StreamOpener, peer_id: str, addrs: list[str], grant: bytes,
                 on_state: Callable[[str], None] | None = None) -> None:
        self.node = node
        self.peer_id = peer_id
        self.addrs = addrs
        self.grant = grant
        self.on_state = on_state
        """Told "connected" when the daemon welcomes us, "disconnected" when the line breaks."""
        self.connected = trio.Event()

    async def _ask(self, frame: bytes) -> Any:
        with trio.fail_after(REQUEST_TIMEOUT):
            stream = await self.node.open_stream(self.peer_id, self.addrs, ASSISTANT_PROTOCOL)
            answer = await exchange(stream, frame, peer="the person's agent")
        return read_answer(answer)

    async def renew(self, intent_id: str) -> bytes:
        answer = await self._ask(pack(Renew(intent_id=intent_id)))
        if isinstance(answer, Link):
            return answer.link
        raise ControlError(answer.error if isinstance(answer, Error) else f"got {answer.op}")

    async def record(self, raw: bytes) -> None:
        answer = await self._ask(pack(Record(envelope=raw)))
        if not isinstance(answer, Ok):
            raise ControlError(answer.error if isinstance(answer, Error) else f"got {answer.op}")

    async def events(self, handle: Callable[[Any], Awaitable[None]],
                     refused: Callable[[str], None]) -> None:
        """Hold the event stream open for good, handing each event to `handle`."""
        pause = 0.5
        while True:
            try:
                await self._listen(handle)
                pause = 0.5
            except ControlError as exc:
                refused(str(exc))
            except Exception as exc:  # the daemon is down or unreachable: try again
                log.info("event stream to the person's agent broke: %s", exc)
            if self.connected.is_set() and self.on_state is not None:
                self.on_state("disconnected")
            self.connected = trio.Event()
            with trio.move_on_after(pause):
                await self.node.wait_connected(self.peer_id)
            pause = min(pause * 2, 10.0)

    async def _listen(self, handle: Callable[[Any], Awaitable[None]]) -> None:
        stream = await self.node.open_stream(self.peer_id, self.addrs, ASSISTANT_PROTOCOL)
        try:
            await stream.send(pack(Hello(grant=self.grant, addrs=self.node.multiaddrs()[:8])))
            while (frame := await stream.receive()) is not None:
                event = read_answer(frame)
                if isinstance(event, Error):
                    raise ControlError(event.error)
                if isinstance(event, Welcome):
                    self.connected.set()
                    if self.on_state is not None:
                        self.on_state("connected")
                await handle(event)
        finally:
            await stream.close()
