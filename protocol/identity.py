"""Ed25519 identities, `did:key` identifiers and the key-derivation scheme.

A person holds one 32-byte master seed. Every other key they use is derived
from it with HKDF-SHA256 (RFC 5869), so the agent can re-create any key from the
seed alone while nobody without the seed can link two derived keys:

    seed = HKDF-SHA256(ikm=master_seed, salt="intentcast/kdf/1", info=label, L=32)
    label = "intent\\x00" || intent_nonce            (one fresh key per intent)
          | "pairwise\\x00" || counterparty DID    (one key per relationship)

The spec (specs/protocol.md, "Key derivation") is normative and has vectors.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass, field

import base58
import nacl.exceptions
import nacl.signing

from .errors import DidError, LocalProtocolError, Reason

DID_KEY_PREFIX = "did:key:z"
ED25519_MULTICODEC = b"\xed\x01"
SEED_SIZE = 32
MAX_DID_LENGTH = 64
_KDF_SALT = b"intentcast/kdf/1"


def did_from_public_key(public_key: bytes) -> str:
    """`did:key:z6Mk…` for a raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise DidError(Reason.BAD_KEY, "an Ed25519 public key is 32 bytes")
    return DID_KEY_PREFIX + base58.b58encode(ED25519_MULTICODEC + public_key).decode("ascii")


def public_key_from_did(did: str) -> bytes:
    """The raw Ed25519 public key inside a `did:key`; rejects anything else."""
    if not isinstance(did, str) or len(did) > MAX_DID_LENGTH:
        raise DidError(Reason.BAD_DID, "a did:key is a short text string")
    return _parse_did(did)


@functools.lru_cache(maxsize=4096)
def _parse_did(did: str) -> bytes:
    # A pure function of its input; busy agents see the same few DIDs again and again.
    if not did.startswith(DID_KEY_PREFIX):
        raise DidError(Reason.BAD_DID, f"{did[:24]!r} is not a did:key in base58btc (did:key:z…)")
    try:
        raw = base58.b58decode(did[len(DID_KEY_PREFIX) :])
    except ValueError as exc:
        raise DidError(Reason.BAD_DID, "the did:key is not valid base58btc") from exc
    if raw[:2] != ED25519_MULTICODEC:
        raise DidError(Reason.BAD_DID, "the did:key is not an Ed25519 key (multicodec 0xed01)")
    if len(raw) != 34:
        raise DidError(Reason.BAD_DID, "the did:key does not hold a 32-byte Ed25519 key")
    public_key = raw[2:]
    if did_from_public_key(public_key) != did:
        raise DidError(Reason.BAD_DID, "the did:key is not in canonical base58btc form")
    return public_key


def is_did(value: str) -> bool:
    try:
        public_key_from_did(value)
    except DidError:
        return False
    return True


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF (RFC 5869) with SHA-256: extract then expand."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 key pair made from a 32-byte seed."""

    seed: bytes = field(repr=False)
    _signing: nacl.signing.SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != SEED_SIZE:
            raise LocalProtocolError(Reason.BAD_KEY, "an Ed25519 seed is 32 bytes")
        object.__setattr__(self, "_signing", nacl.signing.SigningKey(self.seed))

    @property
    def public_key(self) -> bytes:
        return bytes(self._signing.verify_key)

    @property
    def did(self) -> str:
        return did_from_public_key(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """A detached 64-byte Ed25519 signature."""
        return self._signing.sign(message).signature


@functools.lru_cache(maxsize=4096)
def _verify_key(public_key: bytes) -> nacl.signing.VerifyKey:
    return nacl.signing.VerifyKey(public_key)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message`."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        _verify_key(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class MasterKey:
    """A person's master seed and the keys derived from it."""

    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != SEED_SIZE:
            raise LocalProtocolError(Reason.BAD_KEY, "a master seed is 32 bytes")

    @property
    def root(self) -> KeyPair:
        """The master identity itself: disclosed only where the person chooses."""
        return KeyPair(self.seed)

    def intent_key(self, intent_nonce: bytes) -> KeyPair:
        """A fresh key for one intent, named by a nonce the agent stores with it."""
        if not 16 <= len(intent_nonce) <= 64:
            raise LocalProtocolError(Reason.BAD_KEY, "an intent nonce is 16 to 64 bytes")
        return KeyPair(self._derive(b"intent\x00" + intent_nonce))

    def pairwise_key(self, counterparty_did: str) -> KeyPair:
        """The key this person uses with one counterparty, the same every time."""
        public_key_from_did(counterparty_did)
        return KeyPair(self._derive(b"pairwise\x00" + counterparty_did.encode("utf-8")))

    def _derive(self, info: bytes) -> bytes:
        return hkdf_sha256(self.seed, salt=_KDF_SALT, info=info)
