"""The network on the command line: the flags every agent takes, `peers` and `connect`."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from intentcast.agents.person.client import connect as api
from intentcast.agents.runtime.home import REACHABILITY, NetOptions

_PEER_ADDR = re.compile(r"^/\S{1,250}/p2p/[1-9A-HJ-NP-Za-km-z]{32,64}$")


def multiaddr(text: str) -> str:
    if not text.startswith("/") or " " in text or len(text) > 255:
        raise argparse.ArgumentTypeError(f"{text!r} is not a multiaddr like /ip4/1.2.3.4/tcp/4710")
    return text


def peer_multiaddr(text: str) -> str:
    if not _PEER_ADDR.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a peer's multiaddr ending in /p2p/<peer id>, like "
            "/ip4/203.0.113.7/tcp/4710/p2p/12D3KooW…")
    return text


def parent() -> argparse.ArgumentParser:
    """The flags of every command that runs (or makes) an agent; they add to config.toml."""
    network = argparse.ArgumentParser(add_help=False)
    network.add_argument("--listen", type=multiaddr,
                         help="listen multiaddr (default: the config's, else /ip4/0.0.0.0/tcp/"
                              "4710 for a person, 4711 for a vendor, 4712 for an assistant)")
    network.add_argument("--bootstrap", type=peer_multiaddr, action="append", default=[],
                         metavar="MULTIADDR", help="a peer to connect to (repeatable)")
    network.add_argument("--mdns", action="store_true", help="find peers on the LAN with mDNS")
    network.add_argument("--relay-service", action="store_true",
                         help="relay connections for peers behind NAT (circuit relay v2)")
    network.add_argument("--relay", type=peer_multiaddr, action="append", default=[],
                         metavar="MULTIADDR", help="a relay to hold a slot on when behind NAT "
                         "(repeatable; without one, a connected relay or the DHT's)")
    network.add_argument("--reachability", choices=REACHABILITY,
                         help="auto (default): behind NAT when a peer sees us at an address "
                         "that is not ours; or say so")
    return network


def options(args: argparse.Namespace) -> NetOptions:
    return NetOptions(listen=args.listen, bootstrap=tuple(args.bootstrap), mdns=args.mdns,
                      relay_service=args.relay_service, relays=tuple(args.relay),
                      reachability=args.reachability)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    sub.add_parser("peers", help="the peers your daemon is connected to", parents=[common])
    connect = sub.add_parser("connect", help="connect your daemon to a peer, and keep it so",
                             parents=[common])
    connect.add_argument("addr", type=peer_multiaddr, metavar="MULTIADDR",
                         help="the peer's address, ending in /p2p/<peer id>")


def run(args: argparse.Namespace, home: Path) -> int:
    client = api(home)
    try:
        if args.command == "connect":
            result: Any = client.call("POST", "/v1/network/connect", json={"addr": args.addr})
            text = (f"connected to {result['peer_id']}; your daemon keeps it connected"
                    if result["connected"] else
                    f"{result['peer_id']} did not answer; your daemon keeps trying")
        else:
            result = client.call("GET", "/v1/network/peers")
            text = "\n".join(_peer_line(p) for p in result) or "no peers"
    finally:
        client.close()
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


def _peer_line(p: dict[str, Any]) -> str:
    latency = f"{p['latency_ms']:.1f} ms" if p.get("latency_ms") is not None else "? ms"
    what = p["role"] or ("relay" if p.get("relay") else "")
    if p.get("name"):
        what = f'{what} "{p["name"]}"'.strip()
    via = "relayed" if p["relayed"] else p["direction"]
    topics = ",".join(t.rsplit("/", 1)[-1] for t in p.get("topics", []))
    addr = p["addrs"][0] if p["addrs"] else ""
    return "  ".join(x for x in (p["peer_id"], f"{via:<8}", f"{latency:>9}", addr, what,
                                 topics) if x)
