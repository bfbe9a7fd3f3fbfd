"""COSE_Sign1 (tag 18) and COSE_Sign (tag 98) with EdDSA, per RFC 9052.

Two readers, strict where the format is ours and liberal where the standard is:

- `parse` / `verify` read an intentcast envelope (spec §4.1): tagged, every
  signer's protected header exactly `{1: -8, 4: kid}` with the kid the UTF-8
  bytes of the signer's `did:key`, empty unprotected headers, 64-byte
  signatures, and the whole envelope in deterministic CBOR. So one signed
  message has exactly one byte form and one digest, whichever node relays it.
- `verify_sign1(data, public_key)` verifies any correct COSE_Sign1 under a key
  the caller already knows (tagged or untagged, any kid or none, headers in any
  order, content type), as RFC 9052 allows; it refuses what the RFC says to
  refuse: a label in both buckets, an algorithm that is not protected EdDSA, a
  critical header it does not understand, a detached payload.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import cbor2

from .encoding import encode, loads_wellformed
from .errors import DidError, EncodingError, EnvelopeError, Reason
from .identity import KeyPair, public_key_from_did, verify_signature

TAG_SIGN1 = 18
TAG_SIGN = 98
ALG = 1
CRIT = 2
CONTENT_TYPE = 3
KID = 4
EDDSA = -8
MAX_ENVELOPE_SIZE = 64 * 1024
MAX_SIGNERS = 8
SIGNATURE_SIZE = 64
_PROFILE_LABELS = frozenset({ALG, KID})
"""The labels an intentcast signer's protected header holds, and the only ones."""
_UNDERSTOOD = frozenset({ALG, CONTENT_TYPE, KID})
"""Labels `verify_sign1` understands when another implementation marks them critical."""


@dataclass(frozen=True)
class Signature:
    """One verified-or-not signature with the DID it claims."""

    protected: bytes
    signer: str
    signature: bytes


@dataclass(frozen=True)
class Signed:
    """A parsed COSE_Sign1 or COSE_Sign, signatures not yet checked."""

    body_protected: bytes
    payload: bytes
    signatures: tuple[Signature, ...]
    multi: bool


def _protected_header(kid: str) -> bytes:
    return encode({ALG: EDDSA, KID: kid.encode("utf-8")})


# Sig_structures hold only text and byte strings, which have one encoding:
# cbor2 needs none of encode()'s map ordering here.
def _sig_structure1(protected: bytes, payload: bytes) -> bytes:
    # ["Signature1", protected, h'', payload], written out: it is built for every check.
    return b"\x84\x6aSignature1" + _bstr_head(len(protected)) + protected + b"\x40" + \
        _bstr_head(len(payload)) + payload


def _bstr_head(length: int) -> bytes:
    """The shortest CBOR header of a byte string of `length` bytes."""
    if length < 24:
        return bytes([0x40 | length])
    if length < 0x100:
        return bytes([0x58, length])
    if length < 0x10000:
        return b"\x59" + length.to_bytes(2, "big")
    return b"\x5a" + length.to_bytes(4, "big")


def _read_bstr(data: bytes, at: int) -> tuple[bytes, int] | None:
    """The byte string at `at` in its shortest form, and where it ends; None otherwise."""
    if at >= len(data):
        return None
    head = data[at]
    if 0x40 <= head < 0x58:
        length, start = head - 0x40, at + 1
    elif head == 0x58 and at + 1 < len(data) and data[at + 1] >= 24:
        length, start = data[at + 1], at + 2
    elif head == 0x59 and at + 2 < len(data) and int.from_bytes(data[at + 1:at + 3]) >= 0x100:
        length, start = int.from_bytes(data[at + 1:at + 3]), at + 3
    else:
        return None  # rarer or wrong forms: the general parser decides
    end = start + length
    return (data[start:end], end) if end <= len(data) else None


def _profile_sign1(data: bytes) -> Signed | None:
    """A COSE_Sign1 in exactly the profile's one form, read from its bytes; None for anything
    else (the general parser then decides, with its exact reasons)."""
    if not data.startswith(b"\xd2\x84"):
        return None
    found = _read_bstr(data, 2)
    if found is None:
        return None
    protected, at = found
    if data[at:at + 1] != b"\xa0":
        return None
    found = _read_bstr(data, at + 1)
    if found is None:
        return None
    payload, at = found
    if data[at:at + 2] != b"\x58\x40" or len(data) != at + 2 + SIGNATURE_SIZE:
        return None
    try:
        did, alg = _profile_header(protected)
    except EnvelopeError:
        return None
    if alg != EDDSA:
        return None
    return Signed(protected, payload, (Signature(protected, did, data[at + 2:]),), multi=False)


def _sig_structure(body_protected: bytes, sign_protected: bytes, payload: bytes) -> bytes:
    return bytes(cbor2.dumps(["Signature", body_protected, sign_protected, b"", payload]))


