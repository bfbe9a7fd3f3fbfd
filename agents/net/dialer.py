"""Dialling a peer: its direct addresses first, its relayed ones beside them soon after.

A direct dial runs alone for `HAPPY_EYEBALLS` seconds (or until it fails); then the
relayed addresses (…/p2p/<relay>/p2p-circuit/p2p/<peer>) are tried one by one beside
it, and the first connection wins. py-libp2p's swarm skips relayed addresses, so they
go through the circuit relay transport (relay.py).
"""

from __future__ import annotations

import multiaddr
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from intentcast.agents.net.relay import Relay, is_relayed

DIAL_TIMEOUT = 10.0
HAPPY_EYEBALLS = 0.5
"""How long a direct dial runs alone before relayed addresses are tried beside it."""


def split(peer_id: str, addrs: list[str]) -> tuple[list[multiaddr.Multiaddr], list[str]]:
    """(direct addresses without their /p2p part, relayed addresses ending in /p2p/<peer>);
    malformed ones are left out."""
    direct: list[multiaddr.Multiaddr] = []
    relayed: list[str] = []
    for addr in addrs:
        try:
            ma = multiaddr.Multiaddr(addr)
        except Exception:
            continue
        if is_relayed(addr):
            relayed.append(addr if addr.endswith(f"/p2p/{peer_id}") else f"{addr}/p2p/{peer_id}")
        else:
            p2p = ma.get_peer_id()
            direct.append(ma.decapsulate(multiaddr.Multiaddr(f"/p2p/{p2p}")) if p2p else ma)
    return direct, relayed


def connected(host: IHost, peer: ID) -> bool:
    return bool(host.get_network().get_connections(peer))


async def reach(host: IHost, relay: Relay, peer_id: str, addrs: list[str]) -> None:
    """Connect to the peer through `addrs`; ConnectionError (naming what failed) if none
    answers within `DIAL_TIMEOUT`."""
    peer = ID.from_base58(peer_id)
    direct, relayed = split(peer_id, addrs)
    if not direct and not relayed:
        raise ConnectionError(f"no usable address for {peer_id}")
    done, direct_over = trio.Event(), trio.Event()
    errors: list[str] = []

    async def direct_dial() -> None:
        try:
            if direct:
                # The swarm's negative cache would refuse a peer that failed in the last
                # minute; our callers' backoff decides when to try again instead.
                host.get_network().unblock_peer(peer)  # type: ignore[attr-defined]
                await host.connect(PeerInfo(peer, direct))
                done.set()
        except Exception as exc:
            errors.append(f"direct: {exc}")
        finally:
            direct_over.set()

    async def relayed_dial() -> None:
        with trio.move_on_after(HAPPY_EYEBALLS):
            await direct_over.wait()
        for addr in relayed:
            if done.is_set():
                return
            try:
                await relay.dial(addr)
                done.set()
                return
            except Exception as exc:
                errors.append(f"{addr}: {exc}")

    with trio.move_on_after(DIAL_TIMEOUT):
        async with trio.open_nursery() as nursery:

            async def both() -> None:
                async with trio.open_nursery() as attempts:
                    attempts.start_soon(direct_dial)
                    if relayed:
                        attempts.start_soon(relayed_dial)
                nursery.cancel_scope.cancel()  # every attempt is over

            async def first_wins() -> None:
                await done.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(first_wins)
            nursery.start_soon(both)
    if not connected(host, peer):
        raise ConnectionError("; ".join(errors)[:300] or "timed out")
