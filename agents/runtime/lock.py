"""One process per home: an OS lock on HOME/lock, held for the life of a daemon, a vendor's
responder or an assistant.

The lock is `flock(2)` on an open file, so the kernel drops it when the process ends, however it
ends: a crash leaves no stale lock behind. The file itself is never removed (removing it would
let a second process lock a new file while the first still holds the old one); it only records
who holds it, for the message the next process prints.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from intentcast.agents.runtime.home import HomeError, describe

LOCK_FILE = "lock"


@contextmanager
def hold(home: Path, what: str) -> Iterator[None]:
    """Hold the home's lock for the body, or refuse in one line naming the process that has it.

    `what` says who we are ("intentcast daemon"), for the message a second start prints."""
    path = home / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise HomeError(f"cannot lock {home}: {describe(exc)}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HomeError(f"{home} is in use by {_holder(fd)}: stop it first, or use "
                            "another --home") from None
        except OSError as exc:  # a file system without locks
            raise HomeError(f"cannot lock {home}: {describe(exc)}") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {what}\n".encode(), 0)
        except OSError as exc:
            raise HomeError(f"cannot lock {home}: {describe(exc)}") from exc
        try:
            yield
        finally:
            _forget(fd)
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _holder(fd: int) -> str:
    try:
        pid, _, what = os.pread(fd, 200, 0).decode("utf-8", "replace").strip().partition(" ")
    except OSError:
        pid, what = "", ""
    if not pid.isdigit():  # it has the lock and has not written its pid yet
        return "another intentcast process"
    return f"{what or 'another intentcast process'} (pid {pid})"


def _forget(fd: int) -> None:
    # The pid would be stale once we are gone (the lock itself goes with the descriptor).
    with suppress(OSError):
        os.ftruncate(fd, 0)
