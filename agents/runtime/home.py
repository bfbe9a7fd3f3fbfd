"""An agent's home directory: where its store, config, token and API address live.

    $INTENTCAST_HOME, or --home, or ~/.intentcast
      config.toml    network and API settings (written by `init`, edited by people)
      store.sqlite   keys (sealed), intents, envelopes, agreements, audit log
      api-token      the local API's bearer token, readable by the owner only
      api.json       where the running daemon listens (written at start, removed at stop)
      lock           held by the one process running on this home (runtime/lock.py)

A person's daemon and a vendor's responder each have their own home. The home is 0700 and
everything in it 0600: `init` makes it so, and every agent that opens it makes it so again
(`make_private`), saying what it tightened.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_HOME = Path("~/.intentcast")
PASSPHRASE_ENV = "INTENTCAST_PASSPHRASE"
"""Where the CLI, and only the CLI, looks for the passphrase before asking for it."""
_MULTIADDR = re.compile(r"^/\S{1,255}$")
PRIVATE_FILES = ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "api-token",
                 "config.toml", "api.json", "lock")
"""What `make_private` keeps 0600 (SQLite gives -wal and -shm the mode of the store)."""


LOG_LEVELS = ("debug", "info", "warning", "error")

DEFAULT_PORTS = {"person": 4710, "vendor": 4711, "assistant": 4712}
"""The fixed libp2p port of each role (like Kubo's 4001), so a restart keeps the address
peers know and one machine can run one agent of each role with the defaults."""
REACHABILITY = ("auto", "public", "private")


def default_listen(role: str) -> str:
    return f"/ip4/0.0.0.0/tcp/{DEFAULT_PORTS.get(role, 4710)}"


@dataclass(frozen=True)
class NetOptions:
    """What the command line says about the network, on top of config.toml's [network]."""

    listen: str | None = None
    bootstrap: tuple[str, ...] = ()
    mdns: bool = False
    relay_service: bool = False
    relays: tuple[str, ...] = ()
    reachability: str | None = None


class HomeError(Exception):
    """The home directory, its config or what the machine offers it (a port, disk space,
    permissions) cannot be used; the message says how to fix it."""


def describe(exc: OSError) -> str:
    """An OSError as people read it: `/x/config.toml: is a directory`, without errno numbers."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
    reason = reason[:1].lower() + reason[1:]
    return f"{exc.filename}: {reason}" if exc.filename else reason


def check_home(home: Path) -> None:
    """A clear line for a home that is not a directory we can enter."""
    try:
        mode = home.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise HomeError(f"cannot use {home}: {describe(exc)}") from exc
    if not stat.S_ISDIR(mode):
        raise HomeError(f"{home} is a file, not a directory: pass another --home")
    if not os.access(home, os.R_OK | os.X_OK):
        raise HomeError(f"{home}: permission denied (it must be yours to read and enter)")


def resolve(home: str | Path | None) -> Path:
    """--home wins, then $INTENTCAST_HOME, then ~/.intentcast."""
    chosen = home or os.environ.get("INTENTCAST_HOME") or DEFAULT_HOME
    return Path(chosen).expanduser()


@dataclass(frozen=True)
class Config:
    role: str = "person"
    listen: str = ""
    """A libp2p multiaddr; empty means the role's default port on every interface."""
    bootstrap: tuple[str, ...] = ()
    mdns: bool = False
    relay_service: bool = False
    relays: tuple[str, ...] = ()
    reachability: str = "auto"
    api_host: str = "127.0.0.1"
    api_port: int = 0
    catalog: str | None = None
    log_level: str = "info"
    """What the agent logs on stderr: one line per event that matters at `info`."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def listening(self) -> str:
        return self.listen or default_listen(self.role)

    def to_toml(self) -> str:
        lines = [
            "# intentcast agent settings",
            f'role = "{self.role}"',
            "",
            "[network]",
            f'listen = "{self.listening}"',
            "bootstrap = [" + ", ".join(f'"{a}"' for a in self.bootstrap) + "]",
            f"mdns = {'true' if self.mdns else 'false'}",
            "# serve as a circuit relay for peers behind NAT",
            f"relay_service = {'true' if self.relay_service else 'false'}",
            "# relays to hold a slot on when behind NAT (else: connected relays, the DHT's)",
            "relays = [" + ", ".join(f'"{a}"' for a in self.relays) + "]",
            '# "auto" (a peer that sees us at a foreign address means NAT), "public", "private"',
            f'reachability = "{self.reachability}"',
        ]
        if self.role == "person":
            lines += ["", "[api]", f'host = "{self.api_host}"', f"port = {self.api_port}"]
        if self.catalog is not None:
            lines += ["", "[vendor]", f'catalog = "{self.catalog}"']
        lines += ["", "[log]", "# debug, info (a line per event that matters), warning or error",
                  f'level = "{self.log_level}"']
        return "\n".join(lines) + "\n"


def load_config(home: Path) -> Config:
    check_home(home)
    path = home / "config.toml"
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise HomeError(f"{home} is not initialised: run `intentcast init` first") from exc
    except IsADirectoryError as exc:
        raise HomeError(f"{path} is a directory; it must be the config file `init` wrote") from exc
    except OSError as exc:
        raise HomeError(f"cannot read the config: {describe(exc)}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise HomeError(f"{path}: {exc}") from exc
    return parse_config(raw, where=str(path))


def parse_config(raw: dict[str, Any], *, where: str) -> Config:
    role = raw.get("role", "person")
    if role not in ("person", "vendor", "assistant"):
        raise HomeError(f"{where} role: 'person', 'vendor' or 'assistant'")
    network = raw.get("network", {})
    api = raw.get("api", {})
    vendor = raw.get("vendor", {})
    log_table = raw.get("log", {})
    for name, table in (("network", network), ("api", api), ("vendor", vendor),
                        ("log", log_table)):
        if not isinstance(table, dict):
            raise HomeError(f"{where} [{name}]: must be a table")
    listen = network.get("listen", default_listen(role))
    if not isinstance(listen, str) or not _MULTIADDR.match(listen):
        raise HomeError(f"{where} network.listen: a multiaddr like /ip4/0.0.0.0/tcp/4710")
    peers: dict[str, tuple[str, ...]] = {}
    for key in ("bootstrap", "relays"):
        found = network.get(key, [])
        if not isinstance(found, list) or len(found) > 64 or not all(
            isinstance(a, str) and _MULTIADDR.match(a) and "/p2p/" in a for a in found
        ):
            raise HomeError(f"{where} network.{key}: multiaddrs ending in /p2p/<peer id>")
        peers[key] = tuple(found)
    flags: dict[str, bool] = {}
    for key in ("mdns", "relay_service"):
        flags[key] = network.get(key, False)
        if not isinstance(flags[key], bool):
            raise HomeError(f"{where} network.{key}: true or false")
    reachability = network.get("reachability", "auto")
    if reachability not in REACHABILITY:
        raise HomeError(f"{where} network.reachability: " + ", ".join(REACHABILITY))
    host = api.get("host", "127.0.0.1")
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise HomeError(f"{where} api.host: the local API listens on loopback only")
    port = api.get("port", 0)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise HomeError(f"{where} api.port: 0 (any free port) to 65535")
    catalog = vendor.get("catalog")
    if catalog is not None and not isinstance(catalog, str):
        raise HomeError(f"{where} vendor.catalog: a path to a catalog TOML file")
    level = log_table.get("level", "info")
    if level not in LOG_LEVELS:
        raise HomeError(f"{where} log.level: one of {', '.join(LOG_LEVELS)}")
    return Config(role=role, listen=listen, bootstrap=peers["bootstrap"], mdns=flags["mdns"],
                  relay_service=flags["relay_service"], relays=peers["relays"],
                  reachability=reachability, api_host=host, api_port=port, catalog=catalog,
                  log_level=level)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, atomically (no window where it is open); on a
    failure (a full disk) the old file, if any, is left as it was."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a leftover .tmp keeps its old mode through O_CREAT
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def make_private(home: Path) -> list[tuple[Path, int]]:
    """Take group and other permissions off the home and its files (0700, 0600); return the
    ones that had them, with the mode they had."""
    loosened = []
    for path in (home, *(home / name for name in PRIVATE_FILES)):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise HomeError(f"cannot check the permissions of {describe(exc)}") from exc
        if mode & 0o077:
            try:
                os.chmod(path, mode & 0o700)
            except OSError as exc:
                raise HomeError(f"{path} is open to others (mode {mode:o}) and cannot be "
                                f"made private: {describe(exc)}") from exc
            loosened.append((path, mode))
    return loosened


def readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError:
        return False


def new_token(home: Path) -> str:
    token = secrets.token_urlsafe(32)
    write_private(home / "api-token", token.encode("ascii"))
    return token


def read_token(home: Path) -> str:
    path = home / "api-token"
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise HomeError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
        return path.read_text("ascii").strip()
    except FileNotFoundError as exc:
        raise HomeError(f"{home} has no API token: is this an initialised home?") from exc


def write_api_address(home: Path, host: str, port: int, pid: int) -> None:
    write_private(home / "api.json", json.dumps({"host": host, "port": port, "pid": pid}).encode())


def read_api_address(home: Path) -> tuple[str, int]:
    try:
        raw = json.loads((home / "api.json").read_text("utf-8"))
        return str(raw["host"]), int(raw["port"])
    except FileNotFoundError as exc:
        raise HomeError(f"no daemon is running for {home}: start `intentcast daemon`") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise HomeError(f"{home}/api.json is damaged; restart the daemon") from exc
