"""COSE_Sign1 (tag 18) and COSE_Sign (tag 98) with EdDSA, per RFC 9052.

We emit tagged structures whose protected header is `{1: -8, 4: kid}`, with the
kid the UTF-8 bytes of the signer's `did:key`, so an envelope verifies with
nothing but itself. We accept what any correct COSE implementation emits:
tagged or untagged, kid protected or unprotected, header maps in any key order.
We refuse what RFC 9052 says to refuse: a label in both buckets, an algorithm
outside the protected bucket, a critical header (label 2) we do not understand.
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
KID = 4
EDDSA = -8
MAX_ENVELOPE_SIZE = 64 * 1024
MAX_SIGNERS = 8
_UNDERSTOOD = frozenset({ALG, KID, 3})  # 3 is content type, which we only carry


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


def _protected_header(kid: str, extra: dict[int, Any] | None) -> bytes:
    header: dict[int, Any] = {ALG: EDDSA, KID: kid.encode("utf-8")}
    for label, value in (extra or {}).items():
        if label in header:
            raise EnvelopeError(Reason.BAD_STRUCTURE, f"header label {label} is set by intentcast")
        header[label] = value
    return encode(header)


# Sig_structures hold only text and byte strings, which have one encoding:
# cbor2 needs none of encode()'s map ordering here.
def _sig_structure1(protected: bytes, payload: bytes) -> bytes:
    return bytes(cbor2.dumps(["Signature1", protected, b"", payload]))


def _sig_structure(body_protected: bytes, sign_protected: bytes, payload: bytes) -> bytes:
    return bytes(cbor2.dumps(["Signature", body_protected, sign_protected, b"", payload]))


def sign1(
    payload: bytes,
    seed: bytes,
    *,
    protected: dict[int, Any] | None = None,
    unprotected: dict[int, Any] | None = None,
) -> bytes:
    """A tagged COSE_Sign1 over `payload` made with the Ed25519 key from `seed`."""
    key = KeyPair(seed)
    prot = _protected_header(key.did, protected)
    signature = key.sign(_sig_structure1(prot, payload))
    return encode(cbor2.CBORTag(TAG_SIGN1, [prot, dict(unprotected or {}), payload, signature]))


def sign_multi(payload: bytes, seed: bytes) -> bytes:
    """A tagged COSE_Sign over `payload` carrying one signature, by `seed`'s key."""
    return _with_signature(b"", payload, (), seed)


def add_signature(data: bytes, seed: bytes) -> bytes:
    """Add a signature to a COSE_Sign; signatures already there must verify."""
    signed = verify(data)
    if not signed.multi:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "only a COSE_Sign takes more signatures")
    return _with_signature(signed.body_protected, signed.payload, signed.signatures, seed)


def _with_signature(
    body_protected: bytes, payload: bytes, existing: tuple[Signature, ...], seed: bytes
) -> bytes:
    key = KeyPair(seed)
    if any(s.signer == key.did for s in existing):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "this key has signed already")
    if len(existing) >= MAX_SIGNERS:
        raise EnvelopeError(Reason.BAD_STRUCTURE, f"at most {MAX_SIGNERS} signatures")
    prot = _protected_header(key.did, None)
    sig = key.sign(_sig_structure(body_protected, prot, payload))
    entries = [[s.protected, {}, s.signature] for s in existing] + [[prot, {}, sig]]
    return encode(cbor2.CBORTag(TAG_SIGN, [body_protected, {}, payload, entries]))


def _header_map(protected: Any, unprotected: Any) -> tuple[dict[Any, Any], dict[Any, Any]]:
    if not isinstance(protected, bytes) or not isinstance(unprotected, dict):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "headers must be a bstr and a map")
    try:
        prot = loads_wellformed(protected, allow_tags=False) if protected else {}
    except EncodingError as exc:
        raise EnvelopeError(Reason.BAD_STRUCTURE, f"protected header: {exc.message}") from exc
    if not isinstance(prot, dict):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the protected header is not a map")
    if set(prot) & set(unprotected):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "a header label is both protected and not")
    return prot, unprotected


def _signer(protected: Any, unprotected: Any) -> str:
    if isinstance(protected, bytes) and unprotected == {}:
        return _signer_of_protected(protected)  # the common case: everything protected
    return _signer_uncached(protected, unprotected)


@functools.lru_cache(maxsize=4096)
def _signer_of_protected(protected: bytes) -> str:
    # A signer's protected header is the same bytes in every message it signs.
    return _signer_uncached(protected, {})


