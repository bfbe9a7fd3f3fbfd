"""The machine as a hostile input: every fault of the environment is one line on stderr and a
non-zero exit from the real `intentcast` command, never a traceback, and what was stored stays
byte for byte as it was.

Faults: a home that is a file, unreadable or unwritable; a config.toml that is a directory; a
store that is random bytes, another program's SQLite file, empty, unreadable or locked by
another process; a full disk (a small tmpfs when we are root, else RLIMIT_FSIZE).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e import CATALOGS, PASSPHRASE, ROOT

from intentcast.agents.runtime.home import Config
from intentcast.agents.runtime.setup import init

pytestmark = pytest.mark.e2e

CLI = [sys.executable, "-m", "intentcast.agents.cli"]
ROOT_USER = os.geteuid() == 0
# Root reads anything: for permission faults, run the command without the two capabilities
# that let root ignore file modes.
NO_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
          "--bounding-set=-dac_override,-dac_read_search"]
HOME_COMMANDS = [["daemon"], ["audit"], ["audit", "verify"], ["status"],
                 ["profile", "set", "email", "a@example.org"]]


def _run(cluster, home: Path, *args: str, wrapper: list[str] | None = None,
         preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(wrapper or []), *CLI, "--home", str(home), *args],
                          capture_output=True, text=True, env=cluster.env(), cwd=ROOT,
                          timeout=60, stdin=subprocess.DEVNULL, preexec_fn=preexec)


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command printed."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("intentcast: "), result.stderr
    return lines[0]


def _files(home: Path) -> dict[str, bytes]:
    """What the home stores, byte for byte: every file but the lock (which says who holds it)
    and SQLite's -shm index (rebuilt from the log); a missing log counts as an empty one."""
    found = {p.name: p.read_bytes() for p in sorted(home.iterdir())
             if p.is_file() and p.name not in ("lock", "store.sqlite-shm")}
    return {"store.sqlite-wal": b"", **found}


@pytest.fixture
def person(cluster) -> Path:
    return cluster.home("person", Config(role="person"))


def test_a_home_that_is_a_file(cluster, tmp_path):
    home = tmp_path / "not-a-dir"
    home.write_bytes(b"my notes\n")
    for args in [["init"], ["vendor", "run"], *HOME_COMMANDS]:
        line = _refused(_run(cluster, home, *args))
        assert f"{home} is a file, not a directory" in line, args
    assert home.read_bytes() == b"my notes\n"


def test_a_config_that_is_a_directory(cluster, person):
    (person / "config.toml").unlink()
    (person / "config.toml").mkdir()
    before = _files(person)
    assert "config.toml is a directory" in _refused(_run(cluster, person, "daemon"))
    assert _files(person) == before


@pytest.mark.parametrize("args", HOME_COMMANDS[:3], ids=" ".join)
def test_a_store_of_random_bytes(cluster, person, args):
    (person / "store.sqlite").write_bytes(os.urandom(64 * 1024))
    before = _files(person)
    assert "not an SQLite file" in _refused(_run(cluster, person, *args))
    assert _files(person) == before


def test_a_vendor_store_of_random_bytes(cluster):
    home = cluster.home("vendor", Config(role="vendor", catalog=str(CATALOGS / "trailhead.toml")))
    (home / "store.sqlite").write_bytes(os.urandom(64 * 1024))
    before = _files(home)
    for args in (["vendor", "run"], ["vendor", "data"]):
        assert "not an SQLite file" in _refused(_run(cluster, home, *args))
    assert _files(home) == before


@pytest.mark.parametrize("args", HOME_COMMANDS[:3], ids=" ".join)
def test_another_programs_sqlite_file(cluster, person, args):
    store = person / "store.sqlite"
    store.unlink()
    db = sqlite3.connect(store)  # a rollback-journal database with tables of its own
    db.execute("CREATE TABLE recipes (name TEXT, steps TEXT)")
    db.execute("INSERT INTO recipes VALUES ('bread', 'knead')")
    db.commit()
    db.close()
    os.chmod(store, 0o644)
    before = _files(person)
    line = _refused(_run(cluster, person, *args))
    assert "not an intentcast store" in line
    assert _files(person) == before  # not migrated, not even switched to WAL
    assert os.stat(store).st_mode & 0o777 == 0o644  # refused before anything, its mode too


def test_an_empty_store(cluster, person):
    (person / "store.sqlite").write_bytes(b"")
    before = _files(person)
    assert "is empty, not an intentcast store" in _refused(_run(cluster, person, "daemon"))
    assert _files(person) == before


