"""Sealing messages into signed envelopes and opening them again.

`open` checks, in this order and no other: size, structure, algorithm,
signature, schema, freshness (expiry, not-yet-valid within a bounded clock
skew, replay). Cheap checks run first so garbage costs little, and no payload
is parsed for meaning before its signature holds. Time is always passed in.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from . import cose
from .encoding import decode, encode
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


@dataclass
class ReplayGuard:
    """Remembers (signer, id) of accepted messages until they expire.

    Bounded: past `capacity` the entries closest to expiry are forgotten first,
    which only reopens replay for messages about to be refused as expired.
    """

    capacity: int = 100_000
    _expiry: dict[tuple[str, str], int] = field(default_factory=dict)
    _heap: list[tuple[int, tuple[str, str]]] = field(default_factory=list)

    def seen(self, key: tuple[str, str]) -> bool:
        return key in self._expiry

    def remember(self, key: tuple[str, str], expires_at: int, *, now: int) -> None:
        self.prune(now)
        while len(self._expiry) >= self.capacity and self._heap:
            _, old = heapq.heappop(self._heap)
            self._expiry.pop(old, None)
        self._expiry[key] = expires_at
        heapq.heappush(self._heap, (expires_at, key))

    def prune(self, now: int) -> None:
        while self._heap and self._heap[0][0] < now:
            _, key = heapq.heappop(self._heap)
            if self._expiry.get(key, now + 1) < now:
                del self._expiry[key]

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
        obj = decode(payload, max_size=cose.MAX_ENVELOPE_SIZE)
    except EncodingError as exc:
        raise EnvelopeError(exc.reason, f"payload: {exc.message}") from exc
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
    max_skew: int = MAX_CLOCK_SKEW,
    require_complete: bool = True,
) -> Verified:
    """Verify an envelope completely; raise `EnvelopeError` with a reason if anything fails.

    With `seen`, a message is remembered once it passes, and refused as a
    replay if it comes again. An Agreement verifies only when both parties have
    signed, unless `require_complete` is False (the countersigning step).
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
    key = (",".join(sorted(signers)), message.id)
    if seen is not None:
        if seen.seen(key):
            raise EnvelopeError(Reason.REPLAY, f"message {message.id} was seen already")
        seen.remember(key, message.expires_at, now=now)
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