def _signer_uncached(protected: Any, unprotected: Any) -> str:
    prot, did = _structure(protected, unprotected)
    if prot.get(ALG) != EDDSA:
        why = "in the unprotected header" if ALG in unprotected else f"{prot.get(ALG)!r}"
        raise EnvelopeError(Reason.BAD_ALGORITHM, f"algorithm must be EdDSA (-8), got {why}")
    unknown = [c for c in prot.get(CRIT, ()) if c not in _UNDERSTOOD]
    if unknown:
        raise EnvelopeError(Reason.UNKNOWN_CRITICAL_HEADER, f"critical headers {unknown}")
    return did


def _structure(protected: Any, unprotected: Any) -> tuple[dict[Any, Any], str]:
    """The structure checks of one signer's headers, which come before the algorithm's."""
    prot, unprot = _header_map(protected, unprotected)
    extra = set(unprot) - {KID, ALG}  # ALG is reported as an algorithm fault, just after
    if extra:
        # Our profile leaves only the kid unprotected (RFC 9052 puts crit in the
        # protected bucket); anything else unprotected could be changed unseen.
        raise EnvelopeError(Reason.BAD_STRUCTURE, f"unprotected header labels {sorted(extra)}")
    crit = prot.get(CRIT)
    if crit is not None and (not isinstance(crit, list) or not crit):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "crit must be a non-empty array")
    kid = prot.get(KID, unprot.get(KID))
    if not isinstance(kid, bytes):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "no key id (label 4) naming the signer")
    try:
        did = kid.decode("utf-8")
        public_key_from_did(did)
    except (UnicodeDecodeError, DidError) as exc:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the key id is not a did:key") from exc
    return prot, did


def parse(data: bytes) -> Signed:
    """Structure and algorithm checks of a COSE_Sign1 or COSE_Sign; no signature check."""
    if len(data) > MAX_ENVELOPE_SIZE:
        raise EnvelopeError(
            Reason.TOO_LARGE, f"{len(data)} bytes is over the {MAX_ENVELOPE_SIZE}-byte limit"
        )
    try:
        obj = loads_wellformed(data, max_size=MAX_ENVELOPE_SIZE, allow_tags=True)
    except EncodingError as exc:
        raise EnvelopeError(exc.reason, exc.message) from exc
    if not data.startswith((b"\xd2", b"\xd8\x62", b"\x84")):
        # Checked on the bytes: cbor2 silently drops some outer tags (55799, 28), which
        # would let one signed message travel under several digests.
        raise EnvelopeError(Reason.BAD_STRUCTURE, "an envelope is a COSE_Sign1 (tag 18), a "
                            "COSE_Sign (tag 98) or an untagged COSE array")
    tag: int | None = None
    if isinstance(obj, cbor2.CBORTag):
        tag, obj = obj.tag, obj.value
        if tag not in (TAG_SIGN1, TAG_SIGN):
            raise EnvelopeError(Reason.BAD_STRUCTURE, f"tag {tag} is not COSE_Sign1 or COSE_Sign")
    if not isinstance(obj, list) or len(obj) != 4:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "a COSE signed message is an array of four")
    protected, unprotected, payload, last = obj
    if not isinstance(payload, bytes):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the payload must be attached as a bstr")
    if tag == TAG_SIGN1 or (tag is None and isinstance(last, bytes)):
        if not isinstance(last, bytes):
            raise EnvelopeError(Reason.BAD_STRUCTURE, "the signature must be a bstr")
        signer = _signer(protected, unprotected)
        return Signed(protected, payload, (Signature(protected, signer, last),), multi=False)
    _header_map(protected, unprotected)
    if not isinstance(last, list) or not 1 <= len(last) <= MAX_SIGNERS:
        raise EnvelopeError(Reason.BAD_STRUCTURE, f"COSE_Sign needs 1 to {MAX_SIGNERS} signatures")
    for entry in last:  # every signature's structure before any signature's algorithm
        if not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[2], bytes):
            raise EnvelopeError(Reason.BAD_STRUCTURE, "a COSE_Signature is [prot, unprot, sig]")
        _structure(entry[0], entry[1])
    sigs = [Signature(entry[0], _signer(entry[0], entry[1]), entry[2]) for entry in last]
    if len({s.signer for s in sigs}) != len(sigs):
        raise EnvelopeError(Reason.BAD_STRUCTURE, "the same key signed twice")
    return Signed(protected, payload, tuple(sigs), multi=True)


def verify(data: bytes) -> Signed:
    """Parse and check every signature against the key its kid names."""
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


def verify_sign1(data: bytes, public_key: bytes) -> bytes:
    """Verify a COSE_Sign1 against a known public key; returns the payload."""
    signed = verify(data)
    if signed.multi:
        raise EnvelopeError(Reason.BAD_STRUCTURE, "expected COSE_Sign1, got COSE_Sign")
    if public_key_from_did(signed.signatures[0].signer) != public_key:
        raise EnvelopeError(Reason.BAD_SIGNATURE, "signed by a different key than expected")
    return signed.payload
