"""Deterministic CBOR (RFC 8949 §4.2.1) with a strict decoder.

cbor2 does the byte work. Its `canonical=True` mode sorts map keys length-first
(the older RFC 7049 rule), which differs from §4.2.1's bytewise order when a map
mixes key types, so `encode` orders maps itself and cbor2 only serialises them.
`decode` lets cbor2 reject indefinite lengths, duplicate keys and deep nesting,
walks the result for types we forbid (floats, tags, simple values, big ints),
then re-encodes and demands the same bytes: anything not in deterministic form
(long-form integers, unsorted keys) fails that comparison.

`decode_for_schema` takes a faster road to the same answer for payloads a
strict schema validates next (every payload an agent receives; the walk was the
largest cost of `envelope.open` after the signature): see its docstring.
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


def _key_order(key: int | str) -> tuple[int, int, bytes]:
    """Sort key equal to RFC 8949 bytewise order of the encoded keys.

    The first byte of an encoded key holds its major type, then its argument
    (the value of an integer, the byte length of a text) in a form that sorts
    like the number; equal arguments of text compare by their bytes.
    """
    if isinstance(key, str):
        raw = key.encode("utf-8")
        return (3, len(raw), raw)
    return (0, key, b"") if key >= 0 else (1, -1 - key, b"")


def _bad_type(obj: Any) -> EncodingError:
    if isinstance(obj, float):
        return EncodingError(Reason.FLOAT_NOT_ALLOWED, "floats are not allowed; use integers")
    if isinstance(obj, int):
        return EncodingError(Reason.TYPE_NOT_ALLOWED, "integer outside the 64-bit range")
    kind = f"tag {obj.tag}" if isinstance(obj, cbor2.CBORTag) else type(obj).__name__
    return EncodingError(
        Reason.TYPE_NOT_ALLOWED, f"CBOR tags and special values are not allowed here ({kind})"
    )


def _walk(obj: Any, *, allow_tags: bool, depth: int) -> Any:
    """Check `obj` holds only the types intentcast uses; return it as plain lists
    and dicts with maps in deterministic order."""
    kind = type(obj)
    if depth >= MAX_DEPTH and kind in _CONTAINERS:
        raise EncodingError(Reason.TOO_DEEP, f"nesting deeper than {MAX_DEPTH}")
    if kind is str or kind is bytes or kind is bool or obj is None:
        return obj
    if kind is int:
        if not _INT_MIN <= obj <= _INT_MAX:
            raise _bad_type(obj)
        return obj
    if kind is list or kind is tuple:
        return [_walk(v, allow_tags=allow_tags, depth=depth + 1) for v in obj]
    if kind is dict:
        items = []
        for k, v in obj.items():
            if type(k) is not str and type(k) is not int:
                raise EncodingError(Reason.TYPE_NOT_ALLOWED, "map keys must be integers or text")
            if type(k) is int and not _INT_MIN <= k <= _INT_MAX:
                raise _bad_type(k)
            items.append((_key_order(k), k, v))
        items.sort(key=lambda item: item[0])
        return {
            k: _walk(v, allow_tags=allow_tags, depth=depth + 1)
            for _, k, v in items
        }
    if allow_tags and isinstance(obj, cbor2.CBORTag):
        # cbor2 hands tag content over immutably (tuples, frozendict): _walk makes it plain.
        if isinstance(obj.value, cbor2.frozendict):
            return cbor2.CBORTag(obj.tag, _walk(dict(obj.value), allow_tags=True,
                                                depth=depth + 1))
        return cbor2.CBORTag(obj.tag, _walk(obj.value, allow_tags=True, depth=depth + 1))
    if isinstance(obj, cbor2.frozendict) and allow_tags:
        return _walk(dict(obj), allow_tags=True, depth=depth)
    raise _bad_type(obj)


def _check_canonical(obj: Any, depth: int) -> None:
    """`_walk` for decoding: the tree must already be deterministic, so only check.

    Runs for every payload an agent receives, hence the flat loops: it is the
    largest cost of `envelope.open` after the signature itself.
    """
    kind = type(obj)
    if depth >= MAX_DEPTH and kind in _CONTAINERS:
        # Counted in containers, whatever sits innermost: 17 nested arrays are too
        # deep whether they end in an integer, a string or nothing at all.
        raise EncodingError(Reason.TOO_DEEP, f"nesting deeper than {MAX_DEPTH}")
    if kind is dict:
        previous: tuple[int, int, bytes] | None = None
        for k, v in obj.items():
            if type(k) is str:
                raw = k.encode("utf-8")
                order = (3, len(raw), raw)
            elif type(k) is int and _INT_MIN <= k <= _INT_MAX:
                order = (0, k, b"") if k >= 0 else (1, -1 - k, b"")
            else:
                raise EncodingError(Reason.TYPE_NOT_ALLOWED, "map keys must be integers or text")
            if previous is not None and order <= previous:
                raise EncodingError(Reason.NOT_DETERMINISTIC, "map keys are not in order")
            previous = order
            if type(v) not in _LEAVES:
                _check_canonical(v, depth + 1)
        return
    if kind is list:
        for v in obj:
            if type(v) not in _LEAVES:
                _check_canonical(v, depth + 1)
        return
    if kind is int:
        if not _INT_MIN <= obj <= _INT_MAX:
            raise _bad_type(obj)
        return
    if kind in _LEAVES:
        return
    raise _bad_type(obj)


_LEAVES = frozenset({str, bytes, bool, type(None)})
_CONTAINERS = frozenset({dict, list, tuple, cbor2.frozendict, cbor2.CBORTag})


def encode(obj: Any) -> bytes:
    """Encode `obj` in deterministic CBOR. Floats are refused, as they are on decode."""
    return cbor2.dumps(_walk(obj, allow_tags=True, depth=0))


def loads_wellformed(
    data: bytes, *, max_size: int = MAX_SIZE, allow_tags: bool, canonical: bool = False,
    raw: bool = False,
) -> Any:
    """Decode one well-formed CBOR item with no trailing bytes, definite lengths,
    no duplicate keys, bounded depth and only the types intentcast uses.

    Used directly for COSE structures made by other implementations, whose
    header maps need not be in deterministic form. With `raw`, the item is
    returned as cbor2 decoded it (tag content as tuples and frozendicts), its
    types unchecked: for callers that check every field themselves.
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
    if raw:
        return obj
    if canonical:
        _check_canonical(obj, 0)
        return obj
    # Tagged content (only COSE structures have any) is thawed into plain lists and maps.
    return _walk(obj, allow_tags=allow_tags, depth=0)


