"""Framed libp2p streams: the negotiation, assistant and data protocols as `Channel`s.

py-libp2p's stream errors stop here: a broken stream reads as a clean close or
a reset, so the roles above see only whole frames or None.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.network.stream.exceptions import StreamEOF

from intentcast.agents.net.frames import FrameError, FrameReader, encode_frame

log = logging.getLogger("intentcast.node")

NEGOTIATE_PROTOCOL = TProtocol("/intentcast/negotiate/1")
ASSISTANT_PROTOCOL = TProtocol("/intentcast/assistant/1")
"""An assistant's requests to the person's daemon (hello, renew, record)."""
DATA_PROTOCOL = TProtocol("/intentcast/data/1")
"""Disclosures, revocations, credits and redelivered agreements, person to vendor."""

StreamHandler = Callable[["StreamChannel"], Awaitable[None]]


class _EofAsEmpty:
    """py-libp2p raises StreamEOF where a byte stream returns b"": frames.py expects b""."""

    def __init__(self, stream: INetStream) -> None:
        self.stream = stream

    async def read(self, n: int | None = None, /) -> bytes:
        try:
            return await self.stream.read(n)
        except StreamEOF:
            return b""

    async def write(self, data: bytes, /) -> None:
        await self.stream.write(data)


class StreamChannel:
    """A framed libp2p stream (negotiation, assistant or data protocol): whole frames in and out.

    It is the `Channel` of agents/conversation/channel.py."""

    def __init__(self, stream: INetStream, drop: Callable[[str], None]) -> None:
        self._stream = stream
        self._drop = drop
        self._reader = FrameReader(_EofAsEmpty(stream))
        self.remote_peer_id = str(stream.muxed_conn.peer_id)

    @property
    def remote_public_key(self) -> bytes | None:
        """The remote's Ed25519 key, as Noise authenticated it (None for other key types)."""
        try:
            key = self._stream.muxed_conn.peer_id.extract_public_key()
        except Exception:
            return None
        raw = key.to_bytes() if key is not None else b""
        return raw if len(raw) == 32 else None

    async def send(self, data: bytes) -> None:
        await self._stream.write(encode_frame(data))

    async def receive(self) -> bytes | None:
        """The next envelope; None on a clean close. A framing violation resets the stream."""
        try:
            return await self._reader.read_frame()
        except FrameError as exc:
            self._drop("bad_frame")
            log.info("reset a stream from %s: %s", self.remote_peer_id, exc)
            await self.reset()
            return None
        except Exception as exc:  # the connection went away under us
            log.info("stream from %s broke: %s", self.remote_peer_id, exc)
            return None

    async def reset(self) -> None:
        try:
            await self._stream.reset()
        except Exception:  # already gone
            log.debug("reset of a dead stream", exc_info=True)

    async def close(self) -> None:
        try:
            await self._stream.close()
        except Exception:
            log.debug("close of a dead stream", exc_info=True)
