"""Deterministic CBOR (RFC 8949 §4.2.1) with a strict decoder.

cbor2 does the byte work. Its `canonical=True` mode sorts map keys length-first
(the older RFC 7049 rule), which differs from §4.2.1's bytewise order when a map
mixes key types, so `encode` orders maps itself and cbor2 only serialises them.
`decode` lets cbor2 reject indefinite lengths, duplicate keys and deep nesting,
walks the result for types we forbid (floats, tags, simple values, big ints),
then re-encodes and demands the same bytes: anything not in deterministic form
(long-form integers, unsorted keys) fails that comparison.
"""

from __future__ import annotations

import io
from typing import Any

import cbor2

from .errors import EncodingError, Reason

MAX_SIZE = 64 * 1024
"""Largest encoded item accepted by default (bytes)."""

MAX_DEPTH = 16
"""Deepest nesting of arrays and maps accepted."""

_INT_MIN = -(2**64)
_INT_MAX = 2**64 - 1


def _ordered(obj: Any) -> Any:
    if isinstance(obj, dict):
        items = [(cbor2.dumps(_ordered(k)), k, v) for k, v in obj.items()]
        items.sort(key=lambda item: item[0])
        return {k: _ordered(v) for _, k, v in items}
    if isinstance(obj, list | tuple):
        return [_ordered(v) for v in obj]
    if isinstance(obj, cbor2.CBORTag):
        return cbor2.CBORTag(obj.tag, _ordered(obj.value))
    return obj


def encode(obj: Any) -> bytes:
    """Encode `obj` in deterministic CBOR. Floats are refused, as they are on decode."""
    _check_types(obj, allow_tags=True, depth=0)
    return cbor2.dumps(_ordered(obj))


def _check_types(obj: Any, *, allow_tags: bool, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise EncodingError(Reason.TOO_DEEP, f"nesting deeper than {MAX_DEPTH}")
    if isinstance(obj, bool) or obj is None or isinstance(obj, str | bytes):
        return
    if isinstance(obj, int):
        if not _INT_MIN <= obj <= _INT_MAX:
            raise EncodingError(Reason.TYPE_NOT_ALLOWED, "integer outside the 64-bit range")
        return
    if isinstance(obj, float):
        raise EncodingError(Reason.FLOAT_NOT_ALLOWED, "floats are not allowed; use integers")
    if isinstance(obj, list | tuple):
        for v in obj:
            _check_types(v, allow_tags=allow_tags, depth=depth + 1)
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, bool) or not isinstance(k, int | str):
                raise EncodingError(Reason.TYPE_NOT_ALLOWED, "map keys must be integers or text")
            _check_types(k, allow_tags=allow_tags, depth=depth + 1)
            _check_types(v, allow_tags=allow_tags, depth=depth + 1)
        return
    if isinstance(obj, cbor2.CBORTag) and allow_tags:
        _check_types(obj.value, allow_tags=allow_tags, depth=depth + 1)
        return
    kind = f"tag {obj.tag}" if isinstance(obj, cbor2.CBORTag) else type(obj).__name__
    raise EncodingError(
        Reason.TYPE_NOT_ALLOWED, f"CBOR tags and special values are not allowed here ({kind})"
    )


def loads_wellformed(data: bytes, *, max_size: int = MAX_SIZE, allow_tags: bool) -> Any:
    """Decode one well-formed CBOR item with no trailing bytes, definite lengths,
    no duplicate keys, bounded depth and only the types intentcast uses.

    Used directly for COSE structures made by other implementations, whose
    header maps need not be in deterministic form.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EncodingError(Reason.MALFORMED_CBOR, "expected bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise EncodingError(Reason.TOO_LARGE, f"{len(data)} bytes is over the {max_size} limit")
    if not data:
        raise EncodingError(Reason.MALFORMED_CBOR, "empty input")
    fp = io.BytesIO(data)
    try:
        obj = cbor2.CBORDecoder(
            fp,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            max_depth=MAX_DEPTH + 1,
        ).decode()
    except RecursionError as exc:
        raise EncodingError(Reason.TOO_DEEP, f"nesting deeper than {MAX_DEPTH}") from exc
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, MemoryError) as exc:
        raise _classify(exc) from exc
    if fp.tell() != len(data):
        raise EncodingError(Reason.TRAILING_BYTES, f"{len(data) - fp.tell()} bytes after the item")
    obj = _thaw(obj)
    _check_types(obj, allow_tags=allow_tags, depth=0)
    return obj


def _thaw(obj: Any) -> Any:
    # cbor2 decodes the content of a tag immutably (tuples, frozendict); make it plain.
    if isinstance(obj, cbor2.CBORTag):
        return cbor2.CBORTag(obj.tag, _thaw(obj.value))
    if isinstance(obj, list | tuple):
        return [_thaw(v) for v in obj]
    if isinstance(obj, dict | cbor2.frozendict):
        return {k: _thaw(v) for k, v in obj.items()}
    return obj


def decode(data: bytes, *, max_size: int = MAX_SIZE) -> Any:
    """Decode deterministic CBOR strictly; every rejection is an `EncodingError`."""
    obj = loads_wellformed(data, max_size=max_size, allow_tags=False)
    if cbor2.dumps(_ordered(obj)) != bytes(data):
        raise EncodingError(Reason.NOT_DETERMINISTIC, "input is not in deterministic CBOR form")
    return obj


def _classify(exc: BaseException) -> EncodingError:
    text = str(exc)
    if "indefinite" in text:
        return EncodingError(Reason.INDEFINITE_LENGTH, "indefinite lengths are not allowed")
    if "Duplicate" in text or "duplicate" in text:
        return EncodingError(Reason.DUPLICATE_KEY, "a map repeats a key")
    if "depth" in text:
        return EncodingError(Reason.TOO_DEEP, f"nesting deeper than {MAX_DEPTH}")
    return EncodingError(Reason.MALFORMED_CBOR, f"not well-formed CBOR ({type(exc).__name__})")
