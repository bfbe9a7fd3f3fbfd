"""The API's error answers as its OpenAPI document states them: one shape, one line.

Routes list the statuses they can answer (`errors(404, 409)`); the guard's statuses
(`GUARD`) apply to every route, since the guard answers before any route is chosen. A
route with a parameter lists 422 (else FastAPI would document its own error shape).
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Any

from pydantic import BaseModel, Field

from intentcast.agents.person.api.guard import MAX_BODY


class Error(BaseModel):
    """Every error the API answers."""

    error: str = Field(description="one line that says what to fix")
    status: int = Field(description="the HTTP status, again")


WHY = {
    400: "the request is malformed (its Content-Length, say)",
    401: "no bearer token, or not the one in the api-token file",
    403: "allowed in general, but not now to this party",
    404: "no such thing here",
    409: "it exists, but its state does not allow this now",
    413: f"the request body is over {MAX_BODY} bytes",
    421: "the Host header is not this API's loopback name and port",
    422: "a parameter or a field of the body is invalid: the message names it",
    502: "the vendor did not do its part (it did not sign, or did not answer)",
    503: "something the daemon depends on is out of reach; try again",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route (or of the app) for these error statuses."""
    return {status: {"model": Error, "description": WHY[status]} for status in statuses}


GUARD = errors(400, 401, 413, 421)
"""What the guard may answer, whatever the route."""
