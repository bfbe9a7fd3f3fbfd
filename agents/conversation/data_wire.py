"""`/intentcast/data/1`: the person's agent and a vendor, after an agreement.

The person's agent opens every stream. `disclose` {receipt, disclosure} hands
the vendor a consent receipt and the fields sealed to it (answered `stored`
{credit?}: with a loyalty credit to the receipt's subject if the vendor gives
them, or `error`); `revoke` {revocation} withdraws a consent (answered
`deleted` {receipt}: the vendor's signed deletion receipt, or `error`);
`redeem` {credit, redemption} presents a credit against an open offer
(answered `honoured` {value} or `error`); `deliver` {envelope} hands over a
countersigned agreement again, until the vendor acknowledges it (answered
`ack` {ack}: the vendor's signed ack, stored or refused, or `error`; spec §7.1). Frames and maps
as on the assistant protocol (agents/conversation/control.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from intentcast.agents.conversation.control import Bytes, Error, Ok, Op, unpack


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


class Stored(Op):
    """A disclosure kept; with a loyalty credit when the vendor gives them."""

    op: Literal["stored"] = "stored"
    credit: Bytes | None = None


class Redeem(Op):
    op: Literal["redeem"] = "redeem"
    credit: Bytes
    redemption: Bytes


class Honoured(Op):
    """A credit accepted against the named offer: it lowers the price by `value`."""

    op: Literal["honoured"] = "honoured"
    value: int


class Deliver(Op):
    """A countersigned agreement, (re)delivered until the vendor acknowledges it."""

    op: Literal["deliver"] = "deliver"
    envelope: Bytes


class Acked(Op):
    op: Literal["ack"] = "ack"
    ack: Bytes


DataRequest = Annotated[Disclose | Revoke | Redeem | Deliver, Field(discriminator="op")]
DataAnswer = Annotated[Ok | Deleted | Stored | Honoured | Acked | Error,
                       Field(discriminator="op")]
_REQUEST: TypeAdapter[DataRequest] = TypeAdapter(DataRequest)
_ANSWER: TypeAdapter[DataAnswer] = TypeAdapter(DataAnswer)


def read_data_request(data: bytes) -> Disclose | Revoke | Redeem | Deliver:
    found: Disclose | Revoke | Redeem | Deliver = unpack(_REQUEST, data)
    return found


def read_data_answer(data: bytes) -> Ok | Deleted | Stored | Honoured | Acked | Error:
    found: Ok | Deleted | Stored | Honoured | Acked | Error = unpack(_ANSWER, data)
    return found
