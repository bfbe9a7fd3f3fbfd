"""Seed inputs for the fuzz targets, and the keys that let a mutation be signed again.

Seeds are the hex inputs of specs/vectors/*.json plus envelopes sealed here with the
fixed keys of scripts/make_vectors.py and tests/parties.py, so every message type, a
full negotiation, an assisted one and the data-rights exchanges are in the corpus.
Everything is deterministic: the same seeds on every run.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import cbor2
import parties
import vector_files

from intentcast.agents.conversation import control, data_wire
from intentcast.protocol import consent, cose, loyalty
from intentcast.protocol.encoding import encode
from intentcast.protocol.envelope import read_stored, seal
from intentcast.protocol.identity import KeyPair, MasterKey
from intentcast.protocol.messages import ConsentReceipt, Money, digest
from intentcast.protocol.sealing import seal_fields

NOW = 1_800_000_060
"""When envelopes are opened: just after the vectors' messages were issued."""


@functools.cache
def vectors_module() -> ModuleType:
    return vector_files.generator()


@functools.cache
def keys() -> dict[str, KeyPair]:
    """Every fixed key the seeds are signed with, by DID: mutations are re-signed with them."""
    found: dict[str, KeyPair] = {}
    module = vectors_module()
    for value in [*vars(module).values(), *vars(parties).values()]:
        if isinstance(value, KeyPair):
            found[value.did] = value
        elif isinstance(value, MasterKey):
            found[value.root.did] = value.root
    return found


def _vector_hex(name: str, *fields: str) -> list[bytes]:
    out = []
    for entry in vector_files.load(name):
        for f in fields:
            value = entry.get(f)
            for hx in value if isinstance(value, list) else [value]:
                if isinstance(hx, str):
                    out.append(bytes.fromhex(hx))
    return out


@functools.cache
def encoding_seeds() -> tuple[bytes, ...]:
    return (*_vector_hex("encoding.json", "hex"), *payloads())


@functools.cache
def sealed_messages() -> dict[str, bytes]:
    """Valid envelopes made with the project's own seal functions: every message type."""
    module = vectors_module()
    return {**module.transcript(), **module.assisted(), **module._others(), **data_exchange()}


@functools.cache
def envelopes() -> tuple[bytes, ...]:
    """The vectors' envelopes (valid and not) and every sealed message above."""
    return (*_vector_hex("envelopes.json", "hex"), *sealed_messages().values())


@functools.cache
def payloads() -> tuple[bytes, ...]:
    return tuple(cose.parse(raw).payload for raw in sealed_messages().values())


@functools.cache
def data_exchange() -> dict[str, bytes]:
    """A disclosure under consent, its withdrawal, the deletion receipt, a credit and its
    redemption, between tests/parties.py's buyer, pairwise key and vendor."""
    agreement = parties.agreement()
    receipt, disclosure = consent.disclose(
        agreement, parties.VALUES, buyer=parties.BUYER, pairwise=parties.PAIRWISE,
        now=parties.NOW)
    withdrawal = consent.withdraw(receipt, parties.PAIRWISE, now=parties.NOW + 10)
    receipt_msg = read_stored(receipt)
    assert isinstance(receipt_msg, ConsentReceipt)
    deletion = consent.deletion_receipt(receipt_msg, parties.SELLER, now=parties.NOW + 20,
                                        cause="revocation")
    credit = loyalty.issue_credit(parties.SELLER, holder=parties.PAIRWISE.did,
                                  agreement_id=agreement.id,
                                  value=Money(amount=500, currency="EUR"), now=parties.NOW)
    redemption = loyalty.redeem(credit, parties.PAIRWISE, intent_id="intent-0002",
                                offer=OFFER_DIGEST, now=parties.NOW + 30)
    return {"receipt": receipt, "disclosure": disclosure, "withdrawal": withdrawal,
            "deletion": deletion, "credit": credit, "redemption": redemption,
            "agreement-envelope": seal(agreement, parties.SELLER)}


OFFER_DIGEST = bytes(range(32))
"""The offer a seed redemption names: the consent target checks credits against it."""


@functools.cache
def consent_pairs() -> tuple[bytes, ...]:
    """Inputs of the consent target: a CBOR array of two envelopes each."""
    ex = {**data_exchange(), **sealed_messages()}
    pairs = [("receipt", "disclosure"), ("receipt", "withdrawal"), ("receipt", "deletion"),
             ("credit", "redemption"), ("agreement", "ack")]
    return tuple(encode([ex[a], ex[b]]) for a, b in pairs)


