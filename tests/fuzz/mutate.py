"""Structure-aware mutations: change one thing inside the CBOR tree, then sign again.

Byte flips die at the first check that sees them (a signature, the deterministic
form). These mutations instead decode the input, change one node of the tree (a
value, a key, a list's length, a header label, the COSE array itself), encode it
deterministically and re-sign every signature whose kid is one of corpus.keys(),
so the mutated message gets past the signature check and reaches the schema,
the delegation and the consent checks behind it.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import cbor2

from intentcast.protocol.encoding import encode

from .corpus import did_strings, envelope_digests, field_names, keys, message_types

_Path = list[Any]


@functools.cache
def _interesting() -> tuple[list[Any], list[str], list[bytes]]:
    ints = [0, 1, -1, 7, 8, 15, 16, 17, 23, 24, 32, 33, 255, 256, 280, 281, 1000, 1001, 3650,
            3651, 65_535, 65_536, 1_000_000, 1_000_001, 2**31 - 1, 2**32, 2**40, 2**40 + 1,
            2**53 + 1, 10**15, 10**15 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), -(2**64),
            1_800_000_000, 1_800_000_060, 1_800_086_400]
    texts = ["", "a", "A", "x" * 65, "x" * 129, "x" * 281, "x" * 1001, "é", "\x00", "ẞ" * 40,
             "EUR", "JPY", "XYZ", "eur", "outdoor", "outdoor.camping", "a." * 9 + "a",
             "did:key:z6Mk", "did:key:z" + "1" * 55, "intent-0001", "short", "/ip4/1.2.3.4",
             "12D3KooW" + "x" * 44, *message_types(), *field_names(), *did_strings()]
    blobs = [b"", b"\x00", bytes(15), bytes(16), bytes(31), bytes(32), bytes(33), bytes(47),
             bytes(48), bytes(64), bytes(4096), bytes(4097), *envelope_digests()]
    return ints, texts, blobs


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    ints, texts, blobs = _interesting()
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(ints)
    if roll < 0.5:
        return rng.choice(texts)
    if roll < 0.65:
        return rng.choice(blobs)
    if roll < 0.72:
        return rng.choice([True, False, None])
    if roll < 0.8 and depth < 3:
        return [_random_value(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 9]))]
    if roll < 0.88 and depth < 3:
        return {rng.choice(texts): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if roll < 0.92:
        nested: Any = 0
        for _ in range(rng.choice([15, 16, 17, 40])):
            nested = [nested]
        return nested
    # Types the decoders must refuse: floats, tags, special values.
    return rng.choice([1.0, 1.5, float("nan"), cbor2.CBORTag(1, 0), cbor2.CBORTag(24, b"\x01"),
                       cbor2.CBORTag(2, b"\x01"), cbor2.undefined, cbor2.CBORSimpleValue(0)])


def _paths(obj: Any, path: _Path, out: list[_Path]) -> None:
    out.append(path)
    if isinstance(obj, dict):
        for k, v in obj.items():
            _paths(v, [*path, k], out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _paths(v, [*path, i], out)


def _get(obj: Any, path: _Path) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def _tweak(value: Any, rng: random.Random) -> Any:
    """A near miss of `value`: one more, one less, a character changed, a list repeated."""
    if isinstance(value, bool) or value is None:
        return rng.choice([not value, 0, 1, "true"])
    if isinstance(value, int):
        return value + rng.choice([-1, 1, -(2**32), 2**32, -value * 2 - 1])
    if isinstance(value, str):
        if not value:
            return "a"
        i = rng.randrange(len(value))
        return rng.choice([value[:i], value + value[i], value.upper(),
                           value[:i] + chr(rng.randrange(32, 0x2FF)) + value[i + 1:],
                           value * rng.choice([2, 8, 60])])
    if isinstance(value, bytes):
        if not value:
            return b"\x00"
        i = rng.randrange(len(value))
        return rng.choice([value[:i], value + value[:1], value[:i] + bytes([value[i] ^ 1])
                           + value[i + 1:]])
    if isinstance(value, list):
        if not value:
            return [_random_value(rng)]
        return rng.choice([value[1:], value + value[:1], value * rng.choice([2, 9, 40]),
                           list(reversed(value))])
    if isinstance(value, dict):
        return {**value, rng.choice(field_names()): _random_value(rng)}
    return _random_value(rng)


def mutate_tree(obj: Any, rng: random.Random) -> Any:
    """`obj` (plain lists and dicts, copied) with one node changed, added or removed."""
    obj = _thaw(obj)
    paths: list[_Path] = []
    _paths(obj, [], paths)
    path = rng.choice(paths)
    if not path:
        return rng.choice([_tweak(obj, rng), _random_value(rng)])
    parent, last = _get(obj, path[:-1]), path[-1]
    roll = rng.random()
    if roll < 0.35:
        parent[last] = _tweak(parent[last], rng)
    elif roll < 0.6:
        parent[last] = _random_value(rng)
    elif roll < 0.75:
        del parent[last]  # a missing field, a shorter list
    elif roll < 0.85 and isinstance(parent, dict):
        # the same value under another key: a renamed or unknown field
        parent[rng.choice([*field_names(), 0, -1, 4, "v"])] = parent.pop(last)
    elif roll < 0.92:
        # a subtree moved to another place in the tree
        other = rng.choice(paths)
        parent[last] = _thaw(_get(obj, other)) if other[:len(path)] != path else 0
    elif isinstance(parent, dict):
        parent[rng.choice(field_names())] = _random_value(rng)
    else:
        parent.insert(last, _random_value(rng))
    return obj


def _thaw(obj: Any) -> Any:
    """A mutable deep copy: cbor2 may hand out tuples and frozendicts."""
    if isinstance(obj, dict | cbor2.frozendict):
        return {k: _thaw(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_thaw(v) for v in obj]
    return obj


def dumps(obj: Any, rng: random.Random) -> bytes:
    """Deterministic CBOR as a sender would make it, now and then plain cbor2 (key order and
    all): what fails `encode` (floats, tags) is still sent, as a hostile peer would."""
    if rng.random() < 0.9:
        try:
            return encode(obj)
        except Exception:  # not encodable deterministically: send it anyway
            pass
    try:
        return bytes(cbor2.dumps(obj))
    except Exception:
        return encode(0)


def mutate_cbor(data: bytes, rng: random.Random) -> bytes | None:
    """One tree mutation of a CBOR item; None when `data` is not CBOR at all."""
    try:
        obj = cbor2.loads(data)
    except Exception:
        return None
    return dumps(mutate_tree(obj, rng), rng)


# ------------------------------------------------------------------ COSE


def _header(protected: Any) -> dict[Any, Any]:
    try:
        found = cbor2.loads(protected) if isinstance(protected, bytes) and protected else {}
    except Exception:
        return {}
    return dict(found) if isinstance(found, dict) else {}


def _key_for(protected: Any, unprotected: Any) -> Any:
    kid = _header(protected).get(4)
    if kid is None and isinstance(unprotected, dict):
        kid = unprotected.get(4)
    if isinstance(kid, bytes):
        return keys().get(kid.decode("utf-8", "replace"))
    return None


def resign(body: list[Any], tag: int | None) -> None:
    """Sign `body` (a COSE array) again, in place, wherever the kid names a known key."""
    if len(body) != 4 or not isinstance(body[2], bytes):
        return
    protected, unprotected, payload, last = body
    if isinstance(last, bytes) and tag != 98:
        key = _key_for(protected, unprotected)
        if key is not None and isinstance(protected, bytes):
            body[3] = key.sign(cbor2.dumps(["Signature1", protected, b"", payload]))
        return
    if not isinstance(last, list) or not isinstance(protected, bytes):
        return
    for entry in last:
        if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], bytes):
            key = _key_for(entry[0], entry[1])
            if key is not None:
                entry[2] = key.sign(cbor2.dumps(["Signature", protected, entry[0], b"", payload]))


def _mutate_header(protected: Any, rng: random.Random) -> bytes:
    header = _header(protected)
    roll = rng.random()
    if roll < 0.3:
        header[4] = rng.choice(did_strings()).encode()  # signed again by that key
    elif roll < 0.45:
        header[2] = rng.choice([[99], [4], [], [1, 4], 1, [[1]], [{1: 2}], ["x"], [-8]])
    elif roll < 0.55:
        header[1] = rng.choice([-7, -8, -9, 0, "EdDSA", b"-8", None])
    else:
        header = mutate_tree(header, rng)
        if not isinstance(header, dict):
            return dumps(header, rng)
    if rng.random() < 0.8:
        try:
            return bytes(cbor2.dumps(header))
        except Exception:
            return b""
    return dumps(header, rng)


def mutate_envelope(data: bytes, rng: random.Random) -> bytes | None:
    """One structural mutation of a COSE_Sign1 or COSE_Sign, signed again."""
    try:
        obj = cbor2.loads(data)
    except Exception:
        return None
    tag = obj.tag if isinstance(obj, cbor2.CBORTag) else None
    body = _thaw(obj.value if tag is not None else obj)
    if not isinstance(body, list) or len(body) != 4:
        return mutate_cbor(data, rng)
    roll = rng.random()
    if roll < 0.55 and isinstance(body[2], bytes):
        body[2] = mutate_cbor(body[2], rng) or _tweak(body[2], rng)
    elif roll < 0.7:
        if isinstance(body[3], list) and body[3] and rng.random() < 0.5:
            entry = rng.choice(body[3])
            if isinstance(entry, list) and entry:
                entry[0] = _mutate_header(entry[0], rng)
        else:
            body[0] = _mutate_header(body[0], rng)
    elif roll < 0.8:
        body[1] = mutate_tree(body[1], rng) if isinstance(body[1], dict) else {}
    elif roll < 0.88 and isinstance(body[3], list):
        # COSE_Sign: drop, repeat or add a signer
        entries = body[3]
        choice = rng.random()
        if choice < 0.3 and entries:
            entries.pop(rng.randrange(len(entries)))
        elif choice < 0.6 and entries:
            entries.append(_thaw(rng.choice(entries)))
        else:
            did = rng.choice(did_strings())
            entries.append([bytes(cbor2.dumps({1: -8, 4: did.encode()})), {}, b""])
    else:
        body = mutate_tree(body, rng)
        if not isinstance(body, list):
            return dumps(body, rng)
    if rng.random() < 0.95 and isinstance(body, list):
        resign(body, tag)
    if rng.random() < 0.08:
        tag = rng.choice([None, 18, 98, 17, 55799, 28])
    try:
        return bytes(cbor2.dumps(body if tag is None else cbor2.CBORTag(tag, body)))
    except Exception:
        return None


def mutate_envelope_list(items: list[Any], rng: random.Random) -> list[Any]:
    """A list of envelopes with one of them mutated, or the list itself reshaped."""
    items = list(items)
    roll = rng.random()
    if items and roll < 0.75:
        i = rng.randrange(len(items))
        if isinstance(items[i], bytes):
            items[i] = mutate_envelope(items[i], rng) or _tweak(items[i], rng)
        return items
    if items and roll < 0.85:
        items.pop(rng.randrange(len(items)))
    elif items and roll < 0.95:
        items.insert(rng.randrange(len(items) + 1), rng.choice(items))
    else:
        rng.shuffle(items)
    return items
