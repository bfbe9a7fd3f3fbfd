"""Sealing messages into signed envelopes and opening them again.

`open` checks, in this order and no other: size, structure, algorithm,
signature, schema, freshness (expiry, not-yet-valid within a bounded clock
skew, replay). Cheap checks run first so garbage costs little, and no payload
is parsed for meaning before its signature holds. Time is always passed in.
"""

from __future__ import annotations

import collections
import hashlib
import heapq
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from . import cose
from .encoding import decode, decode_for_schema, encode
from .errors import EncodingError, EnvelopeError, LocalProtocolError, Reason
from .identity import KeyPair
from .messages import (
    MESSAGE_ADAPTER,
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    Agreement,
    Message,
    digest,
    to_cbor_map,
)

MAX_CLOCK_SKEW = 300
"""Seconds a message's issued_at may lie in the future before it is refused."""


@dataclass(frozen=True)
class Verified:
    """A message that passed every check, with who signed it and its digest."""

    message: Message
    signers: tuple[str, ...]
    digest: bytes
    raw: bytes

    @property
    def signer(self) -> str:
        return self.signers[0]


class ReplayGuard:
    """Remembers the (signers, id) of accepted messages until they expire.

    Bounded, and failing closed: message lifetimes are capped per type (spec §5),
    so what it holds is bounded by rate times lifetime; when it is full of entries
    that have not expired it refuses new messages (`overloaded`) rather than
    forget an honest one and let its replay through. With `per_source`, no one
    source (the peer a message came from, say) may hold more than that share,
    so one hostile peer fills only its own part.
    """

    def __init__(self, capacity: int = 100_000, *, per_source: int | None = None) -> None:
        self.capacity = capacity
        self.per_source = per_source
        self._expiry: dict[bytes, tuple[int, str]] = {}
        self._heap: list[tuple[int, bytes]] = []
        self._sources: collections.Counter[str] = collections.Counter()
        self.refused = 0
        """Messages refused because the guard (or a source's share of it) was full."""

    @staticmethod
    def key(signers: tuple[str, ...], message_id: str) -> bytes:
        # 16 bytes of SHA-256 instead of two strings: a tenth of the memory per entry.
        joined = ",".join(sorted(signers)) + "\x00" + message_id
        return hashlib.sha256(joined.encode("utf-8")).digest()[:16]

    def seen(self, key: bytes) -> bool:
        return key in self._expiry

    def remember(self, key: bytes, expires_at: int, *, now: int, source: str = "") -> None:
        """Hold `key` until `expires_at`; raise `overloaded` when there is no room for it."""
        if key in self._expiry:
            return
        self.prune(now)
        if len(self._expiry) >= self.capacity or (
                self.per_source is not None and self._sources[source] >= self.per_source):
            self.refused += 1
            raise EnvelopeError(Reason.OVERLOADED, "the replay guard is full; try again later")
        self._expiry[key] = (expires_at, source)
        self._sources[source] += 1
        heapq.heappush(self._heap, (expires_at, key))

    def prune(self, now: int) -> None:
        """Forget what has expired: its replay is refused as expired from now on."""
        while self._heap and self._heap[0][0] <= now:
            _, key = heapq.heappop(self._heap)
            _, source = self._expiry.pop(key)
            self._sources[source] -= 1
            if not self._sources[source]:
                del self._sources[source]

    def __len__(self) -> int:
        return len(self._expiry)


def payload_of(message: Message) -> bytes:
    """The deterministic CBOR payload that gets signed."""
    return encode(to_cbor_map(message))


def seal(message: Message, key: KeyPair | bytes) -> bytes:
    """Sign `message` into a COSE_Sign1 envelope (an Agreement into a COSE_Sign)."""
    seed = key.seed if isinstance(key, KeyPair) else key
    if isinstance(message, Agreement):
        if KeyPair(seed).did not in (message.buyer_signer, message.vendor):
            raise LocalProtocolError(Reason.BAD_KEY, "only the buyer's signer or the vendor "
                                     "signs an agreement")
        return cose.sign_multi(payload_of(message), seed)
    return cose.sign1(payload_of(message), seed)


