"""An agent as an OS process: the JSON lines it prints, its log lines, the signals that stop it,
and the faults of its environment as one line.

Output never blocks the event loop. stdout (the JSON lines) and stderr (the log) each get a
bounded queue that a thread of their own writes out. When the reader does not keep up (a pipe
nobody reads fills up), new lines are dropped and counted, and the next line that gets
through says how many: `"lines_dropped": N` in a JSON line, `(N log lines dropped)` before a
log line (or, at the end, a line of its own). The agent keeps answering its peers and its API
meanwhile. Log records go the same way (a handler on the root logger, and as logging's last
resort for loggers that do not propagate, like py-libp2p's), at WARNING and above.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import trio

from intentcast.agents.net import ports
from intentcast.agents.net.ports import PortError
from intentcast.agents.runtime.home import HomeError, load_config

QUEUE_DEPTH = 1024
"""Lines waiting per stream before new ones are dropped (a pipe holds 64 KiB besides)."""
FLUSH_AT_EXIT = 0.25
"""How long a stopping agent waits for its queued lines to be written (seconds)."""
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


class Lane:
    """Lines for one file descriptor, written by a thread of their own through a bounded queue.

    `note(n)` is the line that tells of n lines dropped at the end, when no line came after
    them to say so."""

    def __init__(self, fd: int, name: str, note: Callable[[int], str],
                 depth: int = QUEUE_DEPTH) -> None:
        self._fd = fd
        self._note = note
        self._queue: queue.Queue[bytes | None] = queue.Queue(depth)
        self._lock = threading.Lock()
        self._dropped = 0
        self._thread = threading.Thread(target=self._drain, name=f"intentcast-{name}",
                                        daemon=True)
        self._thread.start()

    def put(self, render: Callable[[int], str]) -> None:
        """Queue the line `render(n)` makes, n the count of lines dropped just before it; or,
        when the queue is full, drop it and count it. Never waits."""
        with self._lock:
            line = render(self._dropped).encode("utf-8", "replace")
            try:
                self._queue.put_nowait(line)
            except queue.Full:
                self._dropped += 1
            else:
                self._dropped = 0

    def close(self, deadline: float) -> None:
        """Write what is queued, waiting until `deadline` (time.monotonic()) at most."""
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        try:
            if dropped:
                self._queue.put(self._note(dropped).encode(),
                                timeout=max(0.0, deadline - time.monotonic()))
            self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            return  # the reader is stuck; the thread is a daemon and dies with the process
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def _drain(self) -> None:
        broken = False
        while (line := self._queue.get()) is not None:
            if not broken:
                broken = not self._write(line)

    def _write(self, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view):]
            except BlockingIOError:  # a non-blocking pipe (someone set O_NONBLOCK): wait
                select.select([], [self._fd], [])
            except OSError:  # the reader is gone (EPIPE) or the descriptor closed
                return False
        return True


class LaneHandler(logging.Handler):
    """Log records as lines on a lane: formatted by the caller, written by the lane's thread."""

    def __init__(self, lane: Lane) -> None:
        super().__init__(logging.WARNING)
        self.lane = lane
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a bad format string in someone's log call: logging's own report
            self.handleError(record)
            return
        self.lane.put(lambda n: f"({n} log lines dropped) {text}\n" if n else f"{text}\n")


_stdout: Lane | None = None


def announce(event: dict[str, Any]) -> None:
    """One JSON line on stdout: how the demo and the tests learn an agent is up."""
    lane = _stdout
    if lane is None:  # not an agent process (a test calling an agent in-process)
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
        return
    lane.put(lambda n: json.dumps({**event, "lines_dropped": n} if n else event) + "\n")


@contextmanager
def _output(level: str = "WARNING") -> Iterator[None]:
    """stdout's JSON lines and every log record (libp2p's too) through lanes, for the body;
    intentcast's own loggers at `level`, everyone else's at WARNING."""
    global _stdout
    sys.stdout.flush()
    sys.stderr.flush()
    out = Lane(sys.stdout.fileno(), "stdout",
               lambda n: json.dumps({"event": "lines_dropped", "lines_dropped": n}) + "\n")
    err = Lane(sys.stderr.fileno(), "stderr", lambda n: f"({n} log lines dropped)\n")
    handler = LaneHandler(err)
    handler.setLevel(level)
    # Others' libraries log at WARNING and above only, whatever levels they set themselves
    # (py-libp2p's auto_connector sets INFO on its logger at import).
    handler.addFilter(lambda record: record.name.startswith("intentcast")
                      or record.levelno >= logging.WARNING)
    ours = logging.getLogger("intentcast")
    ours_level = ours.level
    ours.setLevel(level)
    root, last_resort = logging.getLogger(), logging.lastResort
    root.addHandler(handler)
    logging.lastResort = handler  # loggers that do not propagate (libp2p's) end up there
    _stdout = out
    try:
        yield
    finally:
        _stdout = None
        ours.setLevel(ours_level)
        root.removeHandler(handler)
        logging.lastResort = last_resort
        deadline = time.monotonic() + FLUSH_AT_EXIT
        out.close(deadline)
        err.close(deadline)


log_level: str | None = None
"""Set by the CLI's --log-level: wins over the home's log.level."""


def run_agent(home: Path, main: Callable[..., Awaitable[None]], *args: Any) -> None:
    """`trio.run(main, *args)` as an agent process: output through lanes, logging at the
    home's level, and a listen address that cannot be had as one line naming the setting."""
    level = (log_level or load_config(home).log_level).upper()
    with _output(level):
        try:
            trio.run(main, *args)
        except BaseException as exc:
            fault = sole(exc)
            if isinstance(fault, PortError):
                raise _listen_error(home, fault) from exc
            raise


def check_listen(home: Path, listen: str) -> None:
    """Refuse a listen address whose port is taken before anything else (a passphrase) is asked;
    the node checks again as it binds."""
    try:
        ports.check_listen(listen)
    except PortError as exc:
        raise _listen_error(home, exc) from exc


def _listen_error(home: Path, exc: PortError) -> HomeError:
    return HomeError(f"{exc}; change network.listen in {home / 'config.toml'} or pass --listen")


def sole(exc: BaseException) -> BaseException:
    """The exception itself, or the one a task raised inside trio's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class Stop:
    """SIGINT or SIGTERM: during startup, one cancels the startup; once the agent runs, one
    makes `wait` return so that it stops in order; a second one cancels what is left."""

    def __init__(self, scope: trio.CancelScope) -> None:
        self.requested = trio.Event()
        self._scope = scope
        self._running = False

    async def wait(self) -> None:
        """The agent is up: return at the first SIGINT or SIGTERM."""
        self._running = True
        await self.requested.wait()

    def signalled(self) -> None:
        if self.requested.is_set() or not self._running:
            self._scope.cancel()
        self.requested.set()


@asynccontextmanager
async def stop_on_signals() -> AsyncIterator[Stop]:
    """From here on SIGINT and SIGTERM stop the agent, also while it is still starting."""
    with trio.CancelScope() as scope, trio.open_signal_receiver(signal.SIGINT,
                                                               signal.SIGTERM) as signals:
        stop = Stop(scope)

        async def watch() -> None:
            async for _ in signals:
                stop.signalled()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            yield stop
            nursery.cancel_scope.cancel()
