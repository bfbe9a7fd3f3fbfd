"""Per-peer outbound queues for gossip: bounded, with a "room again" wait and batched writes.

py-libp2p is at fault here: its per-peer RpcQueue holds 32 RPCs, drops what does not
fit without telling the caller who forwards, offers no way to wait for room, and its
sending loop writes one RPC per stream write (one yamux frame, one Noise frame, one
window update at the other end per message). This queue holds serialized RPCs,
lets a publisher or a forwarder wait for room, and hands the sending loop every
queued RPC at once, up to a byte budget, as one length-prefixed RPC: protobuf
concatenation of serialized messages is their merge, so a batch is a valid RPC.
"""

from __future__ import annotations

from collections import deque

import trio
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.rpc_queue import RpcQueue

OUTBOUND_QUEUE = 1024
"""RPCs (one message each, at most) queued per peer before a forwarder waits or drops."""
PRIORITY_SLACK = 64
"""Room kept beyond the bound for control RPCs (GRAFT, PRUNE, IHAVE, IWANT)."""
BATCH_BYTES = 256 * 1024
"""Largest batch written as one RPC (receivers accept up to 1 MiB)."""


class OutboundQueue(RpcQueue):
    """Serialized RPCs for one peer; `push` never blocks, `wait_room` does."""

    def __init__(self, max_size: int = OUTBOUND_QUEUE) -> None:
        super().__init__(max_size=max_size)
        self.limit = max_size
        self._items: deque[bytes] = deque()
        self._urgent: deque[bytes] = deque()
        self._ready = trio.Event()
        self._room = trio.Event()
        self._shut = False

    @property
    def closed(self) -> bool:
        return self._shut

    def __len__(self) -> int:
        return len(self._items) + len(self._urgent)

    def full(self) -> bool:
        return len(self) >= self.limit

    def push(self, rpc: rpc_pb2.RPC, priority: bool = False) -> bool:
        """py-libp2p's entry point (control messages, IWANT answers, announcements)."""
        return self.push_bytes(rpc.SerializeToString(), priority=priority)

    def push_bytes(self, data: bytes, *, priority: bool = False) -> bool:
        if self._shut or len(self) >= self.limit + (PRIORITY_SLACK if priority else 0):
            return False
        (self._urgent if priority else self._items).append(data)
        self._ready.set()
        return True

    async def wait_room(self) -> None:
        """Return once the queue is below its bound (or closed)."""
        while self.full() and not self._shut:
            await self._room.wait()

    async def pop(self) -> rpc_pb2.RPC | None:
        batch = await self.pop_batch(BATCH_BYTES)
        if batch is None:
            return None
        rpc = rpc_pb2.RPC()
        rpc.ParseFromString(batch)
        return rpc

    async def pop_batch(self, max_bytes: int) -> bytes | None:
        """Every queued RPC that fits in `max_bytes` (at least one), merged; None once closed."""
        while not self._items and not self._urgent:
            if self._shut:
                return None
            self._ready = trio.Event()
            await self._ready.wait()
        parts: list[bytes] = []
        size = 0
        for source in (self._urgent, self._items):
            while source and (not parts or size + len(source[0]) <= max_bytes):
                item = source.popleft()
                parts.append(item)
                size += len(item)
        if not self.full():
            self._room.set()
            self._room = trio.Event()
        return b"".join(parts)

    def close(self) -> None:
        self._shut = True
        self._ready.set()
        self._room.set()


class Queues(dict[ID, RpcQueue]):
    """`Pubsub.peer_queues`, making each new peer's queue an `OutboundQueue`.

    py-libp2p is at fault here: `Pubsub._handle_new_peer` builds `RpcQueue()` itself with
    no way to pass a class or a size, so the queue is swapped as it is stored."""

    def __setitem__(self, peer: ID, queue: RpcQueue) -> None:
        super().__setitem__(peer, queue if isinstance(queue, OutboundQueue) else OutboundQueue())