def decode(data: bytes, *, max_size: int = MAX_SIZE) -> Any:
    """Decode deterministic CBOR strictly; every rejection is an `EncodingError`."""
    obj = loads_wellformed(data, max_size=max_size, allow_tags=False, canonical=True)
    # Keys are known to be in order; re-encoding catches every other non-shortest form.
    if cbor2.dumps(obj) != bytes(data):
        raise EncodingError(Reason.NOT_DETERMINISTIC, "input is not in deterministic CBOR form")
    return obj


def decode_for_schema(data: bytes, *, max_size: int = MAX_SIZE) -> tuple[Any, bool]:
    """Decode a payload that a strict schema will validate next; (value, settled).

    When cbor2 re-encodes the value to the same bytes (every length and integer in its
    shortest form, nothing trailing) and every map is keyed by ASCII text in order
    (`settled` False), the type walk of `decode` is skipped: what it refuses (floats, tags,
    other simple values, big integers) no intentcast schema accepts either. The caller must
    then call `decode` again before it refuses the value, so that a refusal names the
    encoding fault first, exactly as `decode` would. Otherwise the exact `decode` has run
    (`settled`).
    """
    if type(data) is bytes and 0 < len(data) <= max_size:
        try:
            obj = cbor2.loads(data, allow_indefinite=False, allow_duplicate_keys=False,
                              max_depth=MAX_DEPTH + 1)
        except Exception:  # any decoding trouble: the exact path names it
            obj = _NOTHING
        if obj is not _NOTHING and cbor2.dumps(obj) == data and _text_keys_in_order(obj, 0):
            return obj, False
    return decode(data, max_size=max_size), True


_NOTHING = object()


def _text_keys_in_order(obj: Any, depth: int) -> bool:
    """Every map keyed by ASCII text in RFC 8949 order (for text: shorter first, then
    bytewise) and no container deeper than MAX_DEPTH. Values are the schema's business."""
    kind = type(obj)
    if kind is not dict and kind is not list:
        return True
    if depth >= MAX_DEPTH:
        return False
    if kind is list:
        for value in obj:
            if (type(value) is dict or type(value) is list) and not _text_keys_in_order(
                    value, depth + 1):
                return False
        return True
    size, last = -1, ""
    for key, value in obj.items():
        if type(key) is not str or not key.isascii():
            return False  # the exact path orders other keys (and refuses integer ones)
        length = len(key)
        if length < size or (length == size and key <= last):
            return False
        size, last = length, key
        if (type(value) is dict or type(value) is list) and not _text_keys_in_order(
                value, depth + 1):
            return False
    return True


def _classify(exc: BaseException) -> EncodingError:
    text = str(exc)
    if "indefinite" in text:
        return EncodingError(Reason.INDEFINITE_LENGTH, "indefinite lengths are not allowed")
    if "Duplicate" in text or "duplicate" in text:
        return EncodingError(Reason.DUPLICATE_KEY, "a map repeats a key")
    if "depth" in text:
        return EncodingError(Reason.TOO_DEEP, f"nesting deeper than {MAX_DEPTH}")
    return EncodingError(Reason.MALFORMED_CBOR, f"not well-formed CBOR ({type(exc).__name__})")
