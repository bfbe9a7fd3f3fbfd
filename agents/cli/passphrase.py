"""The passphrase that unlocks a home: from $INTENTCAST_PASSPHRASE, or asked on the terminal.

Only the CLI reads the environment; everything below it takes the passphrase as
an argument, so a demo or a test never depends on what the shell exported.
"""

from __future__ import annotations

import getpass
import os
import sys

from intentcast.agents.runtime.home import PASSPHRASE_ENV, HomeError


def read_passphrase(*, confirm: bool) -> str:
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
