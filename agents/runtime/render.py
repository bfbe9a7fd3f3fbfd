"""Turning messages into JSON and short text that people and scripts can read."""

from __future__ import annotations

from typing import Any

from intentcast.protocol import Money, format_amount


def jsonable(value: Any) -> Any:
    """Message dumps contain bytes (digests, nonces); JSON carries them as hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def money(value: Money) -> str:
    return format_amount(value.amount, value.currency)


def short_did(did: str) -> str:
    """`did:key:z6MkiT…ooWp`: enough to tell keys apart on screen."""
    return f"{did[:14]}…{did[-4:]}" if len(did) > 20 else did