def countersign(agreement_envelope: bytes, key: KeyPair, *, now: int) -> bytes:
    """Add our signature to an agreement the other party signed first."""
    verified = open(agreement_envelope, now=now, require_complete=False)
    message = verified.message
    if not isinstance(message, Agreement) or key.did not in (message.buyer_signer,
                                                             message.vendor):
        raise LocalProtocolError(Reason.BAD_KEY, "this key is not a party to the agreement")
    return cose.add_signature(agreement_envelope, key.seed)


def read_stored(raw: bytes) -> Message:
    """The message inside an envelope this agent verified before and stored.

    It does not verify again (a stored envelope may have expired since): use `open`
    for anything that comes from outside."""
    return parse_message(cose.parse(raw).payload)


def parse_message(payload: bytes) -> Message:
    """Decode and validate a payload into its message model (the schema step)."""
    try:
        obj, settled = decode_for_schema(payload, max_size=cose.MAX_ENVELOPE_SIZE)
    except EncodingError as exc:
        raise EnvelopeError(exc.reason, f"payload: {exc.message}") from exc
    try:
        return _validate(obj)
    except EnvelopeError:
        if not settled:  # name the encoding fault first, if there is one
            try:
                decode(payload, max_size=cose.MAX_ENVELOPE_SIZE)
            except EncodingError as exc:
                raise EnvelopeError(exc.reason, f"payload: {exc.message}") from exc
        raise


def _validate(obj: Any) -> Message:
    if not isinstance(obj, dict):
        raise EnvelopeError(Reason.BAD_SCHEMA, "the payload is not a map")
    if type(obj.get("v")) is not int or obj.get("v") != PROTOCOL_VERSION:  # not True
        raise EnvelopeError(Reason.UNSUPPORTED_VERSION, f"protocol version {obj.get('v')!r}")
    if obj.get("type") not in MESSAGE_TYPES:
        raise EnvelopeError(Reason.BAD_SCHEMA, f"unknown message type {obj.get('type')!r}")
    try:
        return MESSAGE_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        raise EnvelopeError(Reason.BAD_SCHEMA, _first_error(exc)) from exc


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"][1:]) or "message"
    return f"{where}: {err['msg']}"


def open(
    data: bytes,
    *,
    now: int,
    seen: ReplayGuard | None = None,
    source: str = "",
    max_skew: int = MAX_CLOCK_SKEW,
    require_complete: bool = True,
) -> Verified:
    """Verify an envelope completely; raise `EnvelopeError` with a reason if anything fails.

    With `seen`, a message is remembered once it passes (on `source`'s share), and
    refused as a replay if it comes again. An Agreement verifies only when both
    parties have signed, unless `require_complete` is False (the countersigning step).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "an envelope is bytes")
    data = bytes(data)
    signed = cose.verify(data)
    message = parse_message(signed.payload)
    signers = tuple(s.signer for s in signed.signatures)
    _check_signers(message, signers, signed.multi, require_complete)
    if now >= message.expires_at:
        raise EnvelopeError(Reason.EXPIRED, f"expired {now - message.expires_at} s ago")
    if message.issued_at > now + max_skew:
        raise EnvelopeError(Reason.NOT_YET_VALID, f"issued {message.issued_at - now} s ahead")
    if seen is not None:
        key = ReplayGuard.key(signers, message.id)
        if seen.seen(key):
            raise EnvelopeError(Reason.REPLAY, f"message {message.id} was seen already")
        seen.remember(key, message.expires_at, now=now, source=source)
    return Verified(message=message, signers=signers, digest=digest(data), raw=data)


def _check_signers(message: Any, signers: tuple[str, ...], multi: bool, complete: bool) -> None:
    if not isinstance(message, Agreement):
        if multi:
            raise EnvelopeError(Reason.BAD_STRUCTURE, f"a {message.type} travels as COSE_Sign1")
        return
    if not multi:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "an agreement travels as COSE_Sign")
    parties = {message.buyer_signer, message.vendor}
    strangers = set(signers) - parties
    if strangers:
        raise EnvelopeError(Reason.BAD_SIGNATURE, "signed by a key that is not a party")
    if complete and set(signers) != parties:
        raise EnvelopeError(Reason.MISSING_SIGNATURE, "an agreement needs both parties' signatures")
    if len(signers) > 1 and signers[0] != message.vendor:
        # The seller signs first (spec §7); one order of signatures, so one digest.
        raise EnvelopeError(Reason.BAD_STRUCTURE, "an agreement's first signature is the vendor's")
