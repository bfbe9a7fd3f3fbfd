"""A hostile peer that attacks a vendor's intake and negotiation streams: a real libp2p node.

Speaks JSON lines like rogue.py: prints {"event": "ready", ...}; then, for each
command read from stdin, does it and prints {"event": "done", "cmd": ...}:
  {"cmd": "wait_topic", "topic": T, "count": N}
  {"cmd": "flood", "count": N, "reply_to": "self" | "tarpit", "answer": A}
      publish N valid intents (each under a fresh key) whose reply_to is this peer (and
      answer every offer as A says) or a tarpit: a TCP port of this process that accepts
      connections and never speaks, under random peer ids.
      A: "hold" (read the offer, then hold the stream open, silent), "garbage" (send
      frames of random bytes until the vendor hangs up), "drip" (start a frame and send
      one byte a second), "accept" (accept at the offered price with a day to live, then
      never countersign)
  {"cmd": "revocations", "count": N}
      publish N validly signed revocations of random delegation targets, one key
  {"cmd": "stats"}   streams opened to us, how each ended, tarpit connections
  {"cmd": "quit"}
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID

from intentcast.agents.net.frames import encode_frame
from intentcast.agents.net.node import Node
from intentcast.agents.net.streams import StreamChannel
from intentcast.protocol import (
    Accept,
    CustomerTerms,
    Intent,
    KeyPair,
    ReplyTo,
    Revocation,
    new_id,
    open_envelope,
    seal,
)

TERMS = CustomerTerms(purposes=["delivery", "receipt"], retention_days=90)
DAY = 86_400


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Attacker:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.answer = "hold"
        self.stats: collections.Counter[str] = collections.Counter()
        self.tarpit_port = 0
        self.keys: dict[str, KeyPair] = {}
        """Intent id -> the key that signed it (to sign an accept)."""

    async def tarpit(self, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
                     ) -> None:
        async def hold(stream: trio.SocketStream) -> None:
            self.stats["tarpit_connections"] += 1
            try:
                await trio.sleep_forever()
            finally:
                await stream.aclose()

        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.tarpit_port = listeners[0].socket.getsockname()[1]
        task_status.started(self.tarpit_port)
        await trio.serve_listeners(hold, listeners)

    async def on_offer(self, channel: StreamChannel) -> None:
        self.stats["streams"] += 1
        first = await channel.receive()
        if first is None:
            self.stats["closed_before_offer"] += 1
            return
        raw = channel._stream
        try:
            if self.answer == "garbage":
                while True:
                    await channel.send(os.urandom(64))
                    self.stats["garbage_frames"] += 1
                    await trio.sleep(0.2)
            elif self.answer == "drip":
                await raw.write(encode_frame(b"x" * 200)[:2])
                while True:
                    await trio.sleep(1)
                    await raw.write(b"x")
                    self.stats["dripped_bytes"] += 1
            elif self.answer == "accept":
                offer = open_envelope(first, now=int(time.time()))
                intent_id = offer.message.intent_id  # type: ignore[union-attr]
                now = int(time.time())
                await channel.send(seal(Accept(
                    id=new_id(), issued_at=now, expires_at=now + DAY, intent_id=intent_id,
                    in_reply_to=offer.digest, price=offer.message.price,  # type: ignore[union-attr]
                ), self.keys[intent_id]))
                self.stats["accepted"] += 1
                while await channel.receive() is not None:
                    self.stats["frames_after_accept"] += 1
            else:
                await trio.sleep_forever()
        except Exception:
            self.stats["hung_up_on"] += 1  # the vendor reset or closed the stream
        finally:
            self.stats["ended"] += 1

    def intent(self, reply_to: ReplyTo) -> bytes:
        key = KeyPair(os.urandom(32))
        now = int(time.time())
        intent = Intent(id=new_id(), issued_at=now, expires_at=now + 600,
                        category="outdoor.camping.tents",
                        description="two-person tent, backpacking", terms=TERMS,
                        reply_to=reply_to)
        self.keys[intent.id] = key
        return seal(intent, key)

    async def flood(self, count: int, reply_to: str, answer: str) -> int:
        self.answer = answer
        for _ in range(count):
            if reply_to == "tarpit":
                fake = ID.from_pubkey(create_new_key_pair(os.urandom(32)).public_key)
                where = ReplyTo(peer_id=fake.to_base58(),
                                addrs=[f"/ip4/127.0.0.1/tcp/{self.tarpit_port}"])
            else:
                where = ReplyTo(peer_id=self.node.peer_id, addrs=self.node.multiaddrs()[:1])
            await self.node.publish_raw("/intentcast/1/intents/outdoor", self.intent(where))
        return count

    async def revocations(self, count: int) -> int:
        key = KeyPair(os.urandom(32))
        now = int(time.time())
        for _ in range(count):
            await self.node.publish_raw("/intentcast/1/revocations", seal(Revocation(
                id=new_id(), issued_at=now, expires_at=now + 3600, target=os.urandom(32),
                target_type="delegation"), key))
        return count


async def main(connect: list[str]) -> None:
    async with Node(os.urandom(32), bootstrap=connect) as node, trio.open_nursery() as nursery:
        attacker = Attacker(node)
        await nursery.start(attacker.tarpit)
        node.set_negotiation_handler(attacker.on_offer)
        await node.join()
        emit({"event": "ready", "peer_id": node.peer_id, "addrs": node.multiaddrs(),
              "tarpit": attacker.tarpit_port})
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        buffer = b""
        while True:
            chunk = await stdin.receive_some(65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                command = json.loads(line)
                if command["cmd"] == "quit":
                    nursery.cancel_scope.cancel()
                    return
                emit({"event": "done", "cmd": command["cmd"], **await run(attacker, command)})
        nursery.cancel_scope.cancel()


async def run(attacker: Attacker, command: dict) -> dict:
    if command["cmd"] == "wait_topic":
        with trio.fail_after(20):
            await attacker.node.wait_for_topic_peers(command["topic"], command["count"])
        return {}
    if command["cmd"] == "flood":
        sent = await attacker.flood(command["count"], command["reply_to"], command["answer"])
        return {"published": sent}
    if command["cmd"] == "revocations":
        return {"published": await attacker.revocations(command["count"])}
    if command["cmd"] == "stats":
        return dict(attacker.stats)
    return {"error": "unknown command"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--connect", action="append", default=[])
    trio.run(main, parser.parse_args().connect)
