"""Length-prefixed frames on the `/intentcast/negotiate/1` stream (spec §9).

A frame is an unsigned LEB128 varint length (minimal, at most 3 bytes) then
that many bytes: one envelope. Anything longer than 65,536 bytes, a length not
in minimal form, or a stream ending inside a frame is a `FrameError`, and the
reader resets the stream: a peer that breaks framing is not worth parsing.
A frame that has begun must be whole within `frame_timeout` seconds, so a peer
cannot hold a stream by dripping a byte a second.
"""

from __future__ import annotations

import math
from typing import Protocol

import trio

MAX_FRAME = 65_536
FRAME_TIMEOUT = 10.0
_MAX_PREFIX = 3


class FrameError(Exception):
    """The peer broke the framing rules; the stream cannot be trusted any more."""


class ByteStream(Protocol):
    async def read(self, n: int | None = None, /) -> bytes: ...
    async def write(self, data: bytes, /) -> None: ...


def encode_frame(data: bytes) -> bytes:
    if len(data) > MAX_FRAME:
        raise FrameError(f"a frame holds at most {MAX_FRAME} bytes, not {len(data)}")
    n, prefix = len(data), bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        prefix.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(prefix) + data


class FrameReader:
    """Reads whole frames from a stream that hands out bytes in arbitrary chunks."""

    def __init__(self, stream: ByteStream, *, max_size: int = MAX_FRAME,
                 frame_timeout: float = FRAME_TIMEOUT) -> None:
        self.stream = stream
        self.max_size = max_size
        self.frame_timeout = frame_timeout
        self._buffer = bytearray()
        self._eof = False
        self._started = math.inf
        """When the frame being read began to arrive (trio time), if it has."""

    async def _fill(self, wanted: int) -> bool:
        while len(self._buffer) < wanted and not self._eof:
            if self._buffer and self._started == math.inf:
                self._started = trio.current_time()
            with trio.move_on_at(self._started + self.frame_timeout) as late:
                chunk = await self.stream.read(max(wanted - len(self._buffer), 4096))
            if late.cancelled_caught:
                raise FrameError(f"a frame took more than {self.frame_timeout:g} s to arrive")
            if not chunk:
                self._eof = True
            self._buffer += chunk
        return len(self._buffer) >= wanted

    async def read_frame(self) -> bytes | None:
        """The next frame; None when the stream ended cleanly between frames."""
        length, shift, used = 0, 0, 0
        while True:
            if not await self._fill(used + 1):
                if used == 0 and not self._buffer:
                    return None
                raise FrameError("the stream ended inside a frame length")
            byte = self._buffer[used]
            used += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if used >= _MAX_PREFIX:
                raise FrameError("a frame length longer than 3 bytes")
        if used > 1 and byte == 0:
            raise FrameError("a frame length not in minimal form")
        if length > self.max_size:
            raise FrameError(f"a {length}-byte frame is over the {self.max_size}-byte limit")
        if not await self._fill(used + length):
            raise FrameError("the stream ended inside a frame")
        frame = bytes(self._buffer[used:used + length])
        del self._buffer[:used + length]
        self._started = trio.current_time() if self._buffer else math.inf
        return frame