def sign1(payload: bytes, seed: bytes) -> bytes:
    """A tagged COSE_Sign1 over `payload` made with the Ed25519 key from `seed`."""
    key = KeyPair(seed)
    prot = _protected_header(key.did)
    signature = key.sign(_sig_structure1(prot, payload))
    return bytes(cbor2.dumps(cbor2.CBORTag(TAG_SIGN1, [prot, {}, payload, signature])))


def sign_multi(payload: bytes, seed: bytes) -> bytes:
    """A tagged COSE_Sign over `payload` carrying one signature, by `seed`'s key."""
    return _with_signature(payload, (), seed)


def add_signature(data: bytes, seed: bytes) -> bytes:
    """Add a signature to a COSE_Sign; signatures already there must verify."""
    signed = verify(data)
    if not signed.multi:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "only a COSE_Sign takes more signatures")
    return _with_signature(signed.payload, signed.signatures, seed)


def _with_signature(payload: bytes, existing: tuple[Signature, ...], seed: bytes) -> bytes:
    key = KeyPair(seed)
    if any(s.signer == key.did for s in existing):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "this key has signed already")
    if len(existing) >= MAX_SIGNERS:
        raise EnvelopeError(Reason.BAD_STRUCTURE, f"at most {MAX_SIGNERS} signatures")
    prot = _protected_header(key.did)
    sig = key.sign(_sig_structure(b"", prot, payload))
    entries = [[s.protected, {}, s.signature] for s in existing] + [[prot, {}, sig]]
    return bytes(cbor2.dumps(cbor2.CBORTag(TAG_SIGN, [b"", {}, payload, entries])))


# -- the intentcast profile (strict) ------------------------------------------------------


def _signer_of(protected: Any) -> str:
    if type(protected) is not bytes:  # checked before the cache, which hashes its argument
        raise EnvelopeError(Reason.BAD_STRUCTURE, "a protected header is a byte string")
    return _profile_header(protected)[0]


@functools.lru_cache(maxsize=4096)
def _profile_header(protected: bytes) -> tuple[str, Any]:
    """The DID a profile header names and its algorithm, after the structure checks of
    spec §4.1 (the algorithm is checked later, by `_check_algorithm`).

    Cached: a signer's protected header is the same bytes in every message it signs."""
    header = _decode_header(protected)
    extra = sorted(set(header) - _PROFILE_LABELS, key=str)
    if extra:
        raise EnvelopeError(Reason.BAD_STRUCTURE, f"the protected header holds only alg (1) and "
                            f"kid (4), not {extra}")
    kid = header.get(KID)
    if not isinstance(kid, bytes):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "no key id (label 4) naming the signer")
    try:
        did = kid.decode("utf-8")
        public_key_from_did(did)
    except (UnicodeDecodeError, DidError) as exc:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the key id is not a did:key") from exc
    if encode(header) != protected:
        raise EnvelopeError(Reason.NOT_DETERMINISTIC,
                            "the protected header is not in deterministic CBOR")
    return did, header.get(ALG)


def _check_algorithm(protected: bytes) -> None:
    alg = _profile_header(protected)[1]  # cached: `_signer_of` read this header already
    if alg != EDDSA:
        raise EnvelopeError(Reason.BAD_ALGORITHM, f"algorithm must be EdDSA (-8), got {alg!r}")


def _decode_header(protected: Any) -> dict[Any, Any]:
    if not isinstance(protected, bytes):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "a protected header is a byte string")
    try:
        header = loads_wellformed(protected, allow_tags=False) if protected else {}
    except EncodingError as exc:
        raise EnvelopeError(Reason.BAD_STRUCTURE, f"protected header: {exc.message}") from exc
    if not isinstance(header, dict):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the protected header is not a map")
    return header


def _signature_entry(entry: Any) -> tuple[bytes, bytes]:
    if not isinstance(entry, list | tuple) or len(entry) != 3:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "a COSE_Signature is [prot, unprot, sig]")
    protected, unprotected, signature = entry
    _check_empty(unprotected)
    _check_signature_bytes(signature)
    return protected, signature


def _check_empty(unprotected: Any) -> None:
    if not isinstance(unprotected, dict | cbor2.frozendict) or len(unprotected) != 0:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "an intentcast unprotected header is empty")


def _check_signature_bytes(signature: Any) -> None:
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "a signature is a 64-byte string")


def _check_size(data: bytes) -> None:
    if len(data) > MAX_ENVELOPE_SIZE:
        raise EnvelopeError(
            Reason.TOO_LARGE, f"{len(data)} bytes is over the {MAX_ENVELOPE_SIZE}-byte limit"
        )


def _load(data: bytes, *, raw: bool = False) -> Any:
    try:
        return loads_wellformed(data, max_size=MAX_ENVELOPE_SIZE, allow_tags=True, raw=raw)
    except EncodingError as exc:
        raise EnvelopeError(exc.reason, exc.message) from exc


