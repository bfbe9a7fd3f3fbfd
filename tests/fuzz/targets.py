"""One fuzz target per decoder a peer's bytes reach.

A target takes one input (bytes), feeds it to a decoder as an agent would, and
lets the project's own errors through: those are the decoder doing its job. Any
other exception is a crash. Some targets also check what the decoder promises
when it accepts (an AssertionError is a crash too): decode's output encodes back
to the same bytes, an opened envelope is refused the second time as a replay, the
frame reader hands out exactly the frames of the stream.

Inputs that carry several envelopes (a delegation chain, a receipt and its
disclosure) are one CBOR item wrapping them; a byte-level mutation that breaks
the wrapper still gets fed in, as a single envelope.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
import nacl.bindings as sodium
import parties
import trio

from intentcast.agents.conversation import control, data_wire
from intentcast.agents.conversation.control import ControlError
from intentcast.agents.net.frames import MAX_FRAME, FrameError, FrameReader, encode_frame
from intentcast.protocol import consent, cose, delegation, encoding, loyalty
from intentcast.protocol.delivery import check_ack
from intentcast.protocol.envelope import (
    ReplayGuard,
    Verified,
    parse_message,
    payload_of,
    read_stored,
)
from intentcast.protocol.envelope import open as open_envelope
from intentcast.protocol.errors import EnvelopeError, IntentcastError, Reason
from intentcast.protocol.identity import is_did, public_key_from_did
from intentcast.protocol.messages import ConsentReceipt

from . import corpus
from .mutate import dumps, mutate_cbor, mutate_envelope, mutate_envelope_list, mutate_tree

Mutator = Callable[[bytes, random.Random], "bytes | None"]


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], Sequence[bytes]]
    mutate: Mutator
    expected: tuple[type[BaseException], ...] = (IntentcastError,)
    """The project's own errors: raising one of these is a decoder refusing bad input."""


def _quietly(*checks: Callable[[], object]) -> None:
    """Run every check; the project's own errors are answers, not crashes."""
    for check in checks:
        with contextlib.suppress(IntentcastError):
            check()


def _cbor(data: bytes) -> Any:
    try:
        return cbor2.loads(data)
    except Exception:
        return None


# ------------------------------------------------------------------ encoding


def run_decode(data: bytes) -> None:
    obj = encoding.decode(data)
    # decode accepts only deterministic CBOR, so encoding what it returns gives `data` back.
    again = encoding.encode(obj)
    assert again == data, f"decode accepted {data.hex()}, which encodes as {again.hex()}"


def run_wellformed(data: bytes) -> None:
    _quietly(lambda: encoding.loads_wellformed(data, allow_tags=False),
             lambda: encoding.loads_wellformed(data, allow_tags=True))


# ------------------------------------------------------------------ COSE and envelopes


def run_cose(data: bytes) -> None:
    signed = cose.parse(data)
    keys = [parties.BUYER.public_key,
            *(public_key_from_did(s.signer) for s in signed.signatures)]
    _quietly(lambda: cose.verify(data),
             *(lambda k=k: cose.verify_sign1(data, k) for k in keys))


def run_open(data: bytes) -> None:
    seen = ReplayGuard()
    verified = open_envelope(data, now=corpus.NOW, seen=seen)
    assert verified.digest == hashlib.sha256(data).digest()
    assert verified.signers, "an envelope opened without a signer"
    try:
        open_envelope(data, now=corpus.NOW, seen=seen)
    except EnvelopeError as exc:
        again: Reason | None = exc.reason
    else:
        again = None
    assert again is Reason.REPLAY, f"the same envelope opened twice: {again}"


def run_stored(data: bytes) -> None:
    read_stored(data)


def run_payload(data: bytes) -> None:
    message = parse_message(data)
    # What we accept we can seal again, and it reads back as the same message.
    assert parse_message(payload_of(message)) == message


# ------------------------------------------------------------------ delegation and consent


def run_chain(data: bytes) -> None:
    spec = _cbor(data)
    root, now = corpus.vectors_module().BUYER.did, corpus.NOW + 140
    links: list[bytes] = [data]
    revoked: list[Any] = []
    if isinstance(spec, dict) and isinstance(spec.get("chain"), list):
        # The root is the verifier's own: the DID that signed the intent it already opened.
        root = spec["root"] if isinstance(spec.get("root"), str) and is_did(spec["root"]) else root
        now = spec["now"] if type(spec.get("now")) is int else now
        links = [x for x in spec["chain"] if isinstance(x, bytes)]
        revoked = spec["revocations"] if isinstance(spec.get("revocations"), list) else []
    revocations = delegation.Revocations()
    for raw in revoked:
        if isinstance(raw, bytes):
            _quietly(lambda raw=raw: revocations.add(open_envelope(raw, now=now)))
    authority = delegation.verify_chain(links, root=root, now=now, revocations=revocations)
    assert authority.chain[0] == root
    assert len(authority.digests) == len(links)