@functools.cache
def chains() -> tuple[bytes, ...]:
    """Inputs of the delegation target: a CBOR map {root, now, chain, revocations}."""
    out = []
    for entry in vector_files.load("delegations.json"):
        out.append(encode({
            "root": entry["root"], "now": entry["now"],
            "chain": [bytes.fromhex(h) for h in entry["chain"]],
            "revocations": [bytes.fromhex(h) for h in entry.get("revocations", [])],
        }))
    return tuple(out)


@functools.cache
def sealed_fields() -> tuple[bytes, ...]:
    seller = parties.SELLER.did
    return (
        seal_fields({"email": "ada@example.org"}, seller, ephemeral_seed=bytes(32)),
        seal_fields(dict.fromkeys(("a", "b", "postcode"), "x" * 10), seller,
                    ephemeral_seed=bytes(range(32))),
        cbor2.loads(cose.parse(data_exchange()["disclosure"]).payload)["sealed"],
    )


def _frames(*items: bytes) -> bytes:
    from intentcast.agents.net.frames import encode_frame

    return b"".join(encode_frame(i) for i in items)


@functools.cache
def frame_streams() -> tuple[bytes, ...]:
    """Inputs of the frame target: a chunking schedule, then the stream (see targets.py)."""
    msgs = list(sealed_messages().values())
    return (
        b"\x00\x00" + _frames(msgs[0]),
        b"\x00\x03\x01\x02\x07" + _frames(msgs[0], msgs[1], b"", b"x" * 200),
        b"\x01\x02\x00\x05" + _frames(b"x" * 20, b"y" * 17),
        b"\x02\x01\x80" + _frames(b"z" * 128) + b"\x81",
        b"\x00\x00" + b"\x80\x80\x04" + b"\x00" * 16,
    )


def _control_seeds() -> list[Any]:
    env = sealed_messages()["intent"]
    link = sealed_messages()["assisted-counter"]
    return [
        control.Hello(grant=link, addrs=["/ip4/127.0.0.1/tcp/4001"]),
        control.Renew(intent_id="intent-0001"),
        control.Record(envelope=env),
        control.Welcome(intents=[control.Assigned(intent=env, link=link)],
                        peers=["/ip4/127.0.0.1/tcp/4001/p2p/" + "Qm" + "x" * 44]),
        control.IntentEvent(intent=env, link=link),
        control.Expiring(intent_id="intent-0001"),
        control.Revoked(grant_id="grant-0001"),
        control.Link(link=link),
        control.Ok(),
        control.Error(error="no such grant"),
    ]


def _data_seeds() -> list[Any]:
    ex = data_exchange()
    return [
        data_wire.Disclose(receipt=ex["receipt"], disclosure=ex["disclosure"]),
        data_wire.Revoke(revocation=ex["withdrawal"]),
        data_wire.Redeem(credit=ex["credit"], redemption=ex["redemption"]),
        data_wire.Deleted(receipt=ex["deletion"]),
        data_wire.Stored(credit=ex["credit"]),
        data_wire.Stored(),
        data_wire.Honoured(value=500),
        data_wire.Deliver(envelope=sealed_messages()["agreement"]),
        data_wire.Acked(ack=sealed_messages()["ack"]),
        control.Ok(),
        control.Error(error="credit_spent"),
    ]


@functools.cache
def control_frames() -> tuple[bytes, ...]:
    return tuple(control.pack(m) for m in _control_seeds())


@functools.cache
def data_frames() -> tuple[bytes, ...]:
    return tuple(control.pack(m) for m in _data_seeds())


@functools.cache
def field_names() -> tuple[str, ...]:
    """Every map key the decoders look for: mutations insert and rename with these."""
    from pydantic import BaseModel

    from intentcast.protocol.messages import MESSAGE_TYPES

    names: set[str] = set()
    seen: set[type] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        names.update(model.model_fields)
        for f in model.model_fields.values():
            for arg in _types_in(f.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    walk(arg)

    for cls in MESSAGE_TYPES.values():
        walk(cls)
    for m in [*_control_seeds(), *_data_seeds()]:
        walk(type(m))
    return tuple(sorted(names))


def _types_in(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", ()) or ()
    found = [annotation]
    for a in args:
        found += _types_in(a)
    meta = getattr(annotation, "__origin__", None)
    if meta is not None:
        found.append(meta)
    return found


@functools.cache
def message_types() -> tuple[str, ...]:
    from intentcast.protocol.messages import MESSAGE_TYPES

    return tuple(sorted(MESSAGE_TYPES))


@functools.cache
def did_strings() -> tuple[str, ...]:
    return tuple(sorted(keys()))


@functools.cache
def envelope_digests() -> tuple[bytes, ...]:
    return tuple(digest(raw) for raw in sealed_messages().values())
