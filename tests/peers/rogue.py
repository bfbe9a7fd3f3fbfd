"""A hostile peer for the end-to-end tests: a real libp2p node that breaks the rules.

Speaks JSON lines. Prints {"event": "ready", ...}; then, for each command read
from stdin, does it and prints {"event": "done", "cmd": ...}:
  {"cmd": "wait_topic", "topic": T, "count": N}   wait until N peers subscribe to T
  {"cmd": "publish_raw", "topic": T, "hex": H}    publish bytes, skipping every check
  {"cmd": "publish_many", "topic": T, "hexes": [H, ...]}
                                                  publish each, back to back (a burst)
  {"cmd": "publish_signed", "topic": T, "hex": H} publish with from/seqno/signature/key set
                                                  (py-libp2p's StrictSign), which peers refuse
  {"cmd": "connect", "addr": A}                   dial a peer (again)
  {"cmd": "subscribe", "category": C}             join C's topic (and so its meshes)
  {"cmd": "garbage", "peer": P, "addrs": [...], "hex": H}
                                                  open a negotiation stream, send raw bytes
  {"cmd": "assisted", "variant": V, "step": "setup" | "go"}
      play a person and a dishonest assistant: `setup` makes the keys and, for the
      `revoked` variant, publishes the revocation; `go` posts an intent naming the
      assistant, answers the vendor's offer with a counter under a bad chain (V is
      widened, expired, revoked or over_cap) and reports the vendor's answer
  {"cmd": "data", "peer": P, "addrs": [...], "hex": H}
      send one frame on /intentcast/data/1 and report the answer's hex
  {"cmd": "flood_streams", "peer": P, "count": N}
      open up to N streams to P as fast as it can; report how many opened and whether P
      cut the connection
  {"cmd": "flood_connections", "peer": P, "addr": A, "count": N}
      dial P at A N more times (each dial a new connection); report how many opened and
      whether P cut them all
  {"cmd": "quit"}
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import trio

from intentcast.agents.net.node import Node
from intentcast.protocol import cose
from intentcast.protocol.delegation import issue, revoke
from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.envelope import parse_message, seal
from intentcast.protocol.identity import KeyPair
from intentcast.protocol.messages import (
    Counter,
    Delegation,
    Intent,
    Money,
    ReplyTo,
    Scope,
    digest,
    new_id,
)
from intentcast.protocol.terms import CustomerTerms

SCOPE = Scope(categories=["outdoor"], max_price=Money(amount=20_000, currency="EUR"),
              may_counter=True, may_accept=True)


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def main(connect: list[str]) -> None:
    async with Node(os.urandom(32), bootstrap=connect) as node:
        await node.join()
        emit({"event": "ready", "peer_id": node.peer_id, "addrs": node.multiaddrs()})
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        buffer = bytearray()  # a burst arrives as one line of megabytes: append, never copy
        while True:
            chunk = await stdin.receive_some(1 << 20)
            if not chunk:
                return
            buffer += chunk
            if b"\n" not in chunk:
                continue
            while b"\n" in buffer:
                at = buffer.index(b"\n")
                line, buffer = bytes(buffer[:at]), buffer[at + 1:]
                command = json.loads(line)
                if command["cmd"] == "quit":
                    return
                result = await run(node, command)
                emit({"event": "done", "cmd": command["cmd"], **result})


class Assisted:
    """A person key, an assistant key and the bad chain of one variant."""

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.person, self.assistant = KeyPair(os.urandom(32)), KeyPair(os.urandom(32))
        self.helper = KeyPair(os.urandom(32))
        now = int(__import__("time").time())
        self.now = now
        cap = SCOPE.model_copy(update={"max_price": Money(amount=15_000, currency="EUR")})
        link = issue(self.person, self.assistant.did, cap if variant == "over_cap" else SCOPE,
                     now=now, expires_at=now + 60)
        self.signer = self.assistant
        self.chain = [link]
        if variant == "expired":
            self.chain = [issue(self.person, self.assistant.did, SCOPE, now=now - 120,
                                expires_at=now - 60)]
        elif variant == "widened":  # sealed by hand: issue() itself refuses to widen
            wider = SCOPE.model_copy(update={"max_price": Money(amount=90_000, currency="EUR")})
            self.chain.append(seal(Delegation(
                id=new_id(), issued_at=now, expires_at=now + 60, issuer=self.assistant.did,
                delegate=self.helper.did, scope=wider, not_before=now, nonce=os.urandom(16),
                parent=digest(link)), self.assistant))
            self.signer = self.helper
        self.revocation = revoke(self.person, link, now=now, expires_at=now + 120)
        self.answers: trio.MemorySendChannel | None = None

    def intent(self, node: Node) -> bytes:
        return seal(Intent(
            id=new_id(), issued_at=self.now, expires_at=self.now + 600,
            category="outdoor.camping.tents", description="a two-person tent",
            terms=CustomerTerms(purposes=["delivery", "receipt"], retention_days=90),
            reply_to=ReplyTo(peer_id=node.peer_id, addrs=node.multiaddrs()[:8]),
            assistant=self.assistant.did,
        ), self.person)

    async def on_offer(self, stream) -> None:
        offer = open_envelope(await stream.receive(), now=self.now)
        counter = seal(Counter(
            id=new_id(), issued_at=self.now, expires_at=self.now + 600,
            intent_id=offer.message.intent_id, in_reply_to=offer.digest, round=1,
            price=Money(amount=19_000, currency="EUR"), delegation=self.chain,
        ), self.signer)
        await stream.send(counter)
        answer = await stream.receive()
        message = parse_message(cose.parse(answer).payload)
        await self.answers.send({"answer": message.type,
                                 "reason": getattr(message, "reason", None)})


ASSISTED: dict[str, Assisted] = {}


async def assisted(node: Node, command: dict) -> dict:
    if command["step"] == "setup":
        plan = ASSISTED[command["variant"]] = Assisted(command["variant"])
        if plan.variant == "revoked":
            await node.publish_revocation(plan.revocation)
        return {"revocation": digest(plan.revocation).hex()}
    plan = ASSISTED[command["variant"]]
    send, receive = trio.open_memory_channel(1)
    plan.answers = send
    node.set_negotiation_handler(plan.on_offer)
    await node.publish_intent(plan.intent(node))
    with trio.fail_after(20):
        return await receive.receive()


async def cut(node: Node, peer: str) -> bool:
    """Whether `peer` closes every connection to us within 10 s."""
    with trio.move_on_after(10):
        await node.wait_disconnected(peer)
    return not node.is_connected(peer)


async def flood_streams(node: Node, peer: str, count: int) -> dict:
    """Identify streams from 16 tasks at once, each asked and closed, as fast as it goes."""
    from libp2p.custom_types import TProtocol
    from libp2p.peer.id import ID

    opened = 0
    target = ID.from_base58(peer)

    async def worker() -> None:
        nonlocal opened
        while opened < count:
            stream = await node.host.new_stream(target, [TProtocol("/ipfs/id/1.0.0")])
            opened += 1
            await stream.read()
            await stream.close()

    try:
        async with trio.open_nursery() as nursery:
            for _ in range(16):
                nursery.start_soon(worker)
    except Exception:  # the peer cut us off mid-flood
        pass
    return {"opened": opened, "cut": await cut(node, peer)}


async def flood_connections(node: Node, peer: str, addr: str, count: int) -> dict:
    import multiaddr
    from libp2p.peer.id import ID

    opened = 0
    for _ in range(count):
        try:
            await node.host.get_network().dial_addr(multiaddr.Multiaddr(addr),
                                                    ID.from_base58(peer))
            opened += 1
        except Exception:
            break
    return {"opened": opened, "cut": await cut(node, peer)}


async def run(node: Node, command: dict) -> dict:
    if command["cmd"] == "flood_streams":
        return await flood_streams(node, command["peer"], command["count"])
    if command["cmd"] == "flood_connections":
        return await flood_connections(node, command["peer"], command["addr"], command["count"])
    if command["cmd"] == "data":
        stream = await node.open_stream(command["peer"], command["addrs"], "/intentcast/data/1")
        await stream.send(bytes.fromhex(command["hex"]))
        with trio.fail_after(10):
            answer = await stream.receive()
        await stream.close()
        return {"answer": answer.hex() if answer else None}
    if command["cmd"] == "assisted":
        return await assisted(node, command)
    if command["cmd"] == "wait_topic":
        with trio.fail_after(20):
            await node.wait_for_topic_peers(command["topic"], command["count"])
        return {}
    if command["cmd"] == "publish_raw":
        await node.publish_raw(command["topic"], bytes.fromhex(command["hex"]))
        return {}
    if command["cmd"] == "publish_signed":
        await node.publish_raw(command["topic"], bytes.fromhex(command["hex"]), signed=True)
        return {}
    if command["cmd"] == "connect":
        return {"ok": await node.connect(command["addr"])}
    if command["cmd"] == "subscribe":
        await node.subscribe_intents(command["category"])  # never read: a lurker
        return {}
    if command["cmd"] == "publish_many":
        for raw in command["hexes"]:
            await node.publish_raw(command["topic"], bytes.fromhex(raw))
        return {"published": len(command["hexes"])}
    if command["cmd"] == "garbage":
        # Raw bytes on a negotiation stream, then half-close it so that a truncated
        # frame is seen as truncated; report whether the other side reset the stream.
        stream = await node.open_negotiation(command["peer"], command["addrs"])
        raw = stream._stream
        await raw.write(bytes.fromhex(command["hex"]))
        await raw.close_write()
        answer, reset = None, False
        with trio.move_on_after(10):
            try:
                answer = await raw.read(65536)
            except Exception:
                reset = True
        return {"answer": answer.hex() if answer else None, "reset": reset or answer == b""}
    return {"error": "unknown command"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--connect", action="append", default=[])
    trio.run(main, parser.parse_args().connect)
