"""A new home with keys, config and token (`intentcast init`, `vendor init`, `assistant init`),
and opening it again.

The secrets (the person's master seed, a vendor's signing seed, the libp2p host
key seed) are made here, sealed in the store's vault under the passphrase,
and never written anywhere in the clear.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from intentcast.agents.runtime.home import Config, HomeError, new_token, write_private
from intentcast.agents.store.db import Store, StoreError
from intentcast.protocol import KeyPair, MasterKey

Passphrase = Callable[[], str]
"""Where the passphrase comes from (the CLI: $INTENTCAST_PASSPHRASE or the terminal), asked
only once a home has been found usable, so that a wrong --home is told before a prompt."""
MASTER_SEED = "master_seed"
VENDOR_SEED = "vendor_seed"
HOST_SEED = "host_seed"
ASSISTANT_SEED = "assistant_seed"
"""An assistant's one key: it signs its moves and is its libp2p host key, so the
person's daemon recognises it from the Noise handshake."""


def open_store(home: Path, passphrase: Passphrase) -> Store:
    """The home's store, unlocked with the passphrase, asked for once the store is found."""
    path = home / "store.sqlite"
    if not path.exists():
        raise HomeError(f"{home} is not initialised: run `intentcast init` first")
    store = Store(path)
    try:
        store.unlock(passphrase())
    except Exception:
        store.close()
        raise
    return store


def ensure_new(home: Path) -> None:
    """Refuse a home that already has a store (callers check before asking a passphrase)."""
    if (home / "store.sqlite").exists():
        raise HomeError(f"{home} is already initialised; use another --home to start afresh")


def init(home: Path, config: Config, passphrase: str, *, fast_kdf: bool = False) -> str:
    """Create `home`, its secrets sealed under `passphrase`; return the DID people and
    vendors will know it by. A vendor's catalog is the caller's to check first."""
    ensure_new(home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store(home / "store.sqlite")
    try:
        limits = _fast_limits() if fast_kdf else {}
        store.init_vault(passphrase, **limits)
        seed = os.urandom(32)
        names = {"person": MASTER_SEED, "vendor": VENDOR_SEED, "assistant": ASSISTANT_SEED}
        with store.transaction():
            store.put_secret(names[config.role], seed)
            store.put_secret(HOST_SEED, seed if config.role == "assistant" else os.urandom(32))
            store.set_meta("role", config.role)
    except StoreError:
        store.close()
        raise
    store.close()
    write_private(home / "config.toml", config.to_toml().encode("utf-8"))
    if config.role == "person":
        new_token(home)
        return MasterKey(seed).root.did
    return KeyPair(seed).did


def _fast_limits() -> dict[str, int]:
    # Only for throwaway homes (tests, the demo): Argon2id at its minimum cost.
    import nacl.pwhash

    return {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
            "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


def secret(store: Store, name: str) -> bytes:
    """A secret `init` sealed in the store; a clear error when the home lacks it."""
    value = store.get_secret(name)
    if value is None:
        raise HomeError(f"{store.path} lacks its {name}; was it made by `intentcast init`?")
    return value
