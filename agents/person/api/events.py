"""`GET /v1/events`: everything the person's agent sees, as server-sent events.

One stream for the page, `intentcast watch` and `offers --wait` (agents/person/events.py
makes the events). Asked with `Accept: text/event-stream`, it streams; asked for anything
else (a script, a test), it answers the events it holds as one JSON document and ends.

The stream opens with a `hello` event (is it a resumption, did the client miss events),
then each event as `id:`, `event:` (its kind) and `data:` (one JSON object), in order. A
client resumes with `Last-Event-ID` (what EventSource sends when it reconnects) or
`?after=ID`; `?after=now` starts with what comes next. A client that missed events (the
daemon restarted, or the bounded log dropped some while it was away) is told so in
`hello` (`missed: true`) and should read the state again. A comment every PING seconds
lets both ends notice a dead connection. When the daemon stops, a `closing` event ends the
stream cleanly.

Nothing waits for a client: the log is a bounded ring the daemon appends to, and each
stream reads it at its own pace in its own connection task; a client that stops reading
is cut off by the server's send timeout (api/serve.py). At most MAX_STREAMS are open at
once, so streams never take all of the API's connections.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

import json
from collections.abc import AsyncGenerator
from typing import Annotated, Any

import trio
from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.person.api.responses import errors
from intentcast.agents.person.events import Event, EventLog
from intentcast.agents.runtime.render import jsonable

MAX_STREAMS = 16
"""Event streams open at once (each holds one of the API's 64 connections)."""
PING = 15.0
"""Seconds between keep-alive comments on a quiet stream."""
RETRY_MS = 2000
"""How long EventSource waits before it reconnects, in milliseconds."""
STREAM = "text/event-stream"

EventId = Annotated[str, Query(max_length=64, description=(
    "resume after this event id; `now`: only what comes next"))]


class HeldEvents(BaseModel):
    """The events the daemon holds (the JSON form of the stream)."""

    events: list[dict[str, Any]] = Field(description=(
        "oldest first; each has `id`, `kind`, `at` (Unix seconds) and the kind's fields"))
    last_id: str = Field(description="resume after this id to get only what comes next")
    missed: bool = Field(description="the id given is from before a restart, or the "
                         "daemon dropped events since it: read the state again")


def frame(kind: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    """One server-sent event: `id`, `event` and a one-line JSON `data`."""
    head = f"id: {event_id}\n" if event_id else ""
    body = json.dumps(jsonable(data), separators=(",", ":"), ensure_ascii=False)
    return f"{head}event: {kind}\ndata: {body}\n\n".encode()


def event_frame(event: Event) -> bytes:
    return frame(event.kind, event.json(), event.id)


class Streams:
    """How many event streams are open."""

    def __init__(self) -> None:
        self.open = 0


class EventStream(StreamingResponse):
    """A StreamingResponse that counts itself open for exactly as long as it runs, and
    closes its generator when the client leaves (it may be left suspended at a `yield`)."""

    def __init__(self, content: AsyncGenerator[bytes, None], streams: Streams) -> None:
        super().__init__(content, media_type=STREAM, headers={"X-Accel-Buffering": "no"})
        self.content = content
        self.streams = streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.streams.open += 1
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.streams.open -= 1
            with trio.CancelScope(shield=True):
                await self.content.aclose()


async def follow(log: EventLog, start: str | None, resumed: bool
                 ) -> AsyncGenerator[bytes, None]:
    """The stream's bytes: hello, the events after `start`, then each one as it comes."""
    missed = log.missed(start) if resumed else False
    last = None if missed else start
    hello = {"kind": "hello", "run": log.run, "resumed": resumed and not missed,
             "missed": missed, "last_id": log.last_id}
    yield f"retry: {RETRY_MS}\n".encode() + frame("hello", hello, last)
    while True:
        pending: list[Event] | None = None
        with trio.move_on_after(PING):
            pending = await log.wait(last)
        if pending is None:
            yield b": ping\n\n"
            continue
        if not pending:  # the log closed: the daemon is stopping
            yield frame("closing", {"kind": "closing", "why": "the daemon is stopping"})
            return
        for event in pending:
            last = event.id
            yield event_frame(event)


def add_routes(app: FastAPI, agent: PersonAgent, guarded: list[Any]) -> None:
    log = agent.events
    streams = Streams()

    @app.get("/v1/events", dependencies=guarded, response_model=HeldEvents,
             responses={200: {"content": {STREAM: {"schema": {
                 "type": "string", "description": "server-sent events: hello, then each "
                 "event (id, event: its kind, data: one JSON object), closing at shutdown"}}}},
                 **errors(422, 503)})
    async def events(request: Request, after: EventId | None = None,
                     last_event_id: Annotated[str | None, Header(
                         max_length=64, description="what EventSource sends to resume")
                     ] = None) -> Response:
        """Everything the person's agent sees. With `Accept: text/event-stream` a stream
        that stays open; otherwise the events held, as JSON."""
        start = last_event_id or after
        resumed = start is not None and start != "now"
        if start == "now":
            start = log.last_id
        if STREAM not in request.headers.get("accept", ""):
            missed = log.missed(start) if resumed else False
            held = log.since(None if missed else start)
            return JSONResponse({"events": [jsonable(e.json()) for e in held],
                                 "last_id": log.last_id, "missed": missed})
        if streams.open >= MAX_STREAMS:
            raise AgentError(Kind.UNAVAILABLE, f"{MAX_STREAMS} event streams are open already: "
                             "close a page or an `intentcast watch`")
        return EventStream(follow(log, start, resumed), streams)
