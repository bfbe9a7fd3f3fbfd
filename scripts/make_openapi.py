"""Write specs/openapi.json: the OpenAPI document of the daemon's local API.

    python scripts/make_openapi.py          # rewrite it
    python scripts/make_openapi.py --check  # exit 1 if it is stale

tests/test_api.py checks that the checked-in document matches the code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from intentcast.agents.person.agent import PersonAgent
from intentcast.agents.person.api.app import create_app
from intentcast.agents.store.db import Store
from intentcast.protocol.identity import MasterKey

OUT = Path(__file__).resolve().parent.parent / "specs" / "openapi.json"


class _Offline:
    """The document does not depend on the network; nothing here is ever called."""

    peer_id = "12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"

    def multiaddrs(self) -> list[str]:
        return []

    async def publish_intent(self, data: bytes) -> None:
        raise RuntimeError("offline")

    def peer_views(self) -> list[Any]:
        return []

    def network_status(self) -> dict[str, Any]:
        return {}

    async def connect(self, addr: str) -> bool:
        raise RuntimeError("offline")


def document() -> str:
    agent = PersonAgent(Store(Path(":memory:")), MasterKey(bytes(32)), _Offline())
    app = create_app(agent, "unused", dict, network=_Offline())
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    text = document()
    if parser.parse_args().check:
        fresh = OUT.exists() and OUT.read_text("utf-8") == text
        if not fresh:
            print("stale: specs/openapi.json (run make vectors)", file=sys.stderr)
        return 0 if fresh else 1
    OUT.write_text(text, "utf-8")
    print("wrote specs/openapi.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
