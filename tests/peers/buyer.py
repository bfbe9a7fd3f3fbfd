"""A person at their keyboard, for tests whose daemon runs where the test cannot reach its API
(a network namespace): runs beside the daemon and drives its real local API.

Speaks JSON lines. Prints {"event": "ready"}; then, for each command read from stdin:
  {"cmd": "post", "intent": {...}}            -> {"event": "posted", "id": ..., "t": ...}
  {"cmd": "offers", "id": I, "count": N}      -> {"event": "offers", "offers": [...], "t": ...}
  {"cmd": "accept", "ref": R}                 -> {"event": "agreed", "agreement": {...}, "t": ...}
  {"cmd": "quit"}
Times are time.monotonic(), the machine's clock whatever the namespace, so the test
can set them beside its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from intentcast.agents.person.client import Client


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main(home: Path) -> None:
    client = Client(home)
    emit({"event": "ready"})
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        if command["cmd"] == "post":
            made = client.call("POST", "/v1/intents", json=command["intent"])
            emit({"event": "posted", "id": made["id"], "t": time.monotonic()})
        elif command["cmd"] == "offers":
            offers = client.call("GET", f"/v1/intents/{command['id']}/offers",
                                 params={"wait": 30, "count": command["count"]})
            emit({"event": "offers", "offers": offers, "t": time.monotonic()})
        elif command["cmd"] == "accept":
            agreement = client.call("POST", f"/v1/offers/{command['ref']}/accept")
            emit({"event": "agreed", "agreement": agreement, "t": time.monotonic()})
    client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, required=True)
    main(parser.parse_args().home)
