"""The assistant ↔ person's daemon protocol, `/intentcast/assistant/1`.

Frames as on the negotiation stream (specs/protocol.md §9), each holding one
deterministic-CBOR map with an `op`. The assistant opens every stream, so it
needs no address of its own on the person's side, and the peer id Noise
authenticated is its key: the daemon serves only peers whose key is the
delegate of a live grant.

- `hello` {grant, addrs}: the stream stays open as the event stream; the
  daemon answers `welcome` {intents: [{intent, link}], peers}, then sends `intent`
  {intent, link}, `expiring` {intent_id} and `revoked` {grant_id} as they happen.
- `renew` {intent_id}: answered `link` {link}, or `error` {error}.
- `record` {envelope}: a copy of what the assistant sent or received, for the
  person's store and audit log; answered `ok` or `error`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from intentcast.agents.conversation.channel import Channel
from intentcast.protocol import EncodingError, decode, encode

Bytes = Annotated[bytes, Field(max_length=64 * 1024)]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class Op(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Hello(Op):
    op: Literal["hello"] = "hello"
    grant: Bytes
    addrs: list[Annotated[str, StringConstraints(pattern=r"^/[!-~]{1,255}$")]] = Field(
        default_factory=list, max_length=8)


class Renew(Op):
    op: Literal["renew"] = "renew"
    intent_id: Id


class Record(Op):
    op: Literal["record"] = "record"
    envelope: Bytes


class Assigned(Op):
    intent: Bytes
    link: Bytes


class Welcome(Op):
    op: Literal["welcome"] = "welcome"
    intents: list[Assigned] = Field(default_factory=list, max_length=256)
    peers: list[Annotated[str, StringConstraints(pattern=r"^/[!-~]{1,255}$")]] = Field(
        default_factory=list, max_length=32)
    """Peers the person's daemon knows (full multiaddrs): where the assistant publishes."""


class IntentEvent(Op):
    op: Literal["intent"] = "intent"
    intent: Bytes
    link: Bytes


class Expiring(Op):
    op: Literal["expiring"] = "expiring"
    intent_id: Id


class Revoked(Op):
    op: Literal["revoked"] = "revoked"
    grant_id: Id


class Link(Op):
    op: Literal["link"] = "link"
    link: Bytes


class Ok(Op):
    op: Literal["ok"] = "ok"


class Error(Op):
    op: Literal["error"] = "error"
    error: Annotated[str, StringConstraints(max_length=280)]


Request = Annotated[Hello | Renew | Record, Field(discriminator="op")]
Answer = Annotated[Welcome | IntentEvent | Expiring | Revoked | Link | Ok | Error,
                   Field(discriminator="op")]
_REQUEST: TypeAdapter[Request] = TypeAdapter(Request)
_ANSWER: TypeAdapter[Answer] = TypeAdapter(Answer)


class ControlError(Exception):
    """A control frame that is not what the protocol allows."""

    def __init__(self, message: str) -> None:
        # Messages quote the peer (a tag, a key, its own error text): one line, bounded.
        if not message.isprintable():
            message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        super().__init__(message if len(message) <= 300 else message[:297] + "...")


async def exchange(stream: Channel, frame: bytes, *, peer: str) -> bytes:
    """One request, one answer, and the stream closed whatever happens.

    Callers bound the wait (trio.fail_after): a peer may also just never answer."""
    try:
        await stream.send(frame)
        answer = await stream.receive()
    finally:
        await stream.close()
    if answer is None:
        raise ControlError(f"{peer} closed the stream without an answer")
    return answer


def pack(message: Op) -> bytes:
    return encode(message.model_dump())


def unpack(adapter: TypeAdapter[Any], data: bytes) -> Any:
    try:
        return adapter.validate_python(decode(data))
    except EncodingError as exc:
        raise ControlError(f"not deterministic CBOR: {exc.message}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ControlError(f"{'.'.join(map(str, err['loc'])) or 'frame'}: {err['msg']}") from exc


def read_request(data: bytes) -> Hello | Renew | Record:
    result: Hello | Renew | Record = unpack(_REQUEST, data)
    return result


def read_answer(data: bytes) -> Welcome | IntentEvent | Expiring | Revoked | Link | Ok | Error:
    result: Welcome | IntentEvent | Expiring | Revoked | Link | Ok | Error = unpack(
        _ANSWER, data)
    return result
