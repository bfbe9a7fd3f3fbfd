"""The page's logins: one-time login links, and the browser sessions they open.

A page cannot read the api-token file, so `intentcast open` (which can) asks the daemon
for a login link. The link carries a one-time code in its fragment, which browsers never
send in a request line or a Referer; the page posts it once, and the daemon answers with
an HttpOnly, SameSite=Strict session cookie and the session's own request token. The
page sends that token in a header with every request (`X-CSRF-Token`): a cookie alone
opens nothing, which matters because browsers send a 127.0.0.1 cookie to every port of
127.0.0.1, not only to ours.

Everything here lives in the daemon's memory: a restart logs the page out. Codes and
sessions are looked up by their SHA-256, so no comparison runs on the secret itself, and
both are bounded: past the limit, the oldest goes.
"""

from __future__ import annotations

import collections
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

CODE_TTL = 120
"""Seconds a login link works (once)."""
SESSION_TTL = 12 * 3600
"""Seconds a page stays logged in."""
MAX_CODES = 8
MAX_SESSIONS = 16
TOKEN_HEADER = "x-csrf-token"


def cookie_name(port: int) -> str:
    """The session cookie's name: one per daemon, since a cookie is not kept per port."""
    return f"intentcast_session_{port}"


@dataclass(frozen=True)
class Session:
    token: str
    """What the page sends in `X-CSRF-Token` with every request."""
    expires_at: float


@dataclass(frozen=True)
class Opened:
    """A session just opened: the cookie's value (the browser keeps it) and the session."""

    cookie: str
    session: Session


def _key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "replace")).digest()


class Sessions:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._codes: collections.OrderedDict[bytes, float] = collections.OrderedDict()
        self._sessions: collections.OrderedDict[bytes, Session] = collections.OrderedDict()

    def new_code(self) -> tuple[str, float]:
        """A one-time login code and when it stops working (Unix seconds)."""
        self._prune()
        code = secrets.token_urlsafe(32)
        expires = self.clock() + CODE_TTL
        self._codes[_key(code)] = expires
        while len(self._codes) > MAX_CODES:
            self._codes.popitem(last=False)
        return code, expires

    def redeem(self, code: str) -> Opened | None:
        """A new session for a code that is valid, used up by this call; else None."""
        self._prune()
        if self._codes.pop(_key(code), None) is None:
            return None
        cookie = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(32), self.clock() + SESSION_TTL)
        self._sessions[_key(cookie)] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return Opened(cookie, session)

    def find(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        session = self._sessions.get(_key(cookie))
        if session is None or session.expires_at <= self.clock():
            return None
        return session

    def end(self, cookie: str | None) -> None:
        if cookie:
            self._sessions.pop(_key(cookie), None)

    def _prune(self) -> None:
        now = self.clock()
        for code in [k for k, expires in self._codes.items() if expires <= now]:
            del self._codes[code]
        for cookie in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[cookie]

    def __len__(self) -> int:
        return len(self._sessions)
