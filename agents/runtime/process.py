"""An agent as an OS process: the JSON lines it prints, and the signals that stop it."""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

import trio


def announce(event: dict[str, Any]) -> None:
    """One JSON line on stdout: how the demo and the tests learn an agent is up."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def until_signalled(ready: trio.Event | None = None) -> None:
    """Return at the first SIGINT or SIGTERM."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        if ready is not None:
            ready.set()
        async for _ in signals:
            return
