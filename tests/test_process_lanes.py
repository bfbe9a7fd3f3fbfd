"""An agent's output lanes on real pipes: a reader that stops reading costs lines, never a wait."""

from __future__ import annotations

import json
import os
import select
import threading
import time

from intentcast.agents.runtime.process import Lane


def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is full: the next blocking write to it would wait for a reader."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    for size in (65536, 4096, 1):
        try:
            while True:
                os.write(w, b"x" * size)
        except BlockingIOError:
            pass
    os.set_blocking(w, True)
    return r, w


def _read_until(r: int, done, timeout: float = 10.0) -> list[str]:
    """Read the pipe, filler stripped, until `done(lines)` holds (or the timeout passed)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = data.lstrip(b"x").decode().splitlines()
        if data.endswith(b"\n") and done(lines):
            return lines
        if select.select([r], [], [], 0.1)[0]:
            data += os.read(r, 1 << 16)
    raise AssertionError(f"not there in {timeout} s: {data.lstrip(b'x')[-300:]!r}")


def _put_all(lane: Lane, events: list[dict]) -> threading.Thread:
    """Put the events from a thread of its own, so that a lane that waits fails the test
    instead of hanging it."""
    def put() -> None:
        for event in events:
            lane.put(lambda n, e=event: json.dumps({**e, "lines_dropped": n} if n else e) + "\n")

    thread = threading.Thread(target=put, daemon=True)
    thread.start()
    thread.join(5)
    return thread


def test_a_full_pipe_drops_lines_and_the_next_line_says_how_many():
    r, w = _full_pipe()
    lane = Lane(w, "test", lambda n: json.dumps({"event": "lines_dropped", "lines_dropped": n})
                + "\n", depth=8)
    putter = _put_all(lane, [{"event": "tick", "n": n} for n in range(100)])
    assert not putter.is_alive(), "put() waited for the reader"
    # The reader comes back, takes what was queued; one more line gets through with the count.
    first = _read_until(r, lambda lines: len(lines) >= 1)
    _put_all(lane, [{"event": "tick", "n": 100}])
    lines = [json.loads(line) for line in _read_until(
        r, lambda lines: lines and json.loads(lines[-1])["n"] == 100)]
    lines = [json.loads(line) for line in first] + lines
    ticks = [e["n"] for e in lines]
    assert ticks == sorted(ticks)  # in order
    assert len(ticks) < 20  # most were dropped
    counted = sum(e.get("lines_dropped", 0) for e in lines)
    assert counted > 0
    assert len(lines) + counted == 101  # every tick written or counted
    assert "lines_dropped" in lines[-1]  # the first line through after the drops says so
    lane.close(time.monotonic() + 1)
    os.close(r)
    os.close(w)


def test_lines_dropped_at_the_end_are_told_by_the_closing_note():
    r, w = _full_pipe()
    lane = Lane(w, "test", lambda n: f"({n} log lines dropped)\n", depth=4)
    for n in range(20):
        lane.put(lambda dropped, n=n: f"line {n}" + (f" after {dropped}" if dropped else "")
                 + "\n")

    closer = threading.Thread(target=lane.close, args=(time.monotonic() + 5,), daemon=True)
    closer.start()
    lines = _read_until(r, lambda lines: lines and lines[-1].endswith("dropped)"))
    closer.join(5)
    assert not closer.is_alive()
    written = [line for line in lines if line.startswith("line ")]
    counted = sum(int(line.split(" after ")[1]) for line in written if " after " in line)
    counted += int(lines[-1].strip("(").split()[0])
    assert counted > 0
    assert len(written) + counted == 20
    os.close(r)
    os.close(w)


def test_a_reader_that_went_away_stops_the_lane_quietly():
    r, w = os.pipe()
    os.close(r)  # writes now fail with EPIPE (Python ignores SIGPIPE)
    lane = Lane(w, "test", lambda n: "")
    for n in range(10):
        lane.put(lambda dropped, n=n: f"line {n}\n")
    closer = threading.Thread(target=lane.close, args=(time.monotonic() + 5,), daemon=True)
    closer.start()
    closer.join(10)
    assert not closer.is_alive()  # drained into nothing, not stuck on the dead pipe
    os.close(w)
