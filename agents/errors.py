"""Errors the agents raise for what a person (or their API client) asked: a kind, not a status.

The kind says whose move it is (ask for something that exists, wait, fix the
input, ...); the API maps kinds to HTTP statuses in one table at its edge
(agents/person/api/app.py), the CLI prints the message. `reason` carries the
protocol's reason code when a protocol rule refused the request.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    NOT_FOUND = "not_found"
    """No such intent, offer, grant, consent, ... ."""
    CONFLICT = "conflict"
    """It exists, but its state does not allow this now."""
    INVALID = "invalid"
    """The request itself is malformed or breaks a rule."""
    FORBIDDEN = "forbidden"
    """Allowed in general, not to this party (a revoked assistant, say)."""
    UNAUTHENTICATED = "unauthenticated"
    """No or a wrong credential."""
    UNAVAILABLE = "unavailable"
    """Something this agent depends on is out of reach; trying again may work."""
    PEER_FAILED = "peer_failed"
    """The counterparty did not do its part (it did not sign, did not answer)."""


class AgentError(Exception):
    """A request the agent cannot carry out, and which kind of problem it is."""

    def __init__(self, kind: Kind, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.reason = reason
        """The protocol's reason code when a protocol rule refused it, else empty."""


def first_line(exc: Exception) -> str:
    """One line for a person from a validation error (pydantic's first error) or any other."""
    if hasattr(exc, "errors"):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}" if where else str(err["msg"])
    return str(exc).splitlines()[0]