def parse(data: bytes) -> Signed:
    """The structure and algorithm checks of an intentcast envelope; no signature check."""
    _check_size(data)
    quick = _profile_sign1(data)  # most envelopes: read straight from the bytes
    if quick is not None:
        return quick
    # As cbor2 decoded it (arrays in a tag as tuples, maps as frozendicts): every field is
    # checked below, and the one-form check re-encodes the whole.
    obj = _load(data, raw=True)
    try:
        return _parse(data, obj)
    except EnvelopeError:
        _load(data)  # an encoding fault (a float, a tag, ...) is named before the structure's
        raise


def _parse(data: bytes, obj: Any) -> Signed:
    # Checked on the bytes: cbor2 silently drops some outer tags (55799, 28).
    if not data.startswith((b"\xd2", b"\xd8\x62")) or not isinstance(obj, cbor2.CBORTag) \
            or obj.tag not in (TAG_SIGN1, TAG_SIGN):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "an envelope is a tagged COSE_Sign1 (tag 18) "
                            "or COSE_Sign (tag 98)")
    body = obj.value
    if not isinstance(body, list | tuple) or len(body) != 4:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "a COSE signed message is an array of four")
    protected, unprotected, payload, last = body
    _check_empty(unprotected)
    if not isinstance(payload, bytes):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the payload must be attached as a bstr")
    if obj.tag == TAG_SIGN1:
        _check_signature_bytes(last)
        entries = [(protected, last)]
    else:
        if protected != b"":
            raise EnvelopeError(Reason.BAD_STRUCTURE, "a COSE_Sign's body header is empty")
        if not isinstance(last, list | tuple) or not 1 <= len(last) <= MAX_SIGNERS:
            raise EnvelopeError(Reason.BAD_STRUCTURE,
                                f"COSE_Sign needs 1 to {MAX_SIGNERS} signatures")
        entries = [_signature_entry(entry) for entry in last]
    # Every structure check of every signer before any algorithm check.
    signatures = tuple(Signature(prot, _signer_of(prot), sig) for prot, sig in entries)
    if len({s.signer for s in signatures}) != len(signatures):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the same key signed twice")
    if cbor2.dumps(obj) != data:
        raise EnvelopeError(Reason.NOT_DETERMINISTIC,
                            "the envelope is not in deterministic CBOR (one form, one digest)")
    for s in signatures:
        _check_algorithm(s.protected)
    multi = obj.tag == TAG_SIGN
    return Signed(b"" if multi else protected, payload, signatures, multi=multi)


def verify(data: bytes) -> Signed:
    """Parse an intentcast envelope and check every signature against the key its kid names."""
    signed = parse(data)
    for sig in signed.signatures:
        to_be_signed = (
            _sig_structure(signed.body_protected, sig.protected, signed.payload)
            if signed.multi
            else _sig_structure1(sig.protected, signed.payload)
        )
        if not verify_signature(public_key_from_did(sig.signer), to_be_signed, sig.signature):
            raise EnvelopeError(Reason.BAD_SIGNATURE, f"the signature by {sig.signer} is not valid")
    return signed


# -- any correct COSE_Sign1 (liberal) -----------------------------------------------------


def verify_sign1(data: bytes, public_key: bytes) -> bytes:
    """Verify any correct COSE_Sign1 (RFC 9052 §4.2) with EdDSA under `public_key`; return
    its payload. The kid, if any, is not interpreted: the caller chose the key."""
    _check_size(data)
    obj = _load(data)
    if not data.startswith((b"\xd2", b"\x84")):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "a COSE_Sign1 is tag 18 or an untagged array")
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != TAG_SIGN1:
            raise EnvelopeError(Reason.BAD_STRUCTURE, f"tag {obj.tag} is not COSE_Sign1")
        obj = obj.value
    if not isinstance(obj, list) or len(obj) != 4:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "a COSE_Sign1 is an array of four")
    protected, unprotected, payload, signature = obj
    header = _decode_header(protected)
    if not isinstance(unprotected, dict):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the unprotected header is not a map")
    if set(header) & set(unprotected):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "a header label is both protected and not")
    if not isinstance(payload, bytes):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the payload must be attached as a bstr")
    if not isinstance(signature, bytes):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the signature must be a bstr")
    crit = header.get(CRIT)
    if CRIT in unprotected or (crit is not None and (not isinstance(crit, list) or not crit)):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "crit is a non-empty protected array")
    if header.get(ALG) != EDDSA:
        where = "in the unprotected header" if ALG in unprotected else repr(header.get(ALG))
        raise EnvelopeError(Reason.BAD_ALGORITHM, f"algorithm must be EdDSA (-8), got {where}")
    unknown = [c for c in crit or () if c not in _UNDERSTOOD]
    if unknown:
        raise EnvelopeError(Reason.UNKNOWN_CRITICAL_HEADER, f"critical headers {unknown}")
    if not verify_signature(public_key, _sig_structure1(protected, payload), signature):
        raise EnvelopeError(Reason.BAD_SIGNATURE, "the signature does not verify under that key")
    return bytes(payload)
