"""A lean subscriber for the gossip tests and benchmarks: the real Node and Gossip, no store.

Subscribes to intent topics (and, with --revocations, the revocation topic) and counts
what is delivered. Speaks JSON lines: prints {"event": "ready", "peer_id", "addrs"};
unless --quiet, {"event": "intent", "id", "via", "at"} per intent and
{"event": "revocation", "id", "via"} per revocation; {"event": "dropped", "reason",
"topic"} for everything the node refuses. Commands on stdin, each answered
{"event": "done", "cmd", ...}:
  {"cmd": "report"}              counts: heard, first and last arrival, drops, gossip stats
  {"cmd": "advance", "s": N}     move this node's clock N seconds on (caches, expiry)
  {"cmd": "wait_topic", "topic": T, "count": N}
  {"cmd": "connect", "addr": A}
  {"cmd": "peers"}               connected peers and mesh members
  {"cmd": "when", "id": I}       when intent I arrived (Unix time), or null
With --profile FILE the whole run is profiled (cProfile) into FILE.
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

from intentcast.agents.net.gossip import GossipSettings
from intentcast.agents.net.node import Node


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Listener:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.offset = 0.0
        self.heard = 0
        self.first = 0.0
        self.last = 0.0
        self.drops: collections.Counter[str] = collections.Counter()
        self.arrivals: dict[str, float] = {}

    def now(self) -> float:
        return time.time() + self.offset

    def on_drop(self, reason: str, topic: str, via: str = "") -> None:
        self.drops[reason] += 1
        if not self.args.quiet:
            emit({"event": "dropped", "reason": reason, "topic": topic})

    async def count(self, deliveries, kind: str) -> None:
        async for delivery in deliveries:
            at = time.time()
            self.heard += 1
            self.first = self.first or at
            self.last = at
            self.arrivals[delivery.verified.message.id] = at
            if not self.args.quiet:
                emit({"event": kind, "id": delivery.verified.message.id,
                      "via": delivery.via, "at": at})

    async def run(self) -> None:
        settings = GossipSettings(seen_ttl=self.args.seen_ttl)
        async with Node(os.urandom(32), bootstrap=self.args.connect, now=self.now,
                        gossip=settings) as node, trio.open_nursery() as nursery:
            node.on_drop = self.on_drop
            for category in self.args.category:
                nursery.start_soon(self.count, await node.subscribe_intents(category), "intent")
            if self.args.revocations:
                nursery.start_soon(self.count, await node.subscribe_revocations(), "revocation")
            await node.join()
            emit({"event": "ready", "peer_id": node.peer_id, "addrs": node.multiaddrs()})
            await self.commands(node)
            nursery.cancel_scope.cancel()

    async def commands(self, node: Node) -> None:
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        buffer = b""
        while True:
            chunk = await stdin.receive_some(65536)
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                command = json.loads(line)
                if command["cmd"] == "quit":
                    return
                emit({"event": "done", "cmd": command["cmd"], **await self.do(node, command)})

    async def do(self, node: Node, command: dict) -> dict:
        if command["cmd"] == "report":
            return {"heard": self.heard, "first": self.first, "last": self.last,
                    "drops": dict(self.drops), "stats": node.gossip.stats()}
        if command["cmd"] == "when":
            return {"at": self.arrivals.get(command["id"])}
        if command["cmd"] == "advance":
            self.offset += float(command["s"])
            return {"offset": self.offset}
        if command["cmd"] == "wait_topic":
            with trio.fail_after(20):
                await node.wait_for_topic_peers(command["topic"], command["count"])
            return {}
        if command["cmd"] == "connect":
            return {"ok": await node.connect(command["addr"])}
        if command["cmd"] == "peers":
            return {"peers": node.peers(),
                    "mesh": {t: sorted(p.to_base58() for p in peers)
                             for t, peers in node.gossip.router.mesh.items()}}
        return {"error": "unknown command"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--connect", action="append", default=[])
    parser.add_argument("--category", action="append", default=[])
    parser.add_argument("--revocations", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--seen-ttl", type=float, default=120.0)
    parser.add_argument("--profile")
    args = parser.parse_args()
    if args.profile:
        import cProfile

        cProfile.run("trio.run(Listener(args).run)", args.profile)
    else:
        trio.run(Listener(args).run)
