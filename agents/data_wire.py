"""`/intentcast/data/1`: the person's agent and a vendor, after an agreement.

The person's agent opens every stream. `disclose` {receipt, disclosure} hands
the vendor a consent receipt and the fields sealed to it (answered `ok` or
`error`); `revoke` {revocation} withdraws a consent (answered `deleted`
{receipt}: the vendor's signed deletion receipt, or `error`). Frames and maps
as on the assistant protocol (agents/control.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from .control import Bytes, Error, Ok, Op, unpack


class Disclose(Op):
    op: Literal["disclose"] = "disclose"
    receipt: Bytes
    disclosure: Bytes


class Revoke(Op):
    op: Literal["revoke"] = "revoke"
    revocation: Bytes


class Deleted(Op):
    op: Literal["deleted"] = "deleted"
    receipt: Bytes


DataRequest = Annotated[Disclose | Revoke, Field(discriminator="op")]
DataAnswer = Annotated[Ok | Deleted | Error, Field(discriminator="op")]
_REQUEST: TypeAdapter[DataRequest] = TypeAdapter(DataRequest)
_ANSWER: TypeAdapter[DataAnswer] = TypeAdapter(DataAnswer)


def read_data_request(data: bytes) -> Disclose | Revoke:
    found: Disclose | Revoke = unpack(_REQUEST, data)
    return found


def read_data_answer(data: bytes) -> Ok | Deleted | Error:
    found: Ok | Deleted | Error = unpack(_ANSWER, data)
    return found
