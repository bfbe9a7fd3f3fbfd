"""Serving the local API: Hypercorn on trio, supervised so that no client can end the daemon.

Any process on the machine can connect to the API port, token or not. So each connection
runs in a handler that catches whatever Hypercorn lets escape, closes that connection and
counts it; a failed accept is retried; the server itself, should it fail anyway, is
restarted on the same socket; and nothing the API does reaches the nursery of the libp2p
node beside it. We drive Hypercorn's own connection class (`TCPServer`, with its
`WorkerContext` and `ASGIWrapper`: internals, so tests/test_api_serve.py and the e2e tests
in tests/test_api_attacks.py are what tells a Hypercorn upgrade broke them) instead of
`hypercorn.trio.serve`, because `serve` runs every connection in one nursery: one
connection's exception ended all of them, and the daemon.

Two faults in Hypercorn (0.17, 0.18) did exactly that, both from a client without a token:
- a request answered while its client still sends (a body refused early; bytes after a
  `Connection: close` request): `TCPServer._close()` calls `send_eof()` without the lock
  that `protocol_send()` holds around `send_all()`, so trio raises `BusyResourceError` in
  the other task, which nothing catches (pgjones/hypercorn#203). `_OrderedSends` fixes the
  cause: its `send_eof` waits for a send in progress.
- a websocket handshake Hypercorn refuses, followed by bytes: it answers the refusal a
  second time and h11 raises `LocalProtocolError` (protocol/ws_stream.py). Only the
  handler's edge catches that one.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import trio
from hypercorn.app_wrappers import ASGIWrapper
from hypercorn.config import Config
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ASGIFramework, ConnectionState

if TYPE_CHECKING:  # trio's types as mypy sees them here: libp2p brings trio-typing's stubs
    from trio_typing import TaskStatus

log = logging.getLogger("intentcast.api")

MAX_CONNECTIONS = 64
"""Connections served at once (a file descriptor each: the libp2p node needs its own).
Past that, new ones wait in the kernel's backlog until one closes; an idle one closes
after Hypercorn's keep-alive timeout (5 s), a silent one after READ_TIMEOUT."""
HEADER_BYTES = 16 * 1024
"""The request line and headers, at most (h11's and h2's limits); larger is a 400 or 431."""
SEND_TIMEOUT = 30.0
"""Seconds one answer may take to leave; a client that stops reading is cut off."""
READ_TIMEOUT = 30.0
"""Seconds a client may stay silent while sending a request (not while we answer it)."""
GRACE = 3.0
"""Seconds requests in progress may take to finish once the daemon stops."""
RESTART_DELAYS = (0.1, 0.5, 2.0, 5.0)
"""Pauses after a failed accept or server, growing with each failure in a row."""


@dataclass
class ApiCounters:
    """What the API's edge has seen; the daemon reports them in /v1/status."""

    connections: int = 0
    open: int = 0
    full: int = 0
    """Times accepting waited because MAX_CONNECTIONS were open."""
    faults: int = 0
    """Connections that ended in an error the edge caught (and closed)."""
    accept_errors: int = 0
    """Accepts that failed (out of file descriptors, say) and were retried."""
    restarts: int = 0
    """Times the server itself failed and was restarted on the same socket."""

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


def hypercorn_config() -> Config:
    config = Config()
    config.accesslog = None
    config.errorlog = log
    config.include_server_header = False
    config.h11_max_incomplete_size = HEADER_BYTES
    config.h2_max_header_list_size = HEADER_BYTES
    config.h2_max_concurrent_streams = 16
    config.read_timeout = int(READ_TIMEOUT)
    config.websocket_max_message_size = 1024  # the guard refuses every websocket anyway
    return config


class _OrderedSends(trio.abc.HalfCloseableStream):
    """A client's socket stream as Hypercorn sees it: sends in order, and none forever.

    `send_eof` waits for a `send_all` in progress instead of raising BusyResourceError
    (the first Hypercorn fault above), and a `send_all` that the client does not read for
    SEND_TIMEOUT seconds ends as a broken stream, which Hypercorn handles.
    """

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._sending = trio.Lock()
        self.socket = stream.socket  # Hypercorn reads the peer's address from it

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        async with self._sending:
            try:
                with trio.fail_after(SEND_TIMEOUT):
                    await self._stream.send_all(memoryview(data))
            except trio.TooSlowError as exc:
                raise trio.BrokenResourceError("the client stopped reading") from exc

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        async with self._sending:
            await self._stream.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await self._stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self._stream.aclose()


