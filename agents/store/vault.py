"""Secrets at rest: a key from the owner's passphrase, values sealed with it.

The key comes from Argon2id (libsodium via PyNaCl) over the passphrase and a
random salt; values are sealed with XSalsa20-Poly1305 (SecretBox). Each value is
bound to a context string (its table and row), so a sealed value copied into
another row does not open there. The parameters and a check value are kept
with the data, so a wrong passphrase is told apart from a damaged store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash
import nacl.secret
from pydantic import BaseModel, ConfigDict, Field

_CHECK = b"intentcast vault check v1"


class VaultError(Exception):
    """The passphrase is wrong, or a sealed value was altered or moved."""


class VaultParams(BaseModel):
    """What is needed, besides the passphrase, to re-derive the key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    salt: bytes = Field(min_length=16, max_length=16)
    opslimit: int = Field(ge=1)
    memlimit: int = Field(ge=8192)
    check: bytes


@dataclass(frozen=True)
class Vault:
    _box: nacl.secret.SecretBox

    @classmethod
    def create(
        cls,
        passphrase: str,
        *,
        opslimit: int = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        memlimit: int = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
    ) -> tuple[Vault, VaultParams]:
        if not passphrase:
            raise VaultError("the passphrase must not be empty")
        salt = os.urandom(nacl.pwhash.argon2id.SALTBYTES)
        vault = cls._derive(passphrase, salt, opslimit, memlimit)
        check = vault.seal(_CHECK, context="check")
        return vault, VaultParams(salt=salt, opslimit=opslimit, memlimit=memlimit, check=check)

    @classmethod
    def unlock(cls, passphrase: str, params: VaultParams) -> Vault:
        vault = cls._derive(passphrase, params.salt, params.opslimit, params.memlimit)
        try:
            ok = vault.open(params.check, context="check") == _CHECK
        except VaultError:
            ok = False
        if not ok:
            raise VaultError("wrong passphrase")
        return vault

    @classmethod
    def _derive(cls, passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> Vault:
        key = nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt,
            opslimit=opslimit, memlimit=memlimit,
        )
        return cls(nacl.secret.SecretBox(key))

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        label = context.encode("utf-8")
        return bytes(self._box.encrypt(len(label).to_bytes(2, "big") + label + plaintext))

    def open(self, sealed: bytes, *, context: str) -> bytes:
        try:
            plain = self._box.decrypt(sealed)
        except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
            raise VaultError("a sealed value does not open: altered, or another key") from exc
        size = int.from_bytes(plain[:2], "big")
        if plain[2 : 2 + size] != context.encode("utf-8"):
            raise VaultError(f"a sealed value belongs elsewhere, not to {context!r}")
        return plain[2 + size :]