def test_a_store_another_process_has_locked(cluster, person):
    before = _files(person)
    holder = sqlite3.connect(person / "store.sqlite", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        line = _refused(_run(cluster, person, "daemon"))  # after SQLite's 5 s busy timeout
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "another process has it locked" in line
    assert _files(person) == before


@contextlib.contextmanager
def _without_dac_override() -> Iterator[list[str]]:
    """The wrapper that makes file modes bind us too (none needed when we are not root)."""
    if not ROOT_USER:
        yield []
        return
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): cannot drop CAP_DAC_OVERRIDE")
    yield NO_DAC


@pytest.mark.parametrize("mode", [0o000, 0o300], ids=["unreadable", "unlistable"])
def test_a_home_we_may_not_read(cluster, person, mode):
    with _without_dac_override() as wrapper:
        os.chmod(person, mode)
        try:
            for args in HOME_COMMANDS:
                line = _refused(_run(cluster, person, *args, wrapper=wrapper))
                assert "permission denied" in line, (args, line)
        finally:
            os.chmod(person, 0o700)


def test_a_home_we_may_not_write(cluster, person):
    before = _files(person)
    with _without_dac_override() as wrapper:
        os.chmod(person, 0o500)
        try:
            line = _refused(_run(cluster, person, "daemon", wrapper=wrapper))
        finally:
            os.chmod(person, 0o700)
    assert f"cannot lock {person}" in line
    assert "permission denied" in line
    assert _files(person) == before


def test_a_store_we_may_not_read(cluster, person):
    store = person / "store.sqlite"
    before = _files(person)
    with _without_dac_override() as wrapper:
        os.chmod(store, 0o000)
        try:
            for args in HOME_COMMANDS[:3]:
                line = _refused(_run(cluster, person, *args, wrapper=wrapper))
                assert "cannot be opened" in line or "permission denied" in line, (args, line)
        finally:
            os.chmod(store, 0o600)
    assert _files(person) == before


# -- a full disk -----------------------------------------------------------------------------

@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 4 MiB tmpfs of our own (root only; skipped with the reason otherwise)."""
    if not ROOT_USER:
        pytest.skip("mounting a small tmpfs needs root; test_a_file_size_limit covers the rest")
    mount = Path(tempfile.mkdtemp(prefix="intentcast-disk-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def _fill(disk: Path) -> Path:
    """Fill the disk to the last byte; return the filler (delete it to make room again)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_refuses_to_start_and_keeps_the_store(cluster, small_disk):
    home = small_disk / "person"
    init(home, Config(role="person"), PASSPHRASE, fast_kdf=True)
    _fill(small_disk)
    before = _files(home)
    for args in (["daemon"], ["audit"]):
        line = _refused(_run(cluster, home, *args))
        assert "no space left" in line or "disk I/O error" in line, (args, line)
    assert _files(home) == before
    line = _refused(_run(cluster, small_disk / "new", "init", "--insecure-fast-kdf"))
    assert "no space left" in line
    assert not (small_disk / "new").exists()  # a failed init leaves nothing half-made


def test_a_disk_that_fills_under_a_running_daemon(cluster, small_disk):
    home = small_disk / "person"
    init(home, Config(role="person"), PASSPHRASE, fast_kdf=True)
    proc = cluster.spawn("daemon", [*CLI, "--home", str(home), "daemon"])
    proc.expect("ready")
    assert _run(cluster, home, "profile", "set", "email", "ada@example.org").returncode == 0
    filler = _fill(small_disk)
    for args in (["profile", "set", "email", "bob@example.org"],
                 ["intent", "post", "outdoor.camping.tents", "a tent", "--max-price", "100",
                  "--currency", "EUR"]):
        line = _refused(_run(cluster, home, *args))
        assert "the daemon could not use its store: no space left on the device" in line
    status = _run(cluster, home, "status", "--json")
    assert status.returncode == 0, status.stderr  # still up and answering
    filler.unlink()
    shown = _run(cluster, home, "profile", "get", "email")
    assert "ada@example.org" in shown.stdout  # what was stored before stayed as it was
    assert _run(cluster, home, "intent", "post", "outdoor.camping.tents", "a tent",
                "--max-price", "100", "--currency", "EUR").returncode == 0  # room again: works
    assert proc.stop() == 0
    assert "Traceback" not in proc.log.read_text()


def test_a_file_size_limit(cluster, person):
    # Where no tmpfs can be mounted: RLIMIT_FSIZE makes every write past the limit fail
    # (EFBIG) in the child, as a full disk would.
    before = _files(person)

    def no_growth() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))

    line = _refused(_run(cluster, person, "daemon", preexec=no_growth))
    assert "file too large" in line
    assert _files(person) == before
    fresh = cluster.root / "fresh"
    assert _refused(_run(cluster, fresh, "init", "--insecure-fast-kdf", preexec=no_growth))
    assert not fresh.exists()
