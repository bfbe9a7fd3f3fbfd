"""Everything the person's agent sees, as one ordered, resumable stream of events.

What binds the person or discloses their data is an audit entry, and becomes an
event once its transaction has committed (Store.on_audit): durable first, then
announced. What does not bind (an offer arrived, a vendor answered a counter, an
offer was refused for a terms conflict) is emitted where it happens. The page,
`intentcast watch` and `offers --wait` follow the same stream (`GET /v1/events`,
server-sent events), and each event is also one log line at INFO.

The log keeps the last `capacity` events in memory. Ids count up from 1 within
a run and carry the run's start (`<run>-<n>`), so a client resuming with an id
from an earlier run gets everything the current run still holds.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import trio

from intentcast.agents.store import audit

log = logging.getLogger("intentcast.events")

CAPACITY = 1000

AUDITED: dict[str, str] = {
    "intent_sent": "intent_posted",
    "offer_accepted": "offer_accepted",
    "agreement_signed": "agreement_signed",
    "agreement_acknowledged": "agreement_acknowledged",
    "agreement_void": "agreement_void",
    "disclosed": "disclosure_sent",
    "deletion_confirmed": "deletion_receipt",
    "consent_breach": "vendor_in_breach",
    "credit_earned": "credit_earned",
    "credit_presented": "credit_presented",
    "credit_spent": "credit_spent",
    "assistant_granted": "assistant_granted",
    "assistant_revoked": "assistant_revoked",
    "assistant_connected": "assistant_connected",
    "assistant_action": "assistant_move",
    "assistant_report": "assistant_report",
    "attribute_set": "profile_changed",
}
"""Audit kinds that are events, and the event's name (the audit log keeps its own)."""


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    at: int
    data: dict[str, Any]

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "at": self.at, **self.data}


class EventLog:
    def __init__(self, *, capacity: int = CAPACITY, run: str | None = None) -> None:
        self.run = run or f"{int(time.time()):x}"
        self._events: collections.deque[Event] = collections.deque(maxlen=capacity)
        self._next = 1
        self._changed = trio.Event()

    def emit(self, kind: str, at: int, **data: Any) -> Event:
        event = Event(f"{self.run}-{self._next}", kind, at, data)
        self._next += 1
        self._events.append(event)
        self._changed.set()
        self._changed = trio.Event()
        log.info("%s %s", kind, " ".join(f"{k}={v}" for k, v in data.items()
                                         if not isinstance(v, dict | list)))
        return event

    def on_audit(self, entry: audit.Entry) -> None:
        """Store.on_audit: an audit entry that is an event, now that it is durable."""
        kind = AUDITED.get(entry.kind)
        if kind is not None:
            self.emit(kind, entry.at, **entry.data)

    def since(self, last_id: str | None) -> list[Event]:
        """Events after `last_id` still held (all of them for an id from another run)."""
        if not last_id:
            return list(self._events)
        run, _, seq = last_id.rpartition("-")
        if run != self.run or not seq.isdigit():
            return list(self._events)
        after = int(seq)
        return [e for e in self._events if int(e.id.rpartition("-")[2]) > after]

    async def follow(self, last_id: str | None = None) -> AsyncIterator[Event]:
        """Events after `last_id`, then each new one as it comes, for ever."""
        pending = self.since(last_id)
        while True:
            for event in pending:
                last_id = event.id
                yield event
            changed = self._changed
            pending = self.since(last_id)
            if not pending:
                await changed.wait()
                pending = self.since(last_id)

    def __len__(self) -> int:
        return len(self._events)
