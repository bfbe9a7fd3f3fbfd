"""`GET /v1/events` over real loopback sockets (serve_api, the daemon's own edge): the order
of events, resuming with Last-Event-ID, what a slow client can and cannot do, the limit on
open streams, and the clean end of every stream when the daemon stops.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import h11
import httpx
import pytest
import trio
import trio.testing
from agent_harness import Market, build

from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.person.api import events as events_api
from intentcast.agents.person.api.app import create_app
from intentcast.agents.person.api.serve import (
    READ_TIMEOUT,
    SEND_TIMEOUT,
    ApiCounters,
    serve_api,
)
from intentcast.agents.person.events import CAPACITY

TOKEN = "secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SSE = {**AUTH, "Accept": "text/event-stream"}
TENT = {"category": "outdoor.camping.tents", "description": "Two-person backpacking tent",
        "max_price": "200.00", "currency": "EUR"}


@dataclass
class Served:
    port: int
    agent: PersonAgent
    counters: ApiCounters
    stop: trio.Event

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=10)


async def _serve(tmp_path, catalogs: list[str]) -> AsyncIterator[Served]:
    async with trio.open_nursery() as nursery:
        market = Market(nursery=nursery, clock=trio.lowlevel.current_clock())
        build(market, tmp_path, catalogs)
        counters, stop = ApiCounters(), trio.Event()
        app = create_app(market.person, TOKEN, lambda: {"peers": [], "topics": {},
                                                        "api": counters.snapshot()})
        port = await nursery.start(serve_api, app, counters, ("127.0.0.1", 0), stop)
        yield Served(port, market.person, counters, stop)
        market.person.events.close()
        stop.set()
        nursery.cancel_scope.cancel()


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[Served]:
    async for s in _serve(tmp_path, []):
        yield s


@pytest.fixture
async def market_served(tmp_path) -> AsyncIterator[Served]:
    async for s in _serve(tmp_path, ["trailhead.toml", "bargainblast.toml"]):
        yield s


class Stream:
    """One open event stream over its own socket, read frame by frame with h11: what comes
    is exactly what the server sent (a chunked body that ends cleanly or does not)."""

    def __init__(self, tcp: trio.SocketStream) -> None:
        self.tcp = tcp
        self.http = h11.Connection(h11.CLIENT)
        self.buffer = b""
        self.status = 0

    async def _event(self) -> Any:
        while (event := self.http.next_event()) is h11.NEED_DATA:
            self.http.receive_data(await self.tcp.receive_some(65536))
        return event

    async def next(self, *, comments: bool = False) -> dict[str, Any] | None:
        """The next event (or comment): its `id` and `event` lines and parsed `data`; None
        once the body ended cleanly."""
        while True:
            while b"\n\n" not in self.buffer:
                event = await self._event()
                if isinstance(event, h11.EndOfMessage):
                    return None
                assert isinstance(event, h11.Data), event
                self.buffer += event.data
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            frame: dict[str, Any] = {}
            for line in block.decode().split("\n"):
                name, _, value = line.partition(":")
                if not name:
                    frame.setdefault("comments", []).append(value.strip())
                else:
                    frame[name] = json.loads(value) if name == "data" else value.strip()
            if "data" in frame or (comments and "comments" in frame):
                return frame

    async def until(self, kind: str) -> list[dict[str, Any]]:
        """Frames up to and including the first of `kind`."""
        seen: list[dict[str, Any]] = []
        with trio.fail_after(20):
            while not seen or seen[-1]["event"] != kind:
                frame = await self.next()
                assert frame is not None, f"the stream ended before {kind}"
                seen.append(frame)
        return seen

    async def close(self) -> None:
        await self.tcp.aclose()


async def open_stream(port: int, headers: dict[str, str] | None = None, after: str = "",
                      receive_buffer: int = 0) -> Stream:
    sock = trio.socket.socket()
    if receive_buffer:  # a small window: the kernel holds little of what the client leaves
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    await sock.connect(("127.0.0.1", port))
    stream = Stream(trio.SocketStream(sock))
    target = f"/v1/events?after={after}" if after else "/v1/events"
    sent = {"Host": f"127.0.0.1:{port}", **SSE, **(headers or {})}
    await stream.tcp.send_all(stream.http.send(h11.Request(
        method="GET", target=target, headers=list(sent.items()))))
    await stream.tcp.send_all(stream.http.send(h11.EndOfMessage()))
    response = await stream._event()
    assert isinstance(response, h11.Response), response
    stream.status = response.status_code
    if stream.status == 200:
        assert dict(response.headers)[b"content-type"].startswith(b"text/event-stream")
    return stream


def seq(event_id: str) -> int:
    return int(event_id.rpartition("-")[2])


async def test_a_deal_arrives_as_one_ordered_stream(market_served):
    async with market_served.client() as http:
        stream = await open_stream(market_served.port, after="now")
        hello = await stream.next()
        assert hello["event"] == "hello"
        assert hello["data"]["missed"] is False
        posted = (await http.post("/v1/intents", headers=AUTH, json=TENT)).json()
        seen = await stream.until("offer_refused")
        offer = next(f["data"] for f in [*seen, *await stream.until("offer_received")]
                     if f["event"] == "offer_received" and not f["data"]["conflicts"])
        await http.post(f"/v1/offers/{offer['ref']}/counter", headers=AUTH, json={"price": "180"})
        await http.post(f"/v1/offers/{offer['ref']}/accept", headers=AUTH)
        seen += await stream.until("agreement_acknowledged")
        await stream.close()
    kinds = [f["event"] for f in seen]
    assert kinds[0] == "intent_posted"
    assert kinds[-4:] == ["counter_answered", "offer_accepted", "agreement_signed",
                          "agreement_acknowledged"]
    ids = [seq(f["id"]) for f in seen]
    assert ids == sorted(set(ids))  # strictly increasing
    for frame in seen:  # the frame's lines agree with its data
        assert (frame["data"]["id"], frame["data"]["kind"]) == (frame["id"], frame["event"])
        assert frame["data"].get("intent_id", posted["id"]) == posted["id"]
    refused = next(f["data"] for f in seen if f["event"] == "offer_refused")
    assert {c["clause"] for c in refused["conflicts"]} >= {"no_profiling", "purposes"}


async def test_resuming_with_last_event_id_gives_only_what_came_after(served):
    log = served.agent.events
    ids = [log.emit("tick", n, n=n).id for n in range(5)]
    stream = await open_stream(served.port, headers={"Last-Event-ID": ids[2]})
    hello = await stream.next()
    assert (hello["id"], hello["data"]["resumed"], hello["data"]["missed"]) == (
        ids[2], True, False)
    assert [(await stream.next())["data"]["n"] for _ in range(2)] == [3, 4]
    log.emit("tick", 5, n=5)
    assert (await stream.next())["data"]["n"] == 5
    await stream.close()

    stream = await open_stream(served.port, after=ids[3])  # the query form
    await stream.next()
    assert (await stream.next())["data"]["n"] == 4
    await stream.close()

    stream = await open_stream(served.port, after="now")
    hello = await stream.next()
    assert hello["id"] == log.last_id  # a reconnect before any event resumes here
    log.emit("tick", 6, n=6)
    assert (await stream.next())["data"]["n"] == 6
    await stream.close()


async def test_a_client_that_missed_events_is_told_so_and_gets_all_held(served):
    log = served.agent.events
    first = log.emit("tick", 0, n=0).id
    for n in range(1, CAPACITY + 10):
        log.emit("tick", n, n=n)
    for stale in (first, "0-7", "garbage"):  # dropped since; another run; not an id
        stream = await open_stream(served.port, headers={"Last-Event-ID": stale})
        hello = await stream.next()
        assert hello["data"]["missed"] is True
        assert "id" not in hello
        assert (await stream.next())["id"] == log.since(None)[0].id  # the oldest held
        await stream.close()
    async with served.client() as http:
        held = (await http.get("/v1/events", headers=AUTH, params={"after": first})).json()
        assert held["missed"] is True
        assert len(held["events"]) == len(log)


async def test_without_an_event_stream_accept_header_the_held_events_come_as_json(served):
    log = served.agent.events
    ids = [log.emit("tick", n, n=n).id for n in range(3)]
    async with served.client() as http:
        answer = await http.get("/v1/events", headers=AUTH, params={"after": ids[0]})
        assert answer.status_code == 200
        body = answer.json()
        assert [e["n"] for e in body["events"]] == [1, 2]
        assert (body["last_id"], body["missed"]) == (ids[2], False)
        long_id = await http.get("/v1/events", headers={**AUTH, "Last-Event-ID": "x" * 65})
        assert long_id.status_code == 422
        assert long_id.json()["error"].startswith("last-event-id: ")


@pytest.fixture
def patient_clock() -> trio.testing.MockClock:
    """Virtual time that jumps only once every task has waited 0.25 s of real time: socket
    traffic runs as it comes, and a 30 s send timeout passes at once when all is quiet."""
    return trio.testing.MockClock(autojump_threshold=0.25)


async def test_a_slow_client_blocks_nobody_and_is_cut_off_cleanly(served, patient_clock):
    """A client that opens a stream and stops reading: the daemon goes on emitting (a
    bounded ring, no queue per client), other clients are served at once, a reading stream
    gets every event in order, and the stalled one is cut after the send timeout with every
    event it got before intact (never a cut chunk glued to the next one)."""
    log = served.agent.events
    slow = await open_stream(served.port, after="now", receive_buffer=4096)  # then it stalls
    reader = await open_stream(served.port, after="now")
    await reader.next()
    padding = "x" * 16_000
    count = CAPACITY  # 16 MB of events: far more than the stalled connection's buffers hold
    got: list[int] = []

    async def read() -> None:
        while len(got) < count:
            got.append((await reader.next())["data"]["n"])

    async with trio.open_nursery() as nursery, served.client() as http:
        nursery.start_soon(read)
        for n in range(count):
            log.emit("tick", n, n=n, padding=padding)  # returns at once, whoever reads
            if n % 100 == 0:  # the daemon answers while the slow client holds its stream
                assert (await http.get("/v1/status", headers=AUTH)).status_code == 200
            await trio.lowlevel.checkpoint()
    assert got == list(range(count))
    await reader.close()
    await trio.sleep(SEND_TIMEOUT + 1)  # the client still reads nothing (virtual time)
    stalled: list[int] = []

    async def read_what_it_was_sent() -> None:
        while (frame := await slow.next()) is not None:
            if frame["event"] == "tick":  # after its hello
                stalled.append(frame["data"]["n"])

    with pytest.raises(h11.RemoteProtocolError, match="incomplete chunked read"):
        await read_what_it_was_sent()  # the server cut it: the body never ends
    assert stalled == list(range(len(stalled)))  # and every frame before the cut is whole
    assert len(stalled) < count
    await slow.close()


async def test_past_max_streams_a_new_stream_is_a_503_and_the_api_still_answers(served):
    opened = [await open_stream(served.port) for _ in range(events_api.MAX_STREAMS)]
    assert {s.status for s in opened} == {200}
    refused = await open_stream(served.port)
    assert refused.status == 503
    await refused.close()
    async with served.client() as http:
        assert (await http.get("/v1/status", headers=AUTH)).status_code == 200
    for stream in opened:
        await stream.close()
    with trio.fail_after(10):
        while True:  # the slots free as the server sees each client leave
            await trio.testing.wait_all_tasks_blocked()
            again = await open_stream(served.port)
            await again.close()
            if again.status == 200:
                break


async def test_a_quiet_stream_is_kept_alive_with_comments(served, monkeypatch):
    monkeypatch.setattr(events_api, "PING", 0.05)
    stream = await open_stream(served.port, after="now")
    await stream.next()
    with trio.fail_after(5):
        frame = await stream.next(comments=True)
    assert frame == {"comments": ["ping"]}
    await stream.close()


async def test_a_stream_outlives_the_read_timeout_kept_open_by_its_pings(served, patient_clock):
    """The client says nothing after its request; the server's pings count as traffic."""
    assert events_api.PING < READ_TIMEOUT
    stream = await open_stream(served.port, after="now")
    await stream.next()
    await trio.sleep(4 * READ_TIMEOUT)
    served.agent.events.emit("tick", 1, n=1)
    with trio.fail_after(1):
        assert (await stream.next())["data"]["n"] == 1
    await stream.close()


async def test_a_client_silent_inside_its_request_is_still_cut_off(served, patient_clock):
    half = await trio.open_tcp_stream("127.0.0.1", served.port)
    await half.send_all(b"POST /v1/cart HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: "
                        b"Bearer %s\r\nContent-Length: 100\r\n\r\n{\"cat"
                        % (served.port, TOKEN.encode()))
    started = trio.current_time()
    assert await half.receive_some(65536) == b""  # closed, without an answer
    assert trio.current_time() - started == pytest.approx(READ_TIMEOUT, abs=1)
    await half.aclose()


async def test_every_stream_ends_cleanly_when_the_daemon_stops(served):
    log = served.agent.events
    streams = [await open_stream(served.port, after="now") for _ in range(3)]
    for stream in streams:
        await stream.next()
    log.emit("tick", 1, n=1)
    log.close()  # what the daemon does first when it is told to stop
    served.stop.set()
    for stream in streams:
        assert [f["event"] for f in await stream.until("closing")] == ["tick", "closing"]
        with trio.fail_after(5):
            assert await stream.next() is None  # the chunked body's proper end
        await stream.close()
