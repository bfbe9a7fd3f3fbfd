"""`/intentcast/about/1`: what a peer says it serves, for peer books and `intentcast peers`.

The peer that opens the stream sends nothing; the other answers with one frame
(the framing of spec §9) holding a deterministic-CBOR map and closes:
`role` ("vendor" or absent), `name` (a vendor's display name, at most 64
characters), `topics` (the intent topics it answers, at most 16) and `relay`
(true when it serves circuit relay v2), and `seen`: the IP address the answerer
sees the asker's direct connection come from (absent over a relayed one), which
is how a node learns it is behind NAT. A person's daemon and an assistant answer
no more than `seen`: they tell no stranger what they are. Unknown keys are
ignored; a frame over 2,048 bytes or a map of the wrong shape is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intentcast.agents.net.peerbook import MAX_TOPICS, clean_name
from intentcast.protocol import IntentcastError, decode, encode

ABOUT_PROTOCOL = "/intentcast/about/1"
MAX_ABOUT = 2048


class AboutError(ValueError):
    """A peer's about frame that cannot be read."""


@dataclass(frozen=True)
class About:
    role: str = ""
    name: str = ""
    topics: tuple[str, ...] = ()
    relay: bool = False
    seen: str = ""

    def to_bytes(self) -> bytes:
        out: dict[str, Any] = {}
        if self.role:
            out["role"] = self.role
        if self.name:
            out["name"] = self.name
        if self.topics:
            out["topics"] = sorted(self.topics)[:MAX_TOPICS]
        if self.relay:
            out["relay"] = True
        if self.seen:
            out["seen"] = self.seen
        return encode(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> About:
        if len(data) > MAX_ABOUT:
            raise AboutError(f"an about frame holds at most {MAX_ABOUT} bytes")
        try:
            raw = decode(data)
        except IntentcastError as exc:
            raise AboutError(f"not deterministic CBOR: {exc.message}") from exc
        if not isinstance(raw, dict):
            raise AboutError("an about frame is a map")
        role, name = raw.get("role", ""), raw.get("name", "")
        topics, relay = raw.get("topics", []), raw.get("relay", False)
        seen = raw.get("seen", "")
        if role not in ("", "vendor") or not isinstance(name, str) or not isinstance(
                relay, bool) or not isinstance(seen, str) or len(seen) > 45:
            raise AboutError("role is 'vendor' or absent, name a text, relay a boolean, "
                             "seen an IP address")
        if not isinstance(topics, list) or len(topics) > MAX_TOPICS or not all(
                isinstance(t, str) and len(t) <= 128 for t in topics):
            raise AboutError(f"topics is a list of at most {MAX_TOPICS} short texts")
        return cls(role=role, name=clean_name(name), topics=tuple(topics), relay=relay,
                   seen=seen)
