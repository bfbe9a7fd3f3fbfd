"""A hostile peer for the end-to-end tests: a real libp2p node that breaks the rules.

Speaks JSON lines. Prints {"event": "ready", ...}; then, for each command read
from stdin, does it and prints {"event": "done", "cmd": ...}:
  {"cmd": "wait_topic", "topic": T, "count": N}   wait until N peers subscribe to T
  {"cmd": "publish_raw", "topic": T, "hex": H}    publish bytes, skipping every check
  {"cmd": "publish_many", "topic": T, "hexes": [H, ...]}
                                                  publish each, back to back (a burst)
  {"cmd": "garbage", "peer": P, "addrs": [...], "hex": H}
                                                  open a negotiation stream, send raw bytes
  {"cmd": "quit"}
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import trio

from agents.p2p import Node


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def main(connect: list[str]) -> None:
    async with Node(os.urandom(32), bootstrap=connect) as node:
        emit({"event": "ready", "peer_id": node.peer_id, "addrs": node.multiaddrs()})
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
                result = await run(node, command)
                emit({"event": "done", "cmd": command["cmd"], **result})


async def run(node: Node, command: dict) -> dict:
    if command["cmd"] == "wait_topic":
        with trio.fail_after(20):
            await node.wait_for_topic_peers(command["topic"], command["count"])
        return {}
    if command["cmd"] == "publish_raw":
        await node.publish_raw(command["topic"], bytes.fromhex(command["hex"]))
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