class ApiServer:
    """One app, one listening socket, every connection behind the edge."""

    def __init__(self, app: ASGIFramework, counters: ApiCounters) -> None:
        self.app = ASGIWrapper(app)
        self.config = hypercorn_config()
        self.context = WorkerContext(None)
        self.counters = counters
        self.slots = trio.Semaphore(MAX_CONNECTIONS)

    async def run(self, listener: trio.abc.Listener[trio.SocketStream], stop: trio.Event) -> None:
        """Serve until `stop` is set; then let requests in progress finish for GRACE seconds."""
        async with trio.open_nursery() as connections:
            accepting = trio.CancelScope()
            connections.start_soon(self.accept, listener, connections, accepting)
            await stop.wait()
            accepting.cancel()
            await self.context.terminated.set()  # keep-alive connections close after a reply
            connections.cancel_scope.deadline = trio.current_time() + GRACE

    async def accept(self, listener: trio.abc.Listener[trio.SocketStream],
                     connections: trio.Nursery, scope: trio.CancelScope) -> None:
        """trio.serve_listeners, except that an accept error never closes the listener."""
        failures = 0
        with scope:
            while True:
                if self.slots.value == 0:
                    self.counters.full += 1
                await self.slots.acquire()
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    self.slots.release()
                    self.counters.accept_errors += 1
                    log.warning("API accept failed (%s); retrying", exc)
                    await trio.sleep(pause(failures))
                    failures += 1
                    continue
                except BaseException:
                    self.slots.release()
                    raise
                failures = 0
                connections.start_soon(self.connection, stream)

    async def connection(self, stream: trio.SocketStream) -> None:
        """One client connection, from accept to close (holding one of the slots): the edge."""
        self.counters.connections += 1
        self.counters.open += 1
        try:
            await TCPServer(self.app, self.config, self.context, ConnectionState({}),
                            _OrderedSends(stream))  # type: ignore[arg-type]  # a plain stream
        except* Exception as group:
            self.counters.faults += 1
            log.warning("API connection closed after an error: %s", _first(group))
        finally:
            self.counters.open -= 1
            self.slots.release()
            await trio.aclose_forcefully(stream)


def _first(group: BaseExceptionGroup[Exception]) -> str:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return f"{type(leaf).__name__}: {str(leaf).splitlines()[0] if str(leaf) else ''}"


async def listen(host: str, port: int) -> trio.SocketListener:
    """A listening socket on the loopback address `host` names (localhost: 127.0.0.1)."""
    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        await sock.bind(("::1" if host == "::1" else "127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return trio.SocketListener(sock)


def pause(failures: int) -> float:
    return RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]


async def serve_api(app: ASGIFramework, counters: ApiCounters,
                    address: tuple[str, int] | socket.socket, stop: trio.Event, *,
                    task_status: TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the API on (host, port) (port 0: any free one), or on a socket bound and
    listening already (the daemon binds before it starts, so a port in use is one line),
    until `stop` is set.

    Start it with `await nursery.start(...)`: it reports the port it bound once it accepts.
    Only a failure to bind ends it (before it reports); after that, a server that fails is
    restarted on the same socket, and the connections it had are closed.
    """
    if isinstance(address, socket.socket):
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(address))
    else:
        listener = await listen(*address)
    async with listener:
        task_status.started(listener.socket.getsockname()[1])
        await supervise(ApiServer, app, counters, listener, stop)


async def supervise(server: Callable[[ASGIFramework, ApiCounters], ApiServer],
                    app: ASGIFramework, counters: ApiCounters,
                    listener: trio.abc.Listener[trio.SocketStream], stop: trio.Event) -> None:
    """Run a fresh server on `listener` until `stop`, as often as one fails."""
    failures = 0
    while not stop.is_set():
        try:
            await server(app, counters).run(listener, stop)
        except* Exception as group:
            counters.restarts += 1
            log.warning("the API server failed (%s); restarting it", _first(group))
        if not stop.is_set():
            await trio.sleep(pause(failures))
            failures += 1
