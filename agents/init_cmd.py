"""`intentcast init` and `intentcast vendor init`: a new home with keys, config and token.

The secrets (the person's master seed, a vendor's signing seed, the libp2p host
key seed) are made here, sealed in the store's vault under the passphrase,
and never written anywhere in the clear.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import replace
from pathlib import Path

from protocol.identity import KeyPair, MasterKey

from .catalog import load as load_catalog
from .home import Config, HomeError, new_token, write_private
from .store import Store, StoreError

PASSPHRASE_ENV = "INTENTCAST_PASSPHRASE"
MASTER_SEED = "master_seed"
VENDOR_SEED = "vendor_seed"
HOST_SEED = "host_seed"
ASSISTANT_SEED = "assistant_seed"
"""An assistant's one key: it signs its moves and is its libp2p host key, so the
person's daemon recognises it from the Noise handshake."""


def passphrase(*, confirm: bool) -> str:
    """From $INTENTCAST_PASSPHRASE, or asked for on the terminal."""
    given = os.environ.get(PASSPHRASE_ENV)
    if given is not None:
        if not given:
            raise HomeError(f"{PASSPHRASE_ENV} is set but empty")
        return given
    if not sys.stdin.isatty():
        raise HomeError(f"no terminal to ask for the passphrase: set {PASSPHRASE_ENV}")
    first = getpass.getpass("passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise HomeError("the two passphrases differ")
    if not first:
        raise HomeError("the passphrase must not be empty")
    return first


def open_store(home: Path) -> Store:
    """The home's store, unlocked with the passphrase."""
    path = home / "store.sqlite"
    if not path.exists():
        raise HomeError(f"{home} is not initialised: run `intentcast init` first")
    store = Store(path)
    try:
        store.unlock(passphrase(confirm=False))
    except Exception:
        store.close()
        raise
    return store


def init(home: Path, config: Config, *, fast_kdf: bool = False) -> str:
    """Create `home` and return the DID people and vendors will know it by."""
    if (home / "store.sqlite").exists():
        raise HomeError(f"{home} is already initialised; use another --home to start afresh")
    if config.catalog is not None:
        load_catalog(Path(config.catalog))  # refuse a broken catalog now, not at `run`
    secret = passphrase(confirm=True)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store(home / "store.sqlite")
    try:
        limits = _fast_limits() if fast_kdf else {}
        store.init_vault(secret, **limits)
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


def with_catalog(config: Config, catalog: Path) -> Config:
    return replace(config, role="vendor", catalog=str(catalog.resolve()))
