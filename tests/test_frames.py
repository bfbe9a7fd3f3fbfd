"""Length-prefixed negotiation frames over a byte pipe that splits reads anywhere."""

from __future__ import annotations

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from intentcast.agents.net.frames import MAX_FRAME, FrameError, FrameReader, encode_frame


class Pipe:
    """Bytes handed out in the chunk sizes a test chooses."""

    def __init__(self, data: bytes, chunks: list[int] | None = None) -> None:
        self.data = data
        self.chunks = list(chunks or [])

    async def read(self, n: int | None = None) -> bytes:
        size = self.chunks.pop(0) if self.chunks else len(self.data)
        out, self.data = self.data[:size], self.data[size:]
        return out

    async def write(self, data: bytes) -> None:
        self.data += data


@pytest.mark.parametrize(("size", "prefix"), [(0, "00"), (127, "7f"), (128, "8001"),
                                              (MAX_FRAME, "808004")])
def test_lengths_are_minimal_leb128(size, prefix):
    assert encode_frame(b"x" * size).hex().startswith(prefix)


def test_a_frame_over_the_limit_is_refused_when_sent():
    with pytest.raises(FrameError):
        encode_frame(b"x" * (MAX_FRAME + 1))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=5), st.lists(st.integers(1, 7), max_size=50))
async def test_frames_survive_any_split(frames, chunks):
    reader = FrameReader(Pipe(b"".join(encode_frame(f) for f in frames), chunks))
    got = []
    while (frame := await reader.read_frame()) is not None:
        got.append(frame)
    assert got == frames


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (bytes.fromhex("ffffff7f"), "longer than 3 bytes"),
        (bytes.fromhex("818004") + b"x", "over the"),
        (bytes.fromhex("8000"), "minimal"),
        (bytes.fromhex("0a0102"), "ended inside a frame"),
        (bytes.fromhex("80"), "ended inside a frame length"),
    ],
)
async def test_broken_framing_is_an_error(raw, message):
    with pytest.raises(FrameError, match=message):
        await FrameReader(Pipe(raw)).read_frame()


async def test_a_clean_end_between_frames_is_none():
    reader = FrameReader(Pipe(encode_frame(b"one")))
    assert await reader.read_frame() == b"one"
    assert await reader.read_frame() is None


class Drip:
    """A peer that sends one byte, then waits `gap` seconds, then the next, for ever."""

    def __init__(self, data: bytes, gap: float) -> None:
        self.data = data
        self.gap = gap

    async def read(self, n: int | None = None) -> bytes:
        if not self.data:
            return b""
        if self.gap:
            await trio.sleep(self.gap)
        out, self.data = self.data[:1], self.data[1:]
        return out

    async def write(self, data: bytes) -> None:
        pass


async def test_a_frame_dripped_a_byte_a_second_is_cut_off(autojump):
    frame = encode_frame(b"x" * 200)
    reader = FrameReader(Drip(frame, gap=1.0), frame_timeout=10)
    started = trio.current_time()
    with pytest.raises(FrameError, match="more than 10 s"):
        await reader.read_frame()
    assert trio.current_time() - started <= 12  # not the 200 s the drip would take


async def test_a_slow_but_steady_frame_within_the_bound_arrives(autojump):
    reader = FrameReader(Drip(encode_frame(b"x" * 20) * 2, gap=0.2), frame_timeout=10)
    assert await reader.read_frame() == b"x" * 20
    assert await reader.read_frame() == b"x" * 20  # each frame has its own bound


async def test_waiting_between_frames_is_not_bounded_by_the_frame_timeout(autojump):
    class Late(Drip):
        first = True

        async def read(self, n: int | None = None) -> bytes:
            if self.first:
                self.first = False
                await trio.sleep(60)  # idle between frames: the conversation's business
            return await super().read(n)

    reader = FrameReader(Late(encode_frame(b"hello"), gap=0.0), frame_timeout=10)
    assert await reader.read_frame() == b"hello"