def mutate_chain(data: bytes, rng: random.Random) -> bytes | None:
    spec = _cbor(data)
    if not isinstance(spec, dict) or not isinstance(spec.get("chain"), list):
        return mutate_envelope(data, rng)
    spec = dict(spec)
    roll = rng.random()
    if roll < 0.7:
        spec["chain"] = mutate_envelope_list(list(spec["chain"]), rng)
    elif roll < 0.8 and isinstance(spec.get("revocations"), list):
        spec["revocations"] = mutate_envelope_list(list(spec["revocations"]), rng)
    elif roll < 0.9:
        spec["now"] = rng.choice([corpus.NOW, corpus.NOW + 200, corpus.NOW + 86_400, 0, 2**40])
    else:
        spec["root"] = rng.choice(corpus.did_strings())
    return dumps(spec, rng)


def _pair(data: bytes) -> list[bytes]:
    items = _cbor(data)
    if isinstance(items, list) and len(items) == 2 and all(isinstance(i, bytes) for i in items):
        return items
    return [data, corpus.data_exchange()["disclosure"]]


def run_consent(data: bytes) -> None:
    """The data desks and the buyer: open both envelopes, then every check that takes two
    (a receipt and its disclosure or withdrawal, a deletion, a credit and its redemption, an
    agreement and the vendor's ack)."""
    first, second = (open_envelope(raw, now=corpus.NOW) for raw in _pair(data))
    agreement = parties.agreement()
    vendor = parties.SELLER

    def deletion(receipt: Verified, deleted: Verified) -> None:
        if isinstance(receipt.message, ConsentReceipt):
            consent.check_deletion(receipt.message, deleted)

    _quietly(lambda: consent.receive(agreement, first, second, vendor),
             lambda: consent.check_withdrawal(first, second, agreement),
             lambda: deletion(first, second),
             lambda: loyalty.check(first, second, vendor=vendor.did, offer=corpus.OFFER_DIGEST),
             lambda: check_ack(second, about=first.raw, signer=corpus.vectors_module().VENDOR.did))


def mutate_consent(data: bytes, rng: random.Random) -> bytes | None:
    return dumps(mutate_envelope_list(_pair(data), rng), rng)


def run_sealed(data: bytes) -> None:
    from intentcast.protocol.sealing import open_fields

    fields = open_fields(data, parties.SELLER)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())


def mutate_sealed(data: bytes, rng: random.Random) -> bytes | None:
    """Open the box with the vendor's key, change the CBOR inside, seal it again."""
    key = parties.SELLER
    public = bytes(sodium.crypto_sign_ed25519_pk_to_curve25519(key.public_key))
    secret = bytes(sodium.crypto_sign_ed25519_sk_to_curve25519(key.seed + key.public_key))
    try:
        plain = sodium.crypto_box_seal_open(data, public, secret)
    except Exception:
        return None
    inner = mutate_cbor(plain, rng) or plain[: rng.randrange(len(plain) + 1)]
    return bytes(sodium.crypto_box_seal(inner, public))


# ------------------------------------------------------------------ frames


class Chunks:
    """A stream that hands its bytes out in the chunk sizes the input chose, then EOF."""

    def __init__(self, data: bytes, sizes: Sequence[int]) -> None:
        self.data, self.sizes, self.pos, self.reads = data, list(sizes), 0, 0

    async def read(self, n: int | None = None, /) -> bytes:
        assert n is None or n > 0, f"read({n})"
        size = self.sizes[self.reads % len(self.sizes)] if self.sizes else 0
        self.reads += 1
        want = len(self.data) if n is None else n
        take = min(want, size) if size else want
        out = self.data[self.pos:self.pos + take]
        self.pos += len(out)
        return out

    async def write(self, data: bytes, /) -> None:
        raise AssertionError("the reader wrote to the stream")


FRAME_LIMITS = (MAX_FRAME, 1, 127, 300)


def split_frames_input(data: bytes) -> tuple[int, list[int], bytes]:
    """Input layout: a byte choosing the frame limit, a count of chunk sizes (mod 8), the
    sizes (0: whatever is asked for), then the bytes of the stream."""
    if len(data) < 2:
        return MAX_FRAME, [], data
    count = data[1] % 8
    return FRAME_LIMITS[data[0] % len(FRAME_LIMITS)], list(data[2:2 + count]), data[2 + count:]


def run_frames(data: bytes) -> None:
    trio.run(_read_all_frames, data)


