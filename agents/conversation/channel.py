"""The one interface every conversation runs over: a framed stream to one peer.

A negotiation, an assistant's control stream and a data stream are all the
same thing underneath: whole frames in and out, from a peer whose key Noise
authenticated. agents/net/node.py's `StreamChannel` is the libp2p one; the
logic tests use an in-memory pair.
"""

from __future__ import annotations

from typing import Protocol


class Channel(Protocol):
    @property
    def remote_peer_id(self) -> str: ...

    @property
    def remote_public_key(self) -> bytes | None:
        """The peer's Ed25519 key as the transport authenticated it, if it has one."""

    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes | None:
        """The next frame; None when the peer closed the stream (or broke it)."""

    async def close(self) -> None: ...

    async def reset(self) -> None:
        """Abort the stream both ways: for a peer that broke the rules."""
