"""A hostile local process against the person's real daemon (issue 11): raw sockets, no token.

Any process on the machine can reach the API port. Whatever it sends, the daemon keeps
running, keeps serving the person, and reads nothing of a request before the token holds.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
from pathlib import Path

import httpx
import pytest
from e2e import Cluster

from intentcast.agents.runtime.home import read_api_address, read_token

MiB = 1024 * 1024


def vm_rss(pid: int) -> int:
    """The process's resident set in bytes, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def exchange(port: int, head: bytes, body: bytes = b"", *, timeout: float = 10.0) -> bytes:
    """Send raw bytes, then read until the server closes; what it answered (maybe nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + body)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer.split(b" ", 2)[1])


def the_reported_attack(port: int) -> bytes:
    """The colleague's reproduction: 1 MiB declared, 1 MiB sent, 1 MiB more, Connection: close."""
    head = (b"POST /v1/intents HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1048576\r\n"
            b"Connection: close\r\n\r\n" % port)
    return exchange(port, head, b"a" * MiB + b"b" * MiB)


def get(port: int, path: str, token: str | None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=10)


def still_serving(person, home: Path) -> None:
    _, port = read_api_address(home)
    answer = get(port, "/v1/status", read_token(home))
    assert answer.status_code == 200, answer.text
    assert answer.json()["peer_id"]
    assert person.proc.poll() is None, person.tail()


@pytest.mark.e2e
def test_the_reported_attack_never_ends_the_daemon(cluster: Cluster) -> None:
    person, home = cluster.person()
    _, port = read_api_address(home)
    for _ in range(12):
        assert status_of(the_reported_attack(port)) == 401  # the token first, the body unread
    still_serving(person, home)


@pytest.mark.e2e
def test_a_websocket_upgrade_with_early_bytes_never_ends_the_daemon(cluster: Cluster) -> None:
    """Hypercorn answers a bad handshake, then answers again on the bytes after it: an h11
    LocalProtocolError that ended Hypercorn's whole server (the edge in api/serve.py)."""
    person, home = cluster.person()
    _, port = read_api_address(home)
    head = (b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: Upgrade\r\n"
            b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: zzz\r\n\r\n"
            % port)
    for _ in range(3):
        exchange(port, head, b"\xff" * 100)
    still_serving(person, home)
    counted = get(port, "/v1/status", read_token(home)).json()["api"]
    assert counted["faults"] >= 3, counted


@pytest.mark.e2e
def test_a_tokenless_100_mb_body_is_refused_before_it_is_read(cluster: Cluster) -> None:
    person, home = cluster.person()
    _, port = read_api_address(home)
    pid = person.proc.pid
    before = vm_rss(pid)
    declared = 100 * 1000 * 1000
    head = (b"POST /v1/intents HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (port, declared))
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        chunk = b"{" * MiB
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < declared and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk[: declared - sent])  # until the daemon answers
                sent += len(chunk[: declared - sent])
        with contextlib.suppress(ConnectionResetError):
            while part := sock.recv(65536):
                answer += part
    after = vm_rss(pid)
    print(f"VmRSS before {before / MiB:.1f} MiB, after {after / MiB:.1f} MiB; "
          f"body sent before the answer: {sent / MiB:.1f} MiB")
    assert status_of(answer) == 401
    assert b'"status":401' in answer
    assert sent < declared, "the daemon waited for the whole body before answering"
    assert after - before < 20 * MiB
    still_serving(person, home)


@pytest.mark.e2e
def test_the_guard_over_real_http(cluster: Cluster) -> None:
    """A foreign Host (DNS rebinding), the docs without a token, bodies over the limit."""
    person, home = cluster.person()
    _, port = read_api_address(home)
    token = read_token(home)
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1"):
        refused = get(port, "/v1/status", token, Host=host)
        assert refused.status_code == 421, host
        assert refused.json()["status"] == 421
    for host in (f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"):
        assert get(port, "/v1/status", token, Host=host).status_code == 200, host
    for path in ("/docs", "/openapi.json", "/redoc", "/nowhere"):
        assert get(port, path, None).status_code == 401, path
    assert get(port, "/openapi.json", token).json()["info"]["title"]
    assert get(port, "/docs", token).status_code == 404  # off: a page cannot send the token
    over = b"{" + b" " * (64 * 1024) + b"}"
    head = (b"POST /v1/cart HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\n" % (port, token.encode()))
    declared = exchange(port, head + b"Content-Length: %d\r\n\r\n" % len(over), over)
    assert status_of(declared) == 413
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part)
                       for part in (over[i:i + 8192] for i in range(0, len(over), 8192)))
    streamed = exchange(port, head + b"Transfer-Encoding: chunked\r\n\r\n", chunked + b"0\r\n\r\n")
    assert status_of(streamed) == 413
    assert json.loads(streamed.split(b"\r\n\r\n", 1)[1])["status"] == 413
    still_serving(person, home)