async def _read_all_frames(data: bytes) -> None:
    limit, sizes, stream = split_frames_input(data)
    reader = FrameReader(Chunks(stream, sizes), max_size=limit)
    consumed = bytearray()
    for _ in range(len(stream) + 1):
        frame = await reader.read_frame()
        if frame is None:
            assert consumed == stream, "the reader stopped before the end of the stream"
            return
        assert len(frame) <= limit
        consumed += encode_frame(frame)
        assert stream.startswith(consumed), "the frames read are not the stream's"
    raise AssertionError("more frames than bytes")


def _split_frames(stream: bytes) -> list[bytes]:
    """The whole frames at the start of `stream`, by the spec's rule (not the reader's)."""
    frames, pos = [], 0
    while pos < len(stream):
        length, shift, start = 0, 0, pos
        while pos < len(stream) and pos - start < 3:
            byte = stream[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        else:
            return frames
        if pos + length > len(stream) or length > MAX_FRAME:
            return frames
        frames.append(stream[pos:pos + length])
        pos += length
    return frames


def mutate_frames(data: bytes, rng: random.Random) -> bytes | None:
    limit, sizes, stream = split_frames_input(data)
    frames = _split_frames(stream)
    if frames and rng.random() < 0.5:
        i = rng.randrange(len(frames))
        frames[i] = mutate_envelope(frames[i], rng) or frames[i]
    else:
        frames.append(rng.choice(corpus.envelopes()))
    tail = rng.choice([b"", b"\x80", b"\x81", b"\x80\x00", b"\xff\xff\xff", b"\x05ab"])
    head = bytes([FRAME_LIMITS.index(limit), len(sizes)]) + bytes(sizes)
    return head + b"".join(encode_frame(f) for f in frames if len(f) <= MAX_FRAME) + tail


# ------------------------------------------------------------------ control frames


def _control_run(*readers: Callable[[bytes], Any]) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        for read in readers:
            try:
                op = read(data)
            except ControlError:
                continue
            # What we accept packs back into a frame that reads as the same thing.
            assert read(control.pack(op)) == op
    return run


def mutate_control(data: bytes, rng: random.Random) -> bytes | None:
    obj = _cbor(data)
    if isinstance(obj, dict) and rng.random() < 0.4:
        # Inside the envelopes a control frame carries: mutated and signed again.
        blobs = [k for k, v in obj.items() if isinstance(v, bytes)]
        if blobs:
            k = rng.choice(blobs)
            return dumps({**obj, k: mutate_envelope(obj[k], rng) or b""}, rng)
    return dumps(mutate_tree(obj, rng), rng) if obj is not None else None


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("encoding_decode", run_decode, corpus.encoding_seeds, mutate_cbor),
    Target("encoding_wellformed", run_wellformed, corpus.encoding_seeds, mutate_cbor),
    Target("cose", run_cose, corpus.envelopes, mutate_envelope),
    Target("envelope_open", run_open, corpus.envelopes, mutate_envelope),
    Target("envelope_stored", run_stored, corpus.envelopes, mutate_envelope),
    Target("message_payload", run_payload, corpus.payloads, mutate_cbor),
    Target("delegation_chain", run_chain, corpus.chains, mutate_chain),
    Target("consent", run_consent, corpus.consent_pairs, mutate_consent),
    Target("sealed_fields", run_sealed, corpus.sealed_fields, mutate_sealed),
    Target("frames", run_frames, corpus.frame_streams, mutate_frames, (FrameError,)),
    Target("control", _control_run(control.read_request, control.read_answer),
           corpus.control_frames, mutate_control, (ControlError,)),
    Target("data_wire", _control_run(data_wire.read_data_request, data_wire.read_data_answer),
           corpus.data_frames, mutate_control, (ControlError,)),
]}
"""Every target, by name: `python tests/fuzz/run.py --list` prints them."""


MAX_MESSAGE = 1000
"""An error is one line a person can read: a peer must not choose how long it is."""


def feed(target: Target, data: bytes) -> None:
    """Run one input; return quietly on the project's own errors, raise anything else."""
    try:
        target.run(data)
    except target.expected as exc:
        refusal: BaseException = exc
    else:
        return
    # A refusal is a reason code and one line a person can read.
    text = refusal.message if isinstance(refusal, IntentcastError) else str(refusal)
    if isinstance(refusal, IntentcastError):
        assert isinstance(refusal.reason, Reason), f"no reason code on {refusal!r}"
    assert text.strip(), f"an empty message on {refusal!r}"
    assert "\n" not in text, f"not one line: {text!r}"
    assert len(text) <= MAX_MESSAGE, f"a {len(text)}-character error: {text[:200]!r}..."
