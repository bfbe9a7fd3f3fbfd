"""TCP ports an agent listens on, tried before a server takes them.

py-libp2p's TCP listener (libp2p/transport/tcp/tcp.py, `_set_reuse_flags`) sets SO_REUSEPORT on
its sockets, for hole punching. On Linux two sockets that both set it, owned by the same user,
may bind the same address and port: the kernel then spreads incoming connections across the two
processes. So a second agent told to listen on a port another agent holds binds it "fine", and
half the peers dialling the first reach the second. A trial bind without SO_REUSEPORT, with
SO_REUSEADDR only, fails on a port any socket listens on, while it tolerates the connections a
previous run left in TIME_WAIT; it runs just before py-libp2p binds (agents/net/node.py).

No libp2p here: plain sockets.
"""

from __future__ import annotations

import errno
import re
import socket

_TCP_ADDR = re.compile(r"^/(?P<family>ip4|ip6)/(?P<host>[^/]+)/tcp/(?P<port>\d{1,5})(/|$)")


class PortError(Exception):
    """A port or address this agent was told to listen on cannot be had; one line."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"cannot listen on {where}: {reason}")


def bind_tcp(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port), port 0 for any free one; PortError if taken."""
    if not 0 <= port <= 65535:
        raise PortError(f"{host} port {port}", "ports go from 0 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise PortError(f"{host} port {port}", _reason(exc)) from exc
    return sock


def check_listen(listen: str) -> None:
    """Refuse a libp2p listen multiaddr (/ip4/…/tcp/N) whose port is taken or whose address is
    not this machine's. Port 0 (any free port) and other transports pass unchecked."""
    match = _TCP_ADDR.match(listen)
    if match is None or int(match["port"]) == 0:
        return
    bind_tcp(match["host"], int(match["port"])).close()


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use by another program"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "that address is not one of this machine's"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return (exc.strerror or str(exc)).lower()
