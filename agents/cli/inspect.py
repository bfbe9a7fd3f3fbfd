"""`intentcast inspect`: decode and verify any intentcast envelope from a file or stdin."""

from __future__ import annotations

import json
import string
import sys
import time
from pathlib import Path

from intentcast.agents.runtime.render import jsonable
from intentcast.protocol import MAX_ENVELOPE_SIZE, IntentcastError, open_envelope

_HEX = set(string.hexdigits + string.whitespace)


class InputError(Exception):
    """The command line named something we cannot read."""


def read_envelope(source: str) -> bytes:
    """Raw bytes from a path or `-`; hex text (as in the test vectors) is decoded."""
    try:
        if source == "-":
            data = sys.stdin.buffer.read(4 * MAX_ENVELOPE_SIZE + 1)
        else:
            with Path(source).open("rb") as fh:
                data = fh.read(4 * MAX_ENVELOPE_SIZE + 1)
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror}") from exc
    if data and all(chr(b) in _HEX for b in data):
        try:
            return bytes.fromhex(data.decode("ascii"))
        except ValueError as exc:
            raise InputError(f"{source} looks like hex but is not valid hex: {exc}") from exc
    return data


def run(source: str, *, at: int | None, as_json: bool) -> int:
    data = read_envelope(source)
    now = at if at is not None else int(time.time())
    try:
        verified = open_envelope(data, now=now)
    except IntentcastError as exc:
        if as_json:
            print(json.dumps({"valid": False, "reason": exc.reason.value, "error": exc.message}))
        else:
            print(f"invalid: {exc.reason.value}: {exc.message}")
        return 1
    message = jsonable(verified.message.model_dump(exclude_none=True))
    if as_json:
        out = {
            "valid": True, "type": verified.message.type, "signers": list(verified.signers),
            "digest": verified.digest.hex(), "message": message,
        }
        print(json.dumps(out, indent=2))
    else:
        print(json.dumps(message, indent=2))
        signers = ", ".join(verified.signers)
        print(f"valid: {verified.message.type} signed by {signers}")
        print(f"digest: sha256:{verified.digest.hex()}")
    return 0
