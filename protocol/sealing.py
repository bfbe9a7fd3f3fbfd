"""Fields sealed to one vendor: an anonymous libsodium sealed box to its did:key.

A disclosure's attributes travel encrypted to the recipient's X25519 key, which
is its Ed25519 signing key converted (RFC 7748 birational map, as libsodium's
`crypto_sign_ed25519_pk_to_curve25519`), so any verifier that knows the
vendor's DID can seal to it and nobody but the vendor can open. The box is
libsodium's `crypto_box_seal` format (ephemeral public key, then the box with
nonce BLAKE2b-192(ephemeral pk ‖ recipient pk)); sealing takes the ephemeral
seed as an argument only so the test vectors can be fixed.
"""

from __future__ import annotations

import hashlib
import os

import nacl.bindings as sodium
from nacl.exceptions import CryptoError

from .encoding import decode, encode
from .errors import EncodingError, LocalProtocolError, Reason, RemoteProtocolError
from .identity import KeyPair, public_key_from_did

MAX_FIELDS = 32
MAX_VALUE = 1000


class SealingError(RemoteProtocolError):
    """Sealed fields that cannot be opened or do not hold what they must."""


def _x25519_public(did: str) -> bytes:
    return bytes(sodium.crypto_sign_ed25519_pk_to_curve25519(public_key_from_did(did)))


def seal_fields(fields: dict[str, str], recipient: str, *,
                ephemeral_seed: bytes | None = None) -> bytes:
    """Encrypt `fields` (name → value) so only the holder of `recipient`'s key can read them."""
    if not 1 <= len(fields) <= MAX_FIELDS or any(
            not isinstance(v, str) or len(v) > MAX_VALUE for v in fields.values()):
        raise LocalProtocolError(Reason.BAD_SCHEMA, "1 to 32 fields of at most 1000 characters")
    recipient_pk = _x25519_public(recipient)
    seed = ephemeral_seed if ephemeral_seed is not None else os.urandom(32)
    eph_pk, eph_sk = sodium.crypto_box_seed_keypair(seed)
    nonce = hashlib.blake2b(eph_pk + recipient_pk, digest_size=24).digest()
    box = sodium.crypto_box(encode(fields), nonce, recipient_pk, eph_sk)
    return bytes(eph_pk) + bytes(box)


def open_fields(sealed: bytes, recipient: KeyPair) -> dict[str, str]:
    """Decrypt sealed fields with the recipient's signing key; refuse anything malformed."""
    public = bytes(sodium.crypto_sign_ed25519_pk_to_curve25519(recipient.public_key))
    secret = bytes(sodium.crypto_sign_ed25519_sk_to_curve25519(
        recipient.seed + recipient.public_key))
    try:
        plain = sodium.crypto_box_seal_open(sealed, public, secret)
    except (CryptoError, ValueError, TypeError) as exc:
        raise SealingError(Reason.SEALED_UNREADABLE, "the sealed fields do not open with our "
                           "key") from exc
    try:
        fields = decode(plain)
    except EncodingError as exc:
        raise SealingError(exc.reason, f"sealed fields: {exc.message}") from exc
    if not isinstance(fields, dict) or not 1 <= len(fields) <= MAX_FIELDS or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_VALUE
            for k, v in fields.items()):
        raise SealingError(Reason.BAD_SCHEMA, "sealed fields are a map of 1 to 32 texts")
    return fields
