"""How many streams of one kind a peer may hold open at once, and how many in all.

Whoever serves a stream protocol (the buyer's negotiations, the vendor's data
side, the person's assistant desk) takes a slot before reading the first frame
and gives it back when the stream ends; a peer past its share, or a stream past
the total, is turned away at once and counted. So a peer that opens streams and
says nothing holds its share and no more, whatever it does.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class PeerSlots:
    def __init__(self, *, per_peer: int, total: int,
                 on_refused: Callable[[str], None] = lambda _: None) -> None:
        self.per_peer = per_peer
        self.total = total
        self.on_refused = on_refused
        self._held: collections.Counter[str] = collections.Counter()
        self._count = 0
        self.refused = 0

    @contextmanager
    def slot(self, peer: str) -> Iterator[bool]:
        """Yields True with a slot held for `peer`, False (counted) when there is none."""
        if self._count >= self.total or self._held[peer] >= self.per_peer:
            self.refused += 1
            self.on_refused(peer)
            yield False
            return
        self._held[peer] += 1
        self._count += 1
        try:
            yield True
        finally:
            self._count -= 1
            self._held[peer] -= 1
            if not self._held[peer]:
                del self._held[peer]

    def __len__(self) -> int:
        return self._count
