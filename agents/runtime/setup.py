"""A new home with keys, config and token (`intentcast init`, `vendor init`, `assistant init`),
and opening it again.

The secrets (the person's master seed, a vendor's signing seed, the libp2p host
key seed) are made here, sealed in the store's vault under the passphrase,
and never written anywhere in the clear.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from intentcast.agents.runtime.home import (
    Config,
    HomeError,
    check_home,
    describe,
    make_private,
    new_token,
    write_private,
)
from intentcast.agents.store.db import Store
from intentcast.protocol import KeyPair, MasterKey

log = logging.getLogger("intentcast.home")

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
    """The home's store, unlocked with the passphrase, asked for once the store is found.

    Opening a home also makes it private again (`secure_home`): we fix rather than refuse, as
    the owner asked to run it, and say what was open."""
    check_home(home)
    path = home / "store.sqlite"
    if not path.exists():
        raise HomeError(f"{home} is not initialised: run `intentcast init` first")
    store = Store(path, create=False)  # refuses a foreign file before we touch its mode
    try:
        secure_home(home)
        store.unlock(passphrase())
    except Exception:
        store.close()
        raise
    return store


def secure_home(home: Path) -> list[Path]:
    """Take group and other permissions off the home and its files, saying so on stderr;
    return the paths that had them."""
    loosened = make_private(home)
    for path, mode in loosened:
        log.warning("%s was mode %o, open to other users: made it private", path, mode)
    return [path for path, _ in loosened]


def ensure_new(home: Path) -> None:
    """Refuse a home that already has a store (callers check before asking a passphrase)."""
    check_home(home)
    if (home / "store.sqlite").exists():
        raise HomeError(f"{home} is already initialised; use another --home to start afresh")


def init(home: Path, config: Config, passphrase: str, *, fast_kdf: bool = False) -> str:
    """Create `home`, its secrets sealed under `passphrase`; return the DID people and
    vendors will know it by. A vendor's catalog is the caller's to check first.

    The home is 0700 and its files 0600, in an existing directory too. If anything fails
    (a full disk, say), what this call made is removed again, so the home can be made anew."""
    ensure_new(home)
    made: list[Path] = []
    try:
        if not home.exists():
            home.mkdir(parents=True, mode=0o700)
            made.append(home)
        os.chmod(home, 0o700)
        store = _new_store(home / "store.sqlite", made)
        try:
            limits = _fast_limits() if fast_kdf else {}
            store.init_vault(passphrase, **limits)
            seed = os.urandom(32)
            names = {"person": MASTER_SEED, "vendor": VENDOR_SEED, "assistant": ASSISTANT_SEED}
            with store.transaction():
                store.put_secret(names[config.role], seed)
                store.put_secret(HOST_SEED, seed if config.role == "assistant"
                                 else os.urandom(32))
                store.set_meta("role", config.role)
        finally:
            store.close()
        made += [p for p in (home / "config.toml", home / "api-token") if not p.exists()]
        write_private(home / "config.toml", config.to_toml().encode("utf-8"))
        if config.role == "person":
            new_token(home)
    except BaseException as exc:
        _remove(made)
        if isinstance(exc, OSError):
            raise HomeError(f"cannot create {home}: {describe(exc)}") from exc
        raise
    if config.role == "person":
        return MasterKey(seed).root.did
    return KeyPair(seed).did


def _new_store(path: Path, made: list[Path]) -> Store:
    # Made 0600 before SQLite opens it: SQLite gives its -wal and -shm files the same mode.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    made += [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return Store(path)


def _remove(made: list[Path]) -> None:
    for path in reversed(made):
        try:
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove %s after a failed init", path)


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
