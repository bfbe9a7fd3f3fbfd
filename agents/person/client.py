"""The CLI's client for the daemon's local API: find it, authenticate, call, explain errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from intentcast.agents.runtime.home import HomeError, read_api_address, read_token

TIMEOUT = httpx.Timeout(10.0, read=90.0)  # long enough for a long-polled wait of 60 s


class ApiError(Exception):
    """The daemon answered with an error, or could not be reached; one line."""


class Client:
    def __init__(self, home: Path) -> None:
        host, port = read_api_address(home)
        self.base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self.http = httpx.Client(base_url=self.base, timeout=TIMEOUT,
                                 headers={"Authorization": f"Bearer {read_token(home)}"})

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, json: Any = None,
             params: dict[str, Any] | None = None) -> Any:
        try:
            response = self.http.request(method, path, json=json, params=params)
        except httpx.ConnectError as exc:
            raise ApiError(f"the daemon at {self.base} is not answering; "
                           "is `intentcast daemon` running?") from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"talking to the daemon failed: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise ApiError(f"the daemon sent a non-JSON answer ({response.status_code})") from exc
        if response.status_code >= 400:
            message = body.get("error") if isinstance(body, dict) else None
            raise ApiError(str(message or f"HTTP {response.status_code}"))
        return body


def connect(home: Path) -> Client:
    try:
        return Client(home)
    except HomeError as exc:
        raise ApiError(str(exc)) from exc
