"""Listening on a port that is taken: refused in one line, though py-libp2p would bind it."""

from __future__ import annotations

import os
import socket

import pytest
import trio

from intentcast.agents.net.node import Node
from intentcast.agents.net.ports import PortError, bind_tcp, check_listen


def _reuseport_listener() -> socket.socket:
    """A listening socket made the way py-libp2p's TCP transport makes its own."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_the_kernel_lets_a_second_reuseport_socket_share_a_listening_port():
    # Why the check exists: without it, a second agent binds a port the first listens on.
    first = _reuseport_listener()
    second = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        second.bind(first.getsockname())
        second.listen()
    finally:
        second.close()
        first.close()


def test_a_taken_port_is_refused_and_a_free_one_passes():
    taken = _reuseport_listener()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(PortError, match=f"127.0.0.1 port {port}: the port is in use"):
            check_listen(f"/ip4/127.0.0.1/tcp/{port}")
        with pytest.raises(PortError, match="in use"):
            bind_tcp("127.0.0.1", port)
    finally:
        taken.close()
    check_listen(f"/ip4/127.0.0.1/tcp/{port}")  # free again
    check_listen("/ip4/127.0.0.1/tcp/0")
    with pytest.raises(PortError, match="not one of this machine's"):
        check_listen("/ip4/192.0.2.1/tcp/4001")  # TEST-NET-1: never a local address
    with pytest.raises(PortError, match="0 to 65535"):
        check_listen("/ip4/127.0.0.1/tcp/70000")


@pytest.mark.trio
async def test_a_node_refuses_a_port_another_node_listens_on():
    async with Node(os.urandom(32)) as first:
        addr = first.multiaddrs()[0].split("/p2p/")[0]
        with pytest.raises(PortError, match="in use"):
            async with Node(os.urandom(32), listen=addr):
                pass
        assert first.multiaddrs()  # the first keeps its port


@pytest.mark.trio
async def test_a_node_restarts_on_its_port_while_old_connections_linger():
    # A fixed port must be usable again at once, though connections the node closed sit in
    # TIME_WAIT on it: the trial bind tolerates those, as py-libp2p's own bind does.
    with bind_tcp("127.0.0.1", 0) as probe:
        port = probe.getsockname()[1]
    listen = f"/ip4/127.0.0.1/tcp/{port}"
    async with Node(os.urandom(32), listen=listen):
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(b"\x13/multistream/1.0.0\n")
        assert await trio.to_thread.run_sync(client.recv, 64)  # the node has the connection
    client.close()  # the node closed its end first: TIME_WAIT is on the node's port
    async with Node(os.urandom(32), listen=listen) as again:
        assert again.multiaddrs()[0].startswith(listen)
