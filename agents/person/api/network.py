"""The local API's routes for the daemon's network: its peers, and connecting to one."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from dataclasses import asdict
from typing import Annotated, Any, Protocol

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from intentcast.agents.errors import AgentError, Kind
from intentcast.agents.net.node import PeerView
from intentcast.agents.person.api.responses import errors

PeerAddr = Annotated[str, StringConstraints(
    max_length=255, pattern=r"^/[!-~]{1,200}/p2p/[1-9A-HJ-NP-Za-km-z]{32,64}$")]


class Network(Protocol):
    peer_id: str

    def multiaddrs(self) -> list[str]: ...
    def peer_views(self) -> list[PeerView]: ...
    def network_status(self) -> dict[str, Any]: ...
    async def connect(self, addr: str) -> bool: ...


class PostConnect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    addr: PeerAddr = Field(description="the peer's multiaddr, ending in /p2p/<peer id>")


def add_routes(app: FastAPI, network: Network | None, guarded: list[Any]) -> None:
    """The routes; without a network (an agent made for tests) they answer 503."""

    def node() -> Network:
        if network is None:
            raise AgentError(Kind.UNAVAILABLE, "this agent runs without a network")
        return network

    @app.get("/v1/network", dependencies=guarded, responses=errors(503))
    async def get_network() -> dict[str, Any]:
        """Our addresses (relayed first when behind NAT), reachability, relays, DHT, limits."""
        return {"peer_id": node().peer_id, "addrs": node().multiaddrs(),
                **node().network_status()}

    @app.get("/v1/network/peers", dependencies=guarded, responses=errors(503))
    async def get_peers() -> list[dict[str, Any]]:
        """Connected peers: addresses, direction, latency, and what vendors say they are."""
        return [asdict(view) for view in node().peer_views()]

    @app.post("/v1/network/connect", dependencies=guarded, responses=errors(422, 503))
    async def post_connect(body: PostConnect) -> dict[str, Any]:
        """Dial a peer and keep it connected from now on (with backoff when it drops)."""
        peer_id = body.addr.rsplit("/p2p/", 1)[1]
        if peer_id == node().peer_id:
            raise AgentError(Kind.INVALID, "addr: that is this daemon's own address")
        return {"peer_id": peer_id, "connected": await node().connect(body.addr)}
