"""The API's edge in process, over real loopback sockets: no connection can end the server.

The Hypercorn faults these tests provoke are described in agents/person/api/serve.py; the
end-to-end versions against a real daemon are in tests/test_api_attacks.py.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import AsyncIterator

import httpx
import pytest
import trio
import trio.testing
from agent_harness import Market, build

from intentcast.agents.person.api import serve
from intentcast.agents.person.api.app import create_app
from intentcast.agents.person.api.serve import (
    MAX_CONNECTIONS,
    SEND_TIMEOUT,
    ApiCounters,
    ApiServer,
    listen,
    serve_api,
    supervise,
)

TOKEN = "secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BLOCK = 8 * 1024 * 1024  # more than a socket pair buffers


async def stream_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    a, b = trio.socket.socketpair()
    return trio.SocketStream(a), trio.SocketStream(b)


async def read_all(stream: trio.SocketStream) -> int:
    total = 0
    while chunk := await stream.receive_some(65536):
        total += len(chunk)
    return total


async def test_hypercorns_own_stream_refuses_an_eof_while_a_send_is_under_way():
    """Why _OrderedSends exists: trio refuses a second sender, which Hypercorn did not expect."""
    ours, theirs = await stream_pair()
    async with ours, theirs, trio.open_nursery() as nursery:
        nursery.start_soon(ours.send_all, b"x" * BLOCK)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await ours.send_eof()
        nursery.cancel_scope.cancel()


async def test_ordered_sends_finish_the_answer_then_send_the_eof():
    ours, theirs = await stream_pair()
    ordered = serve._OrderedSends(ours)
    async with ours, theirs, trio.open_nursery() as nursery:
        nursery.start_soon(ordered.send_all, b"x" * BLOCK)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(ordered.send_eof)
        await trio.testing.wait_all_tasks_blocked()
        assert await read_all(theirs) == BLOCK  # every byte, then the end of the stream


async def test_a_client_that_stops_reading_is_cut_off_after_the_send_timeout(autojump):
    ours, theirs = await stream_pair()
    ordered = serve._OrderedSends(ours)
    async with ours, theirs:
        started = trio.current_time()
        with pytest.raises(trio.BrokenResourceError):
            await ordered.send_all(b"x" * BLOCK)
        assert trio.current_time() - started == pytest.approx(SEND_TIMEOUT)


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[tuple[int, ApiCounters]]:
    """The real API (create_app on in-process agents) behind serve_api on 127.0.0.1."""
    async with trio.open_nursery() as nursery:
        market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
        build(market, tmp_path, [])
        status = {"peer_id": market.peer_id, "addrs": [], "peers": []}
        counters, stop = ApiCounters(), trio.Event()
        app = create_app(market.person, TOKEN, lambda: {**status, "api": counters.snapshot()})
        port = await nursery.start(serve_api, app, counters, ("127.0.0.1", 0), stop)
        yield port, counters
        stop.set()


async def exchange(port: int, data: bytes) -> bytes:
    """Send, then read to the end; a reset (the server closed with bytes unread) ends it too."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    answer = b""
    async with stream:
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(data)
        with contextlib.suppress(trio.BrokenResourceError):
            while chunk := await stream.receive_some(65536):
                answer += chunk
    return answer


async def status(port: int) -> dict:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        answer = await http.get("/v1/status", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()["api"]


async def test_a_connection_hypercorn_fails_on_is_closed_and_counted(served):
    """A refused websocket handshake with bytes after it: Hypercorn answers twice and h11
    raises LocalProtocolError; it ended hypercorn.trio.serve, here it ends one connection."""
    port, _ = served
    head = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: Upgrade\r\n"
            b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: zzz\r\n\r\n"
            % port)
    for _ in range(3):
        await exchange(port, head + b"\xff" * 100)  # a 400, a 403 or a reset: it varies
    seen = await status(port)
    assert seen["faults"] == 3
    assert seen["open"] == 1  # the status request itself


async def test_the_reported_attack_is_answered_401_every_time(served):
    port, _ = served
    head = (b"POST /v1/intents HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1048576\r\n"
            b"Connection: close\r\n\r\n" % port)
    for _ in range(5):
        answer = await exchange(port, head + b"a" * 1048576 + b"b" * 1048576)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:40]
    assert (await status(port))["faults"] == 0


async def test_past_max_connections_a_new_one_waits_for_a_free_slot(served):
    """A file descriptor per connection, at most MAX_CONNECTIONS: a process that opens more
    cannot take the libp2p node's descriptors; the extra connection is served later."""
    port, counters = served
    held = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(MAX_CONNECTIONS)]
    with trio.fail_after(10):
        while counters.open < MAX_CONNECTIONS:
            await trio.testing.wait_all_tasks_blocked()
    async with trio.open_nursery() as nursery:
        answered = trio.Event()

        async def later() -> None:
            await status(port)
            answered.set()

        nursery.start_soon(later)
        await trio.testing.wait_all_tasks_blocked()
        assert not answered.is_set()
        assert counters.open == MAX_CONNECTIONS
        leaving = held.pop()  # one client is done: its request, then Connection: close
        await leaving.send_all(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                               b"Authorization: Bearer %s\r\nConnection: close\r\n\r\n"
                               % (port, TOKEN.encode()))
        with trio.fail_after(10):
            await answered.wait()
        await leaving.aclose()
    assert counters.connections == MAX_CONNECTIONS + 1
    assert counters.full >= 1  # and full again now: 63 held, the status client kept alive
    for stream in held:
        await stream.aclose()


class FlakyListener(trio.abc.Listener[trio.SocketStream]):
    """A real listener whose first accept fails with `error` (a fault injected on purpose)."""

    def __init__(self, inner: trio.SocketListener, error: Exception) -> None:
        self.inner = inner
        self.error: Exception | None = error

    async def accept(self) -> trio.SocketStream:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return await self.inner.accept()

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize(("error", "counted"), [
    (OSError(errno.EMFILE, "too many open files"), "accept_errors"),  # retried in place
    (RuntimeError("a fault in the server itself"), "restarts"),  # a fresh server, same socket
])
async def test_a_failed_accept_or_server_is_retried_on_the_same_socket(tmp_path, error, counted):
    async with trio.open_nursery() as nursery:
        market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
        build(market, tmp_path, [])
        counters, stop = ApiCounters(), trio.Event()
        app = create_app(market.person, TOKEN, lambda: {"api": counters.snapshot()})
        async with await listen("127.0.0.1", 0) as listener:
            port = listener.socket.getsockname()[1]
            nursery.start_soon(supervise, ApiServer, app, counters,
                               FlakyListener(listener, error), stop)
            seen = await status(port)
            assert seen[counted] == 1
            assert seen["restarts"] + seen["accept_errors"] == 1
            stop.set()


async def test_a_stop_ends_serving_and_frees_the_port(tmp_path):
    async with trio.open_nursery() as nursery:
        market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
        build(market, tmp_path, [])
        counters, stop = ApiCounters(), trio.Event()
        app = create_app(market.person, TOKEN, lambda: {"api": counters.snapshot()})
        async with trio.open_nursery() as api:
            port = await api.start(serve_api, app, counters, ("127.0.0.1", 0), stop)
            assert (await status(port))["connections"] == 1
            stop.set()
        with pytest.raises(OSError, match="connect"):  # serve_api returned, its socket closed
            await trio.open_tcp_stream("127.0.0.1", port)
