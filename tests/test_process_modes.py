"""A home is the owner's alone: 0700, its files 0600, made so by `init` (in an existing
directory too) and again by every agent that opens it, which says what it tightened."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import ROOT

from intentcast.agents.runtime.home import Config
from intentcast.agents.runtime.setup import init, open_store
from intentcast.agents.store.db import StoreError

FILES = ("store.sqlite", "api-token", "config.toml")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def lax_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_init_makes_an_existing_open_directory_private(tmp_path, lax_umask):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    init(home, Config(role="person"), "pw", fast_kdf=True)
    assert _mode(home) == 0o700
    assert {name: _mode(home / name) for name in FILES} == dict.fromkeys(FILES, 0o600)


def test_opening_a_home_makes_it_private_again_and_says_so(tmp_path, lax_umask, caplog):
    home = tmp_path / "home"
    init(home, Config(role="person"), "pw", fast_kdf=True)
    os.chmod(home, 0o755)
    os.chmod(home / "store.sqlite", 0o644)
    os.chmod(home / "config.toml", 0o664)
    with caplog.at_level(logging.WARNING, "intentcast.home"):
        store = open_store(home, lambda: "pw")
    try:
        wal = [home / "store.sqlite-wal", home / "store.sqlite-shm"]
        assert {p.name: _mode(p) for p in wal if p.exists()} == {p.name: 0o600 for p in wal
                                                                 if p.exists()}
    finally:
        store.close()
    assert _mode(home) == 0o700
    assert {name: _mode(home / name) for name in FILES} == dict.fromkeys(FILES, 0o600)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert f"{home} was mode 755" in said
    assert "store.sqlite was mode 644" in said
    assert "config.toml was mode 664" in said


def test_a_foreign_store_is_refused_before_its_mode_is_touched(tmp_path):
    home = tmp_path / "home"
    init(home, Config(role="person"), "pw", fast_kdf=True)
    (home / "store.sqlite").write_bytes(os.urandom(8192))
    os.chmod(home / "store.sqlite", 0o644)
    with pytest.raises(StoreError, match="not an SQLite file"):
        open_store(home, lambda: "pw")
    assert _mode(home / "store.sqlite") == 0o644


@pytest.mark.e2e
def test_the_cli_init_and_a_daemon_with_an_exposed_token(cluster, tmp_path, lax_umask):
    home = tmp_path / "open"
    home.mkdir(mode=0o755)
    run = subprocess.run([sys.executable, "-m", "intentcast.agents.cli", "--home", str(home),
                          "init", "--insecure-fast-kdf"], capture_output=True, text=True,
                         env=cluster.env(), cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert _mode(home) == 0o700
    assert {name: _mode(home / name) for name in FILES} == dict.fromkeys(FILES, 0o600)
    # Someone loosened the token: the daemon tightens it and, since others may have read
    # it, makes a new one; the CLI works with the new one.
    old = (home / "api-token").read_bytes()
    os.chmod(home / "api-token", 0o644)
    daemon = cluster.spawn("daemon", [sys.executable, "-m", "intentcast.agents.cli",
                                      "--home", str(home), "daemon"])
    daemon.expect("ready")
    assert _mode(home / "api-token") == 0o600
    assert (home / "api-token").read_bytes() != old
    assert "api-token was mode 644" in daemon.log.read_text()
    for name in ("store.sqlite-wal", "store.sqlite-shm", "api.json", "lock"):
        assert _mode(home / name) == 0o600, name
    assert cluster.api(home).call("GET", "/v1/status")["peer_id"]
    assert daemon.stop() == 0
